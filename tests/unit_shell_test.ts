/**
 * Unit tests for `lib/shared/shell.ts`: a script's arguments, its bare environment, its output.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runShell } from "../lib/shared/shell.ts";

Deno.test("runShell() gives the script its arguments from $1, a bare environment and empty stdin", async () => {
  Deno.env.set("COORD_SHELL_TEST_SECRET", "not for the shell");
  try {
    const output = await runShell(
      'printf "%s|%s|%s|%s\\n" "$1" "$2" "${COORD_SHELL_TEST_SECRET:-none}" "$LC_ALL"; cat; echo oops >&2; exit 3',
      { args: ["one arg", "-two"] },
    );
    assert.deepEqual(output, { code: 3, stdout: "one arg|-two|none|C\n", stderr: "oops\n" });
  } finally {
    Deno.env.delete("COORD_SHELL_TEST_SECRET");
  }
});
