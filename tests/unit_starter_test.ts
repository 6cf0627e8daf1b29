/**
 * Unit tests for `lib/loop/starter.ts`: the `Starter` on its own, with a dispatcher that records
 * its spawns, a real journal in a temp folder and `ChatQueues` on a clock moved by hand. (The
 * intake's use of it, from arrival to start, is `unit_intake_test.ts`.)
 *
 * @module
 */

import assert from "node:assert/strict";
import { ChatQueues } from "../lib/loop/chat_queues.ts";
import type { ChildRecord } from "../lib/loop/dispatch.ts";
import { Starter, type StarterDispatcher, type StarterOptions } from "../lib/loop/starter.ts";
import { Journal } from "../lib/shared/journal.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import { captureLog, tempDir, waitUntil } from "./_helpers.ts";

const CHAT = 42;
const WALL = Date.parse("2026-11-27T12:00:00Z");
const FAILED = { success: false, code: 1, signal: null } as const;

/** Records what it is asked to spawn; `refuse` makes each spawn throw, as a failed fork does. */
class SpawnLog implements StarterDispatcher {
  free: number;
  records: ChildRecord[] = [];
  payloads: string[] = [];
  attempts = 0;
  refuse = false;

  constructor(free: number) {
    this.free = free;
  }

  spawn(payload: string, meta: { updateId: number; chatId: number }): ChildRecord {
    this.attempts++;
    if (this.refuse) throw new Error("spawn failed: resource temporarily unavailable");
    this.free--;
    this.payloads.push(payload);
    const record = { pid: 1000 + meta.updateId, ...meta, startedAt: 0 };
    this.records.push(record);
    return record;
  }

  /** The update ids spawned, in order. */
  get ids(): number[] {
    return this.records.map((r) => r.updateId);
  }
}

function message(updateId: number, chatId = CHAT) {
  return {
    update_id: updateId,
    message: { message_id: updateId, chat: { id: chatId }, from: { id: chatId }, date: 0 },
  };
}

/** A starter with its collaborators; stopped (its timer cleared) and its folder removed on dispose. */
async function setup(options: Partial<StarterOptions> & { free?: number } = {}) {
  const dir = await tempDir();
  const journal = new Journal(`${dir.path}/journal`, { durable: false });
  journal.open();
  const clock = { ms: 1_000 };
  const queues = options.queues ?? new ChatQueues({ ackWaitMs: 2000, now: () => clock.ms });
  const dispatcher = new SpawnLog(options.free ?? 4);
  const starter = new Starter({
    journal,
    dispatcher,
    queues,
    poisonLimit: 3,
    sweep: () => Promise.resolve([]),
    wallNow: () => WALL,
    ...options,
  });
  return {
    journal,
    clock,
    queues,
    dispatcher,
    starter,
    /** Journals a message (with `patch`) and queues it, ready to start. */
    waiting(updateId: number, patch: Partial<JournalEntry> = {}, chatId = CHAT): void {
      journal.record(message(updateId, chatId), { updateId, chatId });
      queues.enqueue(journal.update(updateId, patch)!);
    },
    /** Message 1 of the chat started, message 2 waiting behind it. */
    oneRunningOneWaiting(): void {
      this.waiting(1);
      this.waiting(2);
      starter.drain();
    },
    /** The handler of `updateId` exits with `status`: its slot is freed and the starter told. */
    exit(updateId: number, status: Deno.CommandStatus = FAILED): void {
      const record = dispatcher.records.findLast((r) => r.updateId === updateId);
      assert.ok(record && !record.status, `no running handler for ${updateId}`);
      record.status = status;
      dispatcher.free++;
      starter.handlerExited(record);
    },
    async [Symbol.asyncDispose]() {
      starter.stop();
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("Starter.drain() starts the oldest waiting message of each idle chat while slots are free, and journals each start", async () => {
  await using s = await setup({ free: 2 });
  s.waiting(7, {}, 42);
  s.waiting(6, { turnAt: "2026-11-27T11:00:00.000Z", rerun: true }, 42);
  s.waiting(5, {}, 43);
  s.waiting(9, {}, 44);
  s.starter.drain();
  assert.deepEqual(s.dispatcher.ids, [5, 6], "the two oldest heads, one slot each");
  assert.deepEqual(s.dispatcher.payloads[1], JSON.stringify(message(6)), "the update itself");

  const six = s.journal.read(6);
  assert.equal(six?.stage, "started");
  assert.equal(six?.dispatches, 1);
  assert.equal(six?.giveUp, false);
  assert.equal(six?.turnAt, undefined, "a re-run waits for its turn again");
  assert.equal(six?.startedAt, new Date(WALL).toISOString(), "on the wall clock it was given");
  assert.equal(s.journal.read(7)?.stage, "received", "still waiting");

  s.starter.drain();
  assert.deepEqual(s.dispatcher.ids, [5, 6], "no slot, no start");
  s.dispatcher.free = 2;
  s.starter.drain();
  assert.deepEqual(s.dispatcher.ids, [5, 6, 9], "7 waits: its chat's 6 is running");
});

Deno.test("Starter gives up on a message at the poison limit: its handler only says so", async (t) => {
  await t.step("below the limit: a plain start", async () => {
    await using s = await setup({ poisonLimit: 2 });
    s.waiting(1, { deaths: 1 });
    s.starter.drain();
    assert.equal(s.journal.read(1)?.giveUp, false);
  });

  await t.step("at the limit: started marked giveUp, and logged once", async () => {
    await using log = await captureLog();
    await using s = await setup({ poisonLimit: 2 });
    s.waiting(1, { deaths: 2 });
    s.starter.drain();
    assert.deepEqual(s.dispatcher.ids, [1], "a handler still starts, to tell the person");
    assert.equal(s.journal.read(1)?.giveUp, true);
    assert.equal(s.journal.read(1)?.stage, "started");
    const lines = log.lines.filter((l) => /giving up on it \(poison limit\)/.test(l));
    assert.equal(lines.length, 1, log.lines.join(""));
    assert.match(lines[0], /update 1: 2 handlers died without a reply/);
  });

  await t.step("given up by an earlier start: still giveUp, not logged again", async () => {
    await using log = await captureLog();
    await using s = await setup({ poisonLimit: 2 });
    s.waiting(1, { giveUp: true, deaths: 0 });
    s.starter.drain();
    assert.equal(s.journal.read(1)?.giveUp, true);
    assert.equal(log.lines.filter((l) => /poison limit/.test(l)).length, 0);
  });

  await t.step("answered: never given up, it keeps its stage and sends its answer", async () => {
    await using s = await setup({ poisonLimit: 2 });
    s.waiting(1, { stage: "answered", deaths: 5 });
    s.starter.drain();
    assert.equal(s.journal.read(1)?.giveUp, false);
    assert.equal(s.journal.read(1)?.stage, "answered");
  });
});

Deno.test("Starter queues a message again, 2 s later, when its handler can't be spawned", async (t) => {
  for (const stage of ["received", "answered"] as const) {
    await t.step(`stage "${stage}": kept`, async () => {
      await using log = await captureLog();
      await using s = await setup();
      s.waiting(1, { stage });
      s.dispatcher.refuse = true;
      s.starter.drain();
      assert.equal(s.dispatcher.attempts, 1);
      assert.equal(s.journal.read(1)?.stage, stage);
      assert.equal(s.journal.read(1)?.dispatches, 1, "the failed start is counted");
      assert.equal(s.queues.waiting, 1, "back in its queue");
      assert.match(log.lines.join(""), /dispatch crash: update 1, chat 42: Error: spawn failed/);

      s.dispatcher.refuse = false;
      s.clock.ms += 1999;
      s.starter.drain();
      assert.equal(s.dispatcher.attempts, 1, "not tried again before the pause is over");
      s.clock.ms += 1;
      s.starter.drain();
      assert.deepEqual(s.dispatcher.ids, [1]);
      assert.equal(s.journal.read(1)?.dispatches, 2);
    });
  }
});

Deno.test("Starter.handlerExited() settles a message by its journal entry", async (t) => {
  await t.step("replied: the entry is finished, the chat's next starts at once", async () => {
    await using s = await setup();
    s.oneRunningOneWaiting();
    s.journal.update(1, { stage: "replied" });
    s.exit(1, { success: true, code: 0, signal: null });
    assert.equal(s.journal.read(1), undefined);
    assert.deepEqual(s.dispatcher.ids, [1, 2]);
  });

  await t.step("finished by its handler: nothing left, the chat's next starts", async () => {
    await using s = await setup();
    s.oneRunningOneWaiting();
    s.journal.finish(1);
    s.exit(1, { success: true, code: 0, signal: null });
    assert.deepEqual(s.dispatcher.ids, [1, 2]);
  });

  await t.step("died: queued again ahead of its chat, after a back-off that doubles", async () => {
    await using s = await setup();
    s.oneRunningOneWaiting();
    s.journal.update(1, { stage: "brain", attempt: 1 });
    s.exit(1, { success: false, code: 137, signal: "SIGKILL" });
    let entry = s.journal.read(1);
    assert.deepEqual([entry?.stage, entry?.rerun, entry?.deaths], ["received", true, 1]);
    assert.equal(entry?.lastEnd, "killed by SIGKILL");
    for (const [death, waitMs] of [[1, 1000], [2, 2000]]) {
      s.clock.ms += waitMs - 1;
      s.starter.drain();
      assert.equal(s.dispatcher.records.length, death, `death ${death}: not before ${waitMs} ms`);
      s.clock.ms += 1;
      s.starter.drain();
      assert.deepEqual(s.dispatcher.ids.at(-1), 1, `death ${death}: message 1 again, not 2`);
      if (death === 1) s.exit(1);
    }
    entry = s.journal.read(1);
    assert.deepEqual([entry?.deaths, entry?.lastEnd, entry?.dispatches], [2, "exit status 1", 3]);
  });

  await t.step("parked: held at its chat's head until its time, no death", async () => {
    await using s = await setup();
    s.oneRunningOneWaiting();
    // Its brain asked to run later: its handler put it back to waiting, parked, and exited.
    s.journal.update(1, { stage: "received", parkedUntil: new Date(WALL + 5000).toISOString() });
    s.exit(1, { success: true, code: 0, signal: null });
    assert.equal(s.journal.read(1)?.deaths, undefined);
    s.clock.ms += 4999;
    s.starter.drain();
    assert.deepEqual(s.dispatcher.ids, [1], "2 does not overtake it");
    s.clock.ms += 1;
    s.starter.drain();
    assert.deepEqual(s.dispatcher.ids, [1, 1]);
  });

  await t.step("after stop(): left in the journal for the next start, no death", async () => {
    await using s = await setup();
    s.oneRunningOneWaiting();
    s.journal.update(1, { stage: "brain", attempt: 1, brainPid: 77 });
    s.starter.stop();
    s.exit(1, { success: false, code: 143, signal: "SIGTERM" });
    const entry = s.journal.read(1);
    assert.deepEqual([entry?.stage, entry?.rerun, entry?.deaths], ["received", true, undefined]);
    assert.equal(entry?.brainPid, undefined);
    s.clock.ms += 60_000;
    s.starter.drain();
    assert.deepEqual(s.dispatcher.ids, [1], "nothing starts once stopped");
    assert.equal(s.queues.has(1), false, "not queued again in this run");
  });

  await t.step("its entry unreadable: logged, and the chat goes on", async () => {
    await using log = await captureLog();
    await using s = await setup();
    s.oneRunningOneWaiting();
    Deno.writeTextFileSync(`${s.journal.dir}/1.json`, "{ not json");
    s.exit(1);
    assert.match(log.lines.join(""), /journal entry 1 unreadable/);
    assert.deepEqual(s.dispatcher.ids, [1, 2]);
  });
});

/** A sweep that records the run markers it is given and answers with `answer()`. */
function recordedSweep(answer: () => Promise<number[]>) {
  const swept: string[] = [];
  const sweep = ({ run }: { run: string }) => {
    swept.push(run);
    return answer();
  };
  return { swept, sweep };
}

Deno.test("Starter.handlerExited() sweeps the brain a handler left behind, by its run marker", async (t) => {
  await t.step("swept, and the pids logged", async () => {
    await using log = await captureLog();
    const { swept, sweep } = recordedSweep(() => Promise.resolve([4242, 4243]));
    await using s = await setup({ sweep });
    s.waiting(1);
    s.starter.drain();
    s.journal.update(1, { stage: "brain", brainRun: "run-1-a" });
    s.exit(1);
    assert.deepEqual(swept, ["run-1-a"]);
    await waitUntil(
      () => log.lines.some((l) => /orphaned brain of update 1: pids 4242, 4243/.test(l)),
      { timeoutMs: 5000, description: "the sweep's log line" },
    );
  });

  await t.step("a sweep that fails is logged, not thrown; nothing to sweep, no sweep", async () => {
    await using log = await captureLog();
    const { swept, sweep } = recordedSweep(() => Promise.reject(new Error("no /proc")));
    await using s = await setup({ sweep });
    s.oneRunningOneWaiting();
    s.journal.update(1, { stage: "brain", brainRun: "run-1-a" });
    s.exit(1);
    await waitUntil(() => log.lines.some((l) => /cannot stop the orphaned brain/.test(l)), {
      timeoutMs: 5000,
      description: "the failed sweep's log line",
    });
    s.clock.ms += 1000;
    s.starter.drain();
    s.journal.update(1, { stage: "replied" });
    s.exit(1, { success: true, code: 0, signal: null });
    assert.deepEqual(swept, ["run-1-a"], "its second handler left no brain run");
    assert.deepEqual(s.dispatcher.ids, [1, 1, 2]);
  });
});

Deno.test("Starter wakes itself when a held-back message may start", async () => {
  const queues = new ChatQueues({ ackWaitMs: 2000, now: () => performance.now() });
  await using s = await setup({ queues });
  s.waiting(1);
  queues.holdBack(1, 30);
  s.starter.drain();
  assert.deepEqual(s.dispatcher.ids, []);
  await waitUntil(() => s.dispatcher.records.length > 0, {
    timeoutMs: 5000,
    description: "the starter's own timer to start it",
  });
  assert.deepEqual(s.dispatcher.ids, [1]);
});
