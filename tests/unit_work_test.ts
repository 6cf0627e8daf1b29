/**
 * Unit tests for `lib/handler/work.ts`: `startWork()` (a message's ids, the entry it was handed,
 * notes and its one reply) and `whileWorking()` (typing at once and renewed, a cancel heard over
 * the line, the handler's stop), against the Bot API simulator with a real journal and state
 * folder in a temp dir, and a line fed by hand.
 *
 * @module
 */

import assert from "node:assert/strict";
import { RERUN_NOTE } from "../lib/handler/texts.ts";
import {
  type HandleOptions,
  startWork,
  TYPING_EVERY_MS,
  whileWorking,
} from "../lib/handler/work.ts";
import type { Config } from "../lib/shared/config.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import { messageRig, recordingLog, testLine, trackTimers, waitUntil } from "./_helpers.ts";

const CHAT = 1001;

/** A message as its handler is given it; `stop` is the handler's own stop. */
async function rig(patch?: Partial<JournalEntry>) {
  const m = await messageRig(CHAT, { patch });
  const { log, lines } = recordingLog();
  const stop = new AbortController();
  const t = testLine();
  const options: HandleOptions = {
    api: m.api,
    config: { stateDir: m.dir.path, maxReplyParts: 5 } as Config,
    entry: m.entry,
    line: t.line,
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
    t,
    typings: () => m.sim.calls.filter((c) => c.method === "sendChatAction" && c.status === 200),
    async [Symbol.asyncDispose]() {
      t.close();
      await m[Symbol.asyncDispose]();
    },
  };
}

Deno.test("startWork() names the message by its update, chat and message ids, with the entry it was handed", async () => {
  await using r = await rig({ stage: "started", dispatches: 2 });
  // The journal says otherwise: the handler goes by what the poll process handed it.
  r.journal.update(r.ids.updateId, { dispatches: 7 });
  const work = startWork(r.options);
  assert.deepEqual(work.ids, r.ids);
  assert.equal(work.entry.dispatches, 2);
  assert.equal(work.record.read().dispatches, 2, "its record starts from the same entry");
  assert.equal(work.update.update_id, r.ids.updateId, "the update is the entry's");
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

Deno.test("startWork()'s reply() is finish(): journaled and reported, sent as a reply, reacted to, the entry finished", async () => {
  await using r = await rig();
  const work = startWork(r.options);
  await work.reply("the answer", "👎");
  const [sent] = r.sim.botMessages(CHAT);
  assert.deepEqual([sent.text, sent.reply_to], ["the answer", r.ids.messageId]);
  assert.equal(r.sim.reaction(CHAT, r.ids.messageId), "👎");
  assert.equal(r.journal.read(r.ids.updateId), undefined);
  const kinds = r.t.reports.map((report) =>
    report.kind === "patch" ? `patch ${report.patch.stage ?? "-"}` : report.kind
  );
  assert.deepEqual(
    [kinds[0], ...kinds.slice(-2)],
    ["patch answered", "patch replied", "finished"],
    "the poll process hears the answer first and the end last",
  );
});

Deno.test("startWork()'s reactOn() sets another message's reactions in order: a slow ✍ never lands after the 👌", async () => {
  await using r = await rig();
  const work = startWork(r.options);
  const steer = r.sim.sendText(CHAT, "and staging").message!.message_id;
  r.sim.injectFault({ method: "setMessageReaction", fault: { kind: "delay", ms: 300 } });
  await Promise.all([work.reactOn(steer, "✍"), work.reactOn(steer, "👌")]);
  assert.equal(r.sim.reaction(CHAT, steer), "👌");
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

Deno.test("whileWorking()'s signal aborts on a cancel that comes over the line", async () => {
  await using r = await rig();
  const work = startWork(r.options);
  const listening = r.t.line.listen(r.ids.updateId);
  using working = whileWorking(work);
  assert.equal(working.signal.aborted, false);
  r.t.send({ kind: "cancel", by: "Stop" });
  await waitUntil(() => working.signal.aborted, { timeoutMs: 5000, description: "the cancel" });
  assert.equal(r.t.line.cancelledBy, "Stop");
  assert.equal(r.stop.signal.aborted, false, "a cancel is not the handler's stop");
  r.t.close();
  await listening;
});

Deno.test("whileWorking()'s signal aborts when the handler must stop, which is not a cancel", async () => {
  await using r = await rig();
  using working = whileWorking(startWork(r.options));
  r.stop.abort(new Error("SIGTERM"));
  assert.equal(working.signal.aborted, true);
  assert.equal(r.t.line.cancel.aborted, false);
});

Deno.test("whileWorking() disposed: nothing left to happen, no more typing", async () => {
  await using r = await rig();
  using timers = trackTimers();
  const working = whileWorking(startWork({ ...r.options, typingEveryMs: 250 }));
  await waitUntil(() => r.typings().length >= 1, { timeoutMs: 5000, description: "typing" });
  working[Symbol.dispose]();
  // Nothing is left that could send typing later.
  assert.equal(timers.pending, 0, "no timer or interval left after the work");
  assert.equal(r.typings().length, 1, "no typing after the work");
});
