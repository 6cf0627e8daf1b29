/**
 * Unit tests for `lib/handler/work.ts`: `startWork()` (a message's ids, entry, notes and its one
 * reply) and `whileWorking()` (typing at once and renewed, the cancel watch, the handler's stop),
 * against the Bot API simulator with a real journal and state folder in a temp dir.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CancelBox } from "../lib/handler/cancel.ts";
import { RERUN_NOTE } from "../lib/handler/texts.ts";
import {
  CANCEL_POLL_MS,
  type HandleOptions,
  startWork,
  TYPING_EVERY_MS,
  whileWorking,
} from "../lib/handler/work.ts";
import type { Config } from "../lib/shared/config.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import { messageRig, recordingLog, trackTimers, waitUntil } from "./_helpers.ts";

const CHAT = 1001;

/** A message as its handler is given it; `stop` is the handler's own stop. */
async function rig(patch?: Partial<JournalEntry>) {
  const m = await messageRig(CHAT, { patch });
  const { log, lines } = recordingLog();
  const stop = new AbortController();
  const options: HandleOptions = {
    api: m.api,
    config: { stateDir: m.dir.path, maxReplyParts: 5 } as Config,
    update: m.update,
    env: {},
    log,
    signal: stop.signal,
    journal: m.journal,
  };
  return {
    ...m,
    lines,
    stop,
    options,
    typings: () => m.sim.calls.filter((c) => c.method === "sendChatAction" && c.status === 200),
  };
}

Deno.test("startWork() names the message by its update, chat and message ids, with its entry as it found it", async () => {
  await using r = await rig({ stage: "started", dispatches: 2 });
  const work = startWork(r.options);
  assert.deepEqual(work.ids, r.ids);
  assert.equal(work.entry?.dispatches, 2);
  assert.equal(work.replyApi, r.api, "replies go through api unless told otherwise");
  assert.deepEqual(work.notes, []);
});

Deno.test("startWork() of a re-run message: its reply starts with the re-run note", async () => {
  await using r = await rig({ stage: "started", rerun: true });
  const work = startWork(r.options);
  assert.deepEqual(work.notes, [RERUN_NOTE]);
  await work.reply("the answer", "👌");
  assert.deepEqual(r.sim.botMessages(CHAT).map((m) => m.text), [`${RERUN_NOTE}\nthe answer`]);
});

Deno.test("startWork()'s reply() is finish(): journaled, sent as a reply, reacted to, the entry finished", async () => {
  await using r = await rig();
  const work = startWork(r.options);
  await work.reply("the answer", "👎");
  const [sent] = r.sim.botMessages(CHAT);
  assert.deepEqual([sent.text, sent.reply_to], ["the answer", r.ids.messageId]);
  assert.equal(r.sim.reaction(CHAT, r.ids.messageId), "👎");
  assert.equal(r.journal.read(r.ids.updateId), undefined);
});

Deno.test("whileWorking() shows typing at once, and renews it while the work goes on", async () => {
  // Telegram shows it for about 5 s: renewed before then.
  assert.ok(TYPING_EVERY_MS < 5000, `renewed every ${TYPING_EVERY_MS} ms`);
  await using r = await rig();
  using _working = whileWorking(startWork({ ...r.options, typingEveryMs: 50 }));
  await waitUntil(() => r.typings().length >= 1, { timeoutMs: 5000, description: "typing" });
  assert.equal(r.typings()[0].params.action, "typing");
  await waitUntil(() => r.typings().length >= 3, { timeoutMs: 2000, description: "two renewals" });
  assert.ok(r.typings().every((c) => c.params.action === "typing"));
});

Deno.test("whileWorking() hears a cancel: checkCancel() at once, the watch by itself, with who asked", async (t) => {
  await t.step("checkCancel(), without waiting for the watch", async () => {
    await using r = await rig();
    using working = whileWorking(startWork(r.options));
    assert.equal(working.checkCancel(), false);
    new CancelBox(r.dir.path).request(r.ids.updateId, "Stop");
    assert.equal(working.checkCancel(), true);
    assert.equal(working.cancel.aborted, true);
    assert.equal(working.signal.aborted, true, "the work's signal hears the cancel too");
    assert.equal((working.cancel.reason as Error).message, "cancelled by Stop");
  });

  await t.step("the watch", async () => {
    await using r = await rig();
    using working = whileWorking(startWork(r.options));
    new CancelBox(r.dir.path).request(r.ids.updateId);
    await waitUntil(() => working.cancel.aborted, {
      timeoutMs: 20 * CANCEL_POLL_MS,
      description: "the cancel to be heard",
    });
    assert.equal((working.cancel.reason as Error).message, "cancelled by /cancel");
  });
});

Deno.test("whileWorking()'s signal aborts when the handler must stop, which is not a cancel", async () => {
  await using r = await rig();
  using working = whileWorking(startWork(r.options));
  r.stop.abort(new Error("SIGTERM"));
  assert.equal(working.signal.aborted, true);
  assert.equal(working.cancel.aborted, false);
  assert.equal(working.checkCancel(), false);
});

Deno.test("whileWorking() disposed: no more typing, and a later cancel marker is not watched", async () => {
  await using r = await rig();
  using timers = trackTimers();
  const working = whileWorking(startWork({ ...r.options, typingEveryMs: CANCEL_POLL_MS }));
  await waitUntil(() => r.typings().length >= 1, { timeoutMs: 5000, description: "typing" });
  working[Symbol.dispose]();
  new CancelBox(r.dir.path).request(r.ids.updateId);
  // Nothing is left that could watch for the marker or send typing later.
  assert.equal(timers.pending, 0, "no timer or interval left after the work");
  assert.equal(working.cancel.aborted, false, "the watch ended with the work");
  assert.equal(r.typings().length, 1, "no typing after the work");
});
