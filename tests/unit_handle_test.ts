/**
 * Unit tests for the pure parts of `lib/handler/handle.ts`: the brain's environment and the failure reply.
 *
 * @module
 */

import assert from "node:assert/strict";
import { childEnv as brainEnv } from "../lib/shared/child_env.ts";
import { failureText, transcriptionFailedText } from "../lib/handler/texts.ts";

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

Deno.test("failureText() starts with ⚠️ and says why, with the last output in a private chat", async (t) => {
  const failure = { reason: "exited with status 2", detail: "Error: quota\nbye" };
  await t.step("with a detail, in a private chat", () => {
    const text = failureText(failure, { attempts: 3, privateChat: true });
    assert.ok(text.startsWith("⚠️"));
    assert.match(text, /3 attempts/);
    assert.match(text, /exited with status 2/);
    assert.ok(text.endsWith("Error: quota\nbye"));
  });
  await t.step("with a detail, in a group: the output stays in the log", () => {
    const text = failureText(failure, { attempts: 3, privateChat: false });
    assert.equal(
      text,
      "⚠️ The brain failed after 3 attempts: exited with status 2. Its last output is in the bot's log.",
    );
  });
  await t.step("without a detail", () => {
    const text = failureText({ reason: "timed out after 300 s", detail: "" }, { attempts: 1 });
    assert.equal(text, "⚠️ The brain failed after 1 attempt: timed out after 300 s.");
  });
});

Deno.test("transcriptionFailedText() shows the transcriber's output in a private chat only", () => {
  const failure = { reason: "the transcriber exited with status 1", detail: "model missing" };
  assert.equal(
    transcriptionFailedText(failure, { privateChat: true }),
    "⚠️ I could not transcribe this voice note: the transcriber exited with status 1: model missing.",
  );
  assert.equal(
    transcriptionFailedText(failure, { privateChat: false }),
    "⚠️ I could not transcribe this voice note: the transcriber exited with status 1.",
  );
});
