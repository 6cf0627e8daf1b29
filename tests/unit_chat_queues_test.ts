/**
 * Unit tests for `lib/loop/chat_queues.ts`: which waiting message may start next, on a clock moved
 * by hand.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ChatQueues } from "../lib/loop/chat_queues.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";

function entry(updateId: number, chatId: number, patch: Partial<JournalEntry> = {}): JournalEntry {
  return {
    updateId,
    chatId,
    update: {},
    stage: "received",
    dispatches: 0,
    receivedAt: "",
    ...patch,
  };
}

function setup() {
  const clock = { now: 1000 };
  const queues = new ChatQueues({ ackWaitMs: 2000, now: () => clock.now });
  return { clock, queues };
}

Deno.test("ChatQueues: the oldest head of an idle chat starts first; a chat runs one at a time", () => {
  const { queues } = setup();
  queues.enqueue(entry(5, 1));
  queues.enqueue(entry(3, 1)); // delivered late: still before 5 in its chat
  queues.enqueue(entry(4, 2));
  assert.deepEqual([queues.size, queues.waiting], [3, 3]);
  const first = queues.takeNext()!;
  assert.equal(first.updateId, 3);
  queues.running(first);
  assert.equal(queues.takeNext()?.updateId, 4, "chat 1 is busy: chat 2's head goes");
  assert.equal(queues.takeNext(), undefined, "5 waits for 3 to end");
  assert.equal(queues.has(3), true, "running");
  queues.ended(1, 3);
  assert.equal(queues.has(3), false);
  assert.equal(queues.takeNext()?.updateId, 5);
});

Deno.test("ChatQueues: a message starts once its 👀 is reported, or ackWaitMs after it was asked for", () => {
  const { clock, queues } = setup();
  queues.enqueue(entry(1, 1));
  queues.awaitAck(1);
  assert.equal(queues.takeNext(), undefined);
  assert.equal(queues.nextReadyIn(), 2000);
  clock.now += 1999;
  assert.equal(queues.takeNext(), undefined);
  clock.now += 1;
  assert.equal(queues.takeNext()?.updateId, 1, "late: it starts anyway");

  queues.enqueue(entry(2, 2));
  queues.awaitAck(2);
  assert.equal(queues.acked(2), true);
  assert.equal(queues.acked(2), false, "told once");
  assert.equal(queues.takeNext()?.updateId, 2);
});

Deno.test("ChatQueues: a held-back head holds its chat, not the others", () => {
  const { clock, queues } = setup();
  queues.enqueue(entry(1, 1));
  queues.enqueue(entry(2, 1));
  queues.enqueue(entry(3, 2));
  queues.holdBack(1, 500);
  assert.equal(queues.takeNext()?.updateId, 3);
  assert.equal(queues.takeNext(), undefined, "2 stays behind 1: order in a chat is kept");
  assert.equal(queues.nextReadyIn(), 500);
  clock.now += 500;
  assert.equal(queues.takeNext()?.updateId, 1);
});

Deno.test("ChatQueues.remove() takes out a waiting message only, never an answered one", () => {
  const { queues } = setup();
  queues.enqueue(entry(1, 1));
  queues.enqueue(entry(2, 1, { stage: "answered" }));
  assert.equal(queues.remove(2), undefined, "answered: only sending is left");
  assert.equal(queues.remove(1)?.updateId, 1);
  assert.equal(queues.remove(1), undefined, "gone");
  assert.equal(queues.takeNext()?.updateId, 2);
  assert.equal(queues.size, 0);
});
