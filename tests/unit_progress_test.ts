/**
 * Unit tests for `lib/handler/progress.ts`: the throttle (notes coalesced, at most one call per gap), the
 * refresh, the group's progress message and its removal. Where the notes come from (the progress
 * file, the brain's stream) is `brain_watch.ts`, tested in `unit_brain_watch_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Api } from "grammy/web";
import { Progress } from "../lib/handler/progress.ts";
import { getLog } from "../lib/shared/log.ts";
import { trackTimers, waitUntil } from "./_helpers.ts";

const IDS = { updateId: 7, chatId: 42, messageId: 3 };

/** A Bot API that records each call's method, time and text. */
function recordingApi() {
  const calls: { method: string; at: number; text?: string; params?: unknown }[] = [];
  const record = (method: string, text?: string, params?: unknown) =>
    calls.push({ method, at: performance.now(), text, params });
  const api = {
    sendMessageDraft: (_chat: number, _draft: number, text: string, other: unknown) => {
      record("sendMessageDraft", text, other);
      return Promise.resolve(true);
    },
    sendMessage: (_chat: number, text: string, other: unknown) => {
      record("sendMessage", text, other);
      return Promise.resolve({ message_id: 99 });
    },
    editMessageText: (_chat: number, _id: number, text: string, other: unknown) => {
      record("editMessageText", text, other);
      return Promise.resolve(true);
    },
    deleteMessage: (_chat: number, id: number) => {
      record("deleteMessage", String(id));
      return Promise.resolve(true);
    },
  };
  return { api: api as unknown as Api, calls };
}

Deno.test("Progress: notes that come together are coalesced, and calls keep the gap", async () => {
  const { api, calls } = recordingApi();
  const progress = new Progress({
    api,
    ids: IDS,
    privateChat: true,
    log: getLog("test"),
    minGapMs: 300,
    refreshMs: 60_000,
    firstShowMs: 60_000,
  });
  progress.start();
  for (let i = 1; i <= 5; i++) progress.note(`note ${i}`);
  await waitUntil(() => calls.length >= 1 ? true : undefined, { description: "the first call" });
  progress.note("note 6");
  progress.note("note 7");
  await waitUntil(() => calls.length >= 2 ? true : undefined, { description: "the second call" });
  await progress.stop();
  assert.equal(calls.length, 2, "seven notes, two calls");
  assert.ok(calls[1].at - calls[0].at >= 290, `gap ${calls[1].at - calls[0].at} ms`);
  assert.match(calls[0].text!, /^✍ Working for \d+ s\nnote 2\nnote 3\nnote 4\nnote 5$/);
  assert.match(calls[1].text!, /note 7$/);
  assert.deepEqual(calls[0].params, { can_stop: true });
});

Deno.test("Progress: shown after the first delay without notes, refreshed, and stops calling when stopped", async () => {
  using timers = trackTimers();
  const { api, calls } = recordingApi();
  const progress = new Progress({
    api,
    ids: IDS,
    privateChat: true,
    log: getLog("test"),
    minGapMs: 50,
    refreshMs: 150,
    firstShowMs: 100,
  });
  progress.start();
  progress.tool("🔧 Read a.ts");
  await waitUntil(() => calls.length >= 3 ? true : undefined, { description: "refreshes" });
  await progress.stop();
  const made = calls.length;
  assert.match(calls[0].text!, /· 1 tool call\n🔧 Read a\.ts$/);
  // Nothing is left that could make a call later.
  assert.equal(timers.pending, 0, "no timer left after stop()");
  assert.equal(calls.length, made, "no call after stop()");
});

Deno.test("Progress in a group: one message with a Stop button, edited with it, deleted at the end", async () => {
  const { api, calls } = recordingApi();
  const progress = new Progress({
    api,
    ids: { ...IDS, chatId: -5 },
    privateChat: false,
    log: getLog("test"),
    minGapMs: 20,
    refreshMs: 60_000,
    firstShowMs: 60_000,
  });
  progress.start();
  progress.note("one");
  await waitUntil(() => calls.length >= 1 ? true : undefined, { description: "the message" });
  progress.note("two");
  await waitUntil(() => calls.length >= 2 ? true : undefined, { description: "the edit" });
  await progress.stop();
  assert.deepEqual(calls.map((c) => c.method), ["sendMessage", "editMessageText", "deleteMessage"]);
  const keyboard = { inline_keyboard: [[{ text: "🛑 Stop", callback_data: "stop:7" }]] };
  assert.deepEqual((calls[0].params as { reply_markup: unknown }).reply_markup, keyboard);
  assert.deepEqual((calls[1].params as { reply_markup: unknown }).reply_markup, keyboard);
  assert.equal(calls[2].text, "99");
});
