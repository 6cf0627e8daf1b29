/**
 * Unit tests for `lib/handler/status.ts`: where a chat stands (`chatStanding()`) and the `/status`
 * text, from journal entries made by hand.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import { chatStanding, statusText } from "../lib/handler/status.ts";
import type { BrainReport } from "../lib/shared/brain_report.ts";

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

Deno.test("chatStanding() and statusText() tell the running message and those behind it", () => {
  const entries = [
    entry(1, { stage: "brain", attempt: 2, brainStartedAt: "2025-01-01T00:00:00.000Z" }),
    entry(2),
    entry(3, {}, "/status"),
    entry(4, { chatId: 8 }),
    entry(5),
    entry(6, { stage: "replied" }),
    entry(7, { update: { update_id: 7, edited_message: { message_id: 2, text: "x" } } }),
  ];
  const standing = chatStanding(entries, 7, { isCancelled: (id) => id === 5 });
  assert.equal(standing.running?.updateId, 1);
  assert.equal(
    standing.waiting,
    1,
    "commands, edits, other chats, withdrawn and replied not counted",
  );
  const all = chatStanding(entries, undefined, { isCancelled: (id) => id === 5 });
  assert.equal(all.waiting, 2, "in all chats: this one's and chat 8's");
  const now = Date.parse("2025-01-01T00:02:05.000Z");
  const text = statusText({
    beatAt: new Date(now - 1500),
    poll: { startedAt: "2024-12-31T23:00:00.000Z", live: 3, cap: 4, updateIds: [1, 2, 3] },
    standing,
    waitingInAll: all.waiting,
    maxAttempts: 3,
    now,
  });
  assert.equal(
    text,
    "Up 1 h 2 min; poll loop heartbeat 1.5 s ago; 3 of 4 brain slots busy.\n" +
      "Working on message 1 (“m1”) for 2 min 5 s, attempt 2 of 3.\n" +
      "1 message waits behind it.\n" +
      "2 messages wait in all chats.",
  );
  assert.match(
    statusText({ standing: { waiting: 0, delivering: 0 }, maxAttempts: 3, now }),
    /^⚠️ No heartbeat from the poll loop\.\nNothing is running in this chat\.$/,
  );
});

Deno.test("chatStanding() counts a message as running from its handler's start", async (t) => {
  for (const stage of ["started", "acked", "brain"] as const) {
    await t.step(stage, () => {
      const standing = chatStanding([entry(1, { stage }), entry(2)], 7);
      assert.equal(standing.running?.updateId, 1);
      assert.equal(standing.waiting, 1);
    });
  }
  await t.step("received: it waits", () => {
    const standing = chatStanding([entry(1), entry(2)], 7);
    assert.equal(standing.running, undefined);
    assert.equal(standing.waiting, 2);
  });
});

Deno.test("statusText() tells a message that has started but not reached its brain", () => {
  const now = Date.parse("2025-01-01T00:02:05.000Z");
  const text = statusText({
    beatAt: new Date(now),
    standing: {
      running: entry(4, { stage: "started" }, "a long message, longer than forty characters"),
      waiting: 0,
      delivering: 0,
    },
    maxAttempts: 3,
    now,
  });
  assert.equal(
    text,
    "Poll loop heartbeat 0.0 s ago.\n" +
      "Starting message 4 (“a long message, longer than forty chara…”): fetching its input.\n" +
      "0 messages wait behind it.",
  );
});

Deno.test("statusText() says how many wait in all chats only when others wait too", async (t) => {
  const now = Date.parse("2025-01-01T00:02:05.000Z");
  const lines = (waiting: number, waitingInAll?: number) =>
    statusText({
      beatAt: new Date(now),
      standing: { waiting, delivering: 0 },
      waitingInAll,
      maxAttempts: 3,
      now,
    })
      .split("\n").slice(1);
  await t.step("none here, three elsewhere", () => {
    assert.deepEqual(lines(0, 3), [
      "Nothing is running in this chat.",
      "3 messages wait in all chats.",
    ]);
  });
  await t.step("two here, two in all", () => {
    assert.deepEqual(lines(2, 2), ["Nothing is running in this chat.", "2 messages wait."]);
  });
  await t.step("one here, none given for all", () => {
    assert.deepEqual(lines(1), ["Nothing is running in this chat.", "1 message waits."]);
  });
});

Deno.test("statusText() tells when the brain checked at start can't work (⚠️) or couldn't be told", async (t) => {
  const startedAt = "1970-01-01T00:00:00.000Z";
  const poll = { startedAt, live: 0, cap: 4, updateIds: [] };
  const lines = (brain?: BrainReport) =>
    statusText({
      beatAt: new Date(0),
      poll,
      brain,
      standing: chatStanding([], 7),
      maxAttempts: 3,
      now: 1000,
    }).split("\n");
  await t.step("not checked yet: nothing said", () => {
    assert.ok(!lines().some((l) => l.includes("Brain")));
  });
  await t.step("fine: nothing said", () => {
    const fine = lines({ startedAt, ok: true, note: "/x/claude is logged in (oauth_token)" });
    assert.ok(!fine.some((l) => l.includes("Brain")));
  });
  await t.step("not working", () => {
    assert.equal(
      lines({ startedAt, ok: false, note: "/x/claude is not logged in: do this" })[1],
      "⚠️ Brain: /x/claude is not logged in: do this.",
    );
  });
  await t.step("unknown", () => {
    assert.equal(lines({ startedAt, note: "could not tell" })[1], "Brain: could not tell.");
  });
  await t.step("an earlier run's finding: not said", () => {
    const old = { startedAt: "1969-12-31T00:00:00.000Z", ok: false, note: "old news" };
    assert.ok(!lines(old).some((l) => l.includes("old news")));
  });
});
