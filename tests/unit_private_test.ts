/**
 * Unit tests for `lib/shared/private.ts`: the umask the poll process keeps and the one it hands
 * down, private folders, and reading a umask back from the environment. Each test restores the
 * process's umask (`umaskKept`).
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  keepPrivate,
  parseUmask,
  PERSON_UMASK_ENV,
  PRIVATE_UMASK,
  privateFolder,
} from "../lib/shared/private.ts";
import { modeOf, tempDir, umaskKept } from "./_helpers.ts";

Deno.test("keepPrivate() sets the umask to 077 and hands the person's own down in the environment", async (t) => {
  for (const [person, text] of [[0o022, "0022"], [0o002, "0002"], [0o027, "0027"]] as const) {
    await t.step(text, async () => {
      using _ = umaskKept(person);
      await using dir = await tempDir();
      assert.equal(keepPrivate(), person, "returns the person's umask");
      assert.equal(Deno.env.get(PERSON_UMASK_ENV), text);
      assert.equal(parseUmask(Deno.env.get(PERSON_UMASK_ENV)), person, "readable back");
      assert.equal(Deno.umask(PRIVATE_UMASK), 0o077, "this process's umask");
      Deno.writeTextFileSync(`${dir.path}/file`, "x");
      Deno.mkdirSync(`${dir.path}/folder`);
      assert.equal(modeOf(`${dir.path}/file`), 0o600, "a file made from now on");
      assert.equal(modeOf(`${dir.path}/folder`), 0o700, "a folder made from now on");
    });
  }
});

Deno.test("privateFolder() makes a folder 0700, with its parents, even one that was wider", async (t) => {
  using _ = umaskKept(0o022);
  await using dir = await tempDir();
  await t.step("missing, with its parents", () => {
    privateFolder(`${dir.path}/a/b/state`);
    assert.equal(modeOf(`${dir.path}/a/b/state`), 0o700);
  });
  await t.step("made 0755 by hand", () => {
    Deno.mkdirSync(`${dir.path}/wide`, { mode: 0o755 });
    assert.equal(modeOf(`${dir.path}/wide`), 0o755);
    privateFolder(`${dir.path}/wide`);
    assert.equal(modeOf(`${dir.path}/wide`), 0o700);
  });
  await t.step("a file in its place: it throws", () => {
    Deno.writeTextFileSync(`${dir.path}/file`, "");
    assert.throws(() => privateFolder(`${dir.path}/file`));
    assert.throws(() => privateFolder(`${dir.path}/file/state`));
  });
});

Deno.test("parseUmask() reads three octal digits, with or without a leading 0", async (t) => {
  const good: [string, number][] = [["0022", 0o022], ["077", 0o077], ["0000", 0], ["0777", 0o777]];
  for (const [text, umask] of good) {
    await t.step(text, () => assert.equal(parseUmask(text), umask));
  }
  for (const text of ["0o22", "0088", "00022", "1022", "22", "", " 022", "022\n", "-022"]) {
    await t.step(JSON.stringify(text), () => assert.equal(parseUmask(text), undefined));
  }
});
