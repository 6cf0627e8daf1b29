/**
 * Unit tests for `lib/shared/claude_login.ts`: the Claude CLI's "Please run /login" replaced by
 * what to run on the box, in the ⚠️ of a failed brain (`failureText`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { CLAUDE_LOGIN_HINT, withLoginHint } from "../lib/shared/claude_login.ts";
import { failureText } from "../lib/handler/texts.ts";

Deno.test("withLoginHint() replaces the CLI's /login advice, and leaves other text alone", () => {
  assert.equal(
    withLoginHint("Not logged in · Please run /login"),
    `Not logged in: ${CLAUDE_LOGIN_HINT}.`,
  );
  assert.equal(
    withLoginHint("line before\nNot logged in · Please run /login\n"),
    `line before\nNot logged in: ${CLAUDE_LOGIN_HINT}.\n`,
  );
  assert.equal(withLoginHint("Invalid API key"), "Invalid API key");
});

Deno.test("failureText() for a brain that isn't logged in says what to run on the box, never /login", () => {
  const text = failureText(
    { reason: "exited with status 1", detail: "Not logged in · Please run /login" },
    { attempts: 1, privateChat: true },
  );
  assert.match(text, /^⚠️ The brain failed after 1 attempt: exited with status 1\./);
  assert.match(text, /claude setup-token/);
  assert.match(text, /CLAUDE_CODE_OAUTH_TOKEN=<the token> in the bot's env file/);
  assert.doesNotMatch(text, /\/login/);
});
