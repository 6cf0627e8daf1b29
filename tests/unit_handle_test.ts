/**
 * Unit tests for the pure parts of `lib/handler/handle.ts`: the brain's environment and the failure reply.
 *
 * @module
 */

import assert from "node:assert/strict";
import { childEnv as brainEnv } from "../lib/shared/child_env.ts";
import { failureText } from "../lib/handler/texts.ts";

Deno.test("brainEnv() removes both token variables and adds the message's ids", () => {
  const env = {
    PATH: "/usr/bin",
    HOME: "/home/coord",
    TELEGRAM_BOT_TOKEN: "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    TELEGRAM_BOT_TOKEN_FILE: "/run/secrets/token",
  };
  const out = brainEnv(env, { updateId: 900, chatId: -100123, messageId: 42 });
  assert.deepEqual(out, {
    PATH: "/usr/bin",
    HOME: "/home/coord",
    COORD_CHAT_ID: "-100123",
    COORD_MESSAGE_ID: "42",
    COORD_UPDATE_ID: "900",
  });
  assert.equal(env.TELEGRAM_BOT_TOKEN_FILE, "/run/secrets/token", "the input is not changed");
});

Deno.test("failureText() starts with ⚠️ and says why, with the last output", async (t) => {
  await t.step("with a detail", () => {
    const text = failureText({ reason: "exited with status 2", detail: "Error: quota\nbye" }, 3);
    assert.ok(text.startsWith("⚠️"));
    assert.match(text, /3 attempts/);
    assert.match(text, /exited with status 2/);
    assert.ok(text.endsWith("Error: quota\nbye"));
  });

  await t.step("without a detail", () => {
    const text = failureText({ reason: "timed out after 300 s", detail: "" }, 1);
    assert.equal(text, "⚠️ The brain failed after 1 attempt: timed out after 300 s.");
  });
});
