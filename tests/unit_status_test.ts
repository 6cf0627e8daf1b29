/**
 * Unit tests for `lib/handler/status.ts`: the `/status` text, from a `StatusView` made by hand (as
 * the poll process sends it). Which messages the view counts is `viewOf()`'s, in
 * `unit_held_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import type { StatusView } from "../lib/shared/line.ts";
import { statusText } from "../lib/handler/status.ts";

const NOW = Date.parse("2025-01-01T00:02:05.000Z");

function entry(updateId: number, patch: Partial<JournalEntry> = {}, text = `m${updateId}`) {
  return {
    updateId,
    chatId: 7,
    update: { update_id: updateId, message: { message_id: updateId, text } },
    stage: "received",
    dispatches: 0,
    receivedAt: "2025-01-01T00:00:00.000Z",
    ...patch,
  } as JournalEntry;
}

/** A view of an idle bot up for 1 h 2 min, with `patch` on top. */
function view(patch: Partial<StatusView> = {}): StatusView {
  return {
    startedAt: "2024-12-31T23:00:00.000Z",
    live: 0,
    cap: 4,
    waiting: 0,
    waitingInAll: 0,
    delivering: 0,
    ...patch,
  };
}

function text(patch: Partial<StatusView>, costs?: { chat: number; total: number }) {
  return statusText({ view: view(patch), costs, maxAttempts: 3, now: NOW });
}

Deno.test("statusText() tells the bot, the running message, those behind it and those in all chats", () => {
  const running = entry(1, {
    stage: "brain",
    attempt: 2,
    brainStartedAt: "2025-01-01T00:00:00.000Z",
  });
  assert.equal(
    text({ live: 3, running, waiting: 1, waitingInAll: 2 }),
    "Up 1 h 2 min; 3 of 4 brain slots busy.\n" +
      "Working on message 1 (“m1”) for 2 min 5 s, attempt 2 of 3.\n" +
      "1 message waits behind it.\n" +
      "2 messages wait in all chats.",
  );
  assert.equal(
    text({}),
    "Up 1 h 2 min; 0 of 4 brain slots busy.\nNothing is running in this chat.",
  );
});

Deno.test("statusText() tells a message that has started but not reached its brain", () => {
  const running = entry(4, { stage: "started" }, "a long message, longer than forty characters");
  assert.deepEqual(text({ running }).split("\n").slice(1), [
    "Starting message 4 (“a long message, longer than forty chara…”): fetching its input.",
    "0 messages wait behind it.",
  ]);
});

Deno.test("statusText() says how many wait in all chats only when others wait too", async (t) => {
  const lines = (waiting: number, waitingInAll: number) =>
    text({ waiting, waitingInAll }).split("\n").slice(1);
  await t.step("none here, three elsewhere", () => {
    assert.deepEqual(lines(0, 3), [
      "Nothing is running in this chat.",
      "3 messages wait in all chats.",
    ]);
  });
  await t.step("two here, two in all", () => {
    assert.deepEqual(lines(2, 2), ["Nothing is running in this chat.", "2 messages wait."]);
  });
  await t.step("one here, one in all", () => {
    assert.deepEqual(lines(1, 1), ["Nothing is running in this chat.", "1 message waits."]);
  });
});

Deno.test("statusText() puts trouble first: a state folder that can't be written, then Telegram", () => {
  const lines = text({
    diskFailing: { since: "2025-01-01T00:01:05.000Z", error: "PermissionDenied: read-only" },
    telegramFailing: "502 Bad Gateway",
  }).split("\n");
  assert.deepEqual(lines.slice(0, 3), [
    "⚠️ The state folder can't be written for 1 min (PermissionDenied: read-only): new messages are seen but wait until it can.",
    "⚠️ Telegram can't be reached right now (502 Bad Gateway); answers wait.",
    "Up 1 h 2 min; 0 of 4 brain slots busy.",
  ]);
});

Deno.test("statusText() tells a parked message, answers held up, and today's costs", () => {
  const parked = entry(5, { parkedUntil: "2025-01-01T02:00:00.000Z" });
  assert.deepEqual(
    text({ parked, waiting: 1, waitingInAll: 1, delivering: 2 }, { chat: 0.5, total: 1.25 })
      .split("\n").slice(1),
    [
      "Nothing is running in this chat.",
      "1 message waits.",
      "Message 5 is parked until 02:00 UTC (in 1 h 57 min): its brain asked to be run later.",
      "Today's brain cost: $0.5000 in this chat, $1.25 in all.",
      "2 answers waiting to be delivered (Telegram or the network is failing; it keeps trying).",
    ],
  );
});
