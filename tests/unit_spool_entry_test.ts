/**
 * Unit tests for a job from the box as the scheduler holds it: the entry it becomes
 * (`lib/loop/spool_entry.ts`), its place in the chat's queues (`chat_queues.ts`: an ask in its
 * chat's order, a send in a lane of its own), and what `held.ts` makes of it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ChatQueues } from "../lib/loop/chat_queues.ts";
import { admit, boxView, heldFor } from "../lib/loop/held.ts";
import { entryOfJob, promptShown, promptToShow } from "../lib/loop/spool_entry.ts";
import { type JournalEntry, patched, SPOOL_ID_BASE } from "../lib/shared/journal_entry.ts";
import type { SpoolJob } from "../lib/shared/spool_job.ts";
import { recordingLog } from "./_helpers.ts";

const ID = SPOOL_ID_BASE + 7;
const NOW = 1_800_000_000_000;

function job(kind: SpoolJob["kind"], text: string, chatId = 1001): SpoolJob {
  return { kind, chatId, text, files: [], createdAt: "" };
}

function taken(
  kind: SpoolJob["kind"],
  text: string,
  options: { id?: number; after?: number } = {},
) {
  const { id = ID, after = 41 } = options;
  return entryOfJob(job(kind, text), { updateId: id, lastUpdateId: after, dir: "/s", now: NOW });
}

function message(updateId: number, chatId = 1001): JournalEntry {
  return {
    updateId,
    chatId,
    update: { update_id: updateId, message: { message_id: updateId, chat: { id: chatId } } },
    stage: "received",
    dispatches: 0,
    receivedAt: "",
  };
}

Deno.test("entryOfJob(): an ask is a message with the prompt as its text, waiting; a send an answer decided", () => {
  const ask = taken("ask", "brief me");
  assert.equal(ask.stage, "received");
  assert.deepEqual(ask.spool, { kind: "ask", order: 41.5 });
  assert.deepEqual(ask.update, {
    update_id: ID,
    message: {
      message_id: 0,
      date: NOW / 1000,
      chat: { id: 1001, type: "private" },
      text: "brief me",
    },
  });
  const group = entryOfJob(job("ask", "x", -100), {
    updateId: ID,
    lastUpdateId: 1,
    dir: "",
    now: NOW,
  });
  assert.equal(
    (group.update as { message: { chat: { type: string } } }).message.chat.type,
    "group",
  );
  const files = [{ file: "1-a.png", name: "a.png", kind: "photo" as const }];
  const send = entryOfJob({ ...job("send", "done"), files }, {
    updateId: ID,
    lastUpdateId: 41,
    dir: "/state/send/9",
    now: NOW,
  });
  assert.equal(send.stage, "answered");
  assert.deepEqual(send.answer, {
    head: "",
    body: "done",
    emoji: "",
    sent: 0,
    files: [{ path: "/state/send/9/1-a.png", name: "a.png", kind: "photo" }],
    filesSent: 0,
  });
});

Deno.test("promptToShow() and promptShown(): an ask's prompt is shown once, and its message becomes the ask's", () => {
  const ask = taken("ask", "brief me");
  assert.equal(promptToShow(ask), "⏰ Scheduled: brief me");
  const shown = patched(ask, promptShown(ask, 77)!);
  assert.equal((shown.update as { message: { message_id: number } }).message.message_id, 77);
  assert.equal((shown.update as { message: { text: string } }).message.text, "brief me");
  assert.equal(promptToShow(shown), undefined, "not shown twice");
  assert.equal(promptShown(shown, 78), undefined);
  const failed = patched(ask, promptShown(ask, undefined)!);
  assert.equal(promptToShow(failed), undefined, "a prompt that could not be shown is not retried");
  assert.equal((failed.update as { message: { message_id: number } }).message.message_id, 0);
  assert.equal(promptToShow(message(5)), undefined);
  assert.equal(promptShown(message(5), 3), undefined, "a person's message is left alone");
  assert.equal(promptToShow(taken("send", "x")), undefined);
});

Deno.test("ChatQueues: an ask waits behind what came before it and ahead of what comes after", () => {
  const queues = new ChatQueues({ ackWaitMs: 0, now: () => 0 });
  queues.enqueue(message(42));
  queues.enqueue(taken("ask", "first ask", { id: ID, after: 41 }));
  queues.enqueue(taken("ask", "second ask", { id: ID + 1, after: 41 }));
  queues.enqueue(message(40));
  const order: number[] = [];
  for (let next = queues.takeNext(); next !== undefined; next = queues.takeNext()) {
    order.push(next.updateId);
    queues.ended(next.chatId, next.updateId);
  }
  assert.deepEqual(order, [40, ID, ID + 1, 42]);
});

Deno.test("ChatQueues: a chat's sends from the box wait in a lane of their own, never behind its brain", () => {
  const queues = new ChatQueues({ ackWaitMs: 0, now: () => 0 });
  queues.enqueue(message(5));
  const running = queues.takeNext()!;
  queues.running(running);
  queues.enqueue(message(6));
  queues.enqueue(taken("send", "one", { id: ID }));
  queues.enqueue(taken("send", "two", { id: ID + 1 }));
  const send = queues.takeNext()!;
  assert.equal(send.updateId, ID, "the send goes while the chat's brain works");
  queues.running(send);
  assert.equal(queues.takeNext(), undefined, "one send at a time, and 6 waits for 5");
  queues.ended(send.chatId, send.updateId);
  assert.equal(queues.takeNext()?.updateId, ID + 1);
  queues.ended(running.chatId, running.updateId);
  assert.equal(queues.takeNext()?.updateId, 6);
});

Deno.test("held.ts: a job from the box takes a turn, whatever its text; /status counts jobs and unsent files", () => {
  assert.equal(heldFor(taken("ask", "/status"), { journaled: true }).turn, true);
  assert.equal(heldFor(taken("send", "x"), { journaled: true }).turn, true);
  const withFiles = patched(taken("send", "x", { id: ID + 1 }), {
    answer: {
      head: "",
      body: "",
      emoji: "",
      sent: 0,
      files: [1, 2, 3].map((n) => ({ path: `/${n}`, name: `${n}`, kind: "document" as const })),
      filesSent: 1,
    },
  });
  const held = [taken("ask", "a"), withFiles, message(5)].map((e) =>
    heldFor(e, { journaled: true })
  );
  assert.deepEqual(boxView(held), { jobs: 2, files: 2 });
});

Deno.test("admit() refuses an update from Telegram with an id in the spool's range", () => {
  const { log, lines } = recordingLog();
  const update = {
    update_id: SPOOL_ID_BASE,
    message: {
      message_id: 1,
      date: 0,
      chat: { id: 1001, type: "private" },
      from: { id: 1001 },
      text: "x",
    },
  };
  const options = { authorized: new Set([1001]), wallNow: NOW, log };
  assert.equal(admit(update, options), undefined);
  assert.match(lines[0].message, /ids from \{base\} up are the spool's/);
  assert.equal(admit({ ...update, update_id: 9 }, options)?.updateId, 9);
});
