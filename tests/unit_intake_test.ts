/**
 * Unit tests for `lib/loop/intake.ts`: the loop's side of a message's life, with a fake dispatcher, a
 * fake desk that records its jobs, a real journal in a temp folder, and a clock moved by hand.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { DeskJob } from "../lib/shared/desk_protocol.ts";
import type { ChildRecord } from "../lib/loop/dispatch.ts";
import { Intake, type IntakeOptions } from "../lib/loop/intake.ts";
import { Journal } from "../lib/shared/journal.ts";
import { tempDir, waitUntil } from "./_helpers.ts";

const CHAT = 42;

/** What the poll loop does with a batch: accept it (the 👀s), then journal what was accepted. */
function take(intake: Intake, ...updates: unknown[]) {
  for (const accepted of intake.accept(updates)) intake.record(accepted);
}

/** A dispatcher that records spawns instead of starting processes. */
class FakeDispatcher {
  free: number;
  spawned: ChildRecord[] = [];
  /** Spawns that throw, from the next one on. */
  failures = 0;
  onFailure?: () => void;

  constructor(free: number) {
    this.free = free;
  }

  spawn(payload: string, meta: { updateId: number; chatId: number }): ChildRecord {
    if (this.failures > 0) {
      this.failures--;
      this.onFailure?.();
      throw new Error("spawn failed");
    }
    assert.ok(this.free > 0, `spawn of ${meta.updateId} at the cap`);
    assert.equal(JSON.parse(payload).update_id, meta.updateId, "the payload is the update");
    const record = { pid: 1000 + meta.updateId, ...meta, startedAt: 0 };
    this.spawned.push(record);
    this.free--;
    return record;
  }

  get ids(): number[] {
    return this.spawned.map((s) => s.updateId);
  }
}

/** A desk that records the jobs it is sent. */
class FakeDesk {
  jobs: DeskJob[] = [];
  send(job: DeskJob): void {
    this.jobs.push(job);
  }
  /** The jobs as `kind id`. */
  get log(): string[] {
    return this.jobs.map((j) => `${j.job} ${(j.update as { update_id: number }).update_id}`);
  }
}

/** A clock that moves only when told. */
class FakeClock {
  ms = 1_000;
  readonly now = () => this.ms;
}

/** A message in the private chat `chatId` (its person's own, so from `chatId` unless told). */
function message(updateId: number, chatId = CHAT, text = `m${updateId}`, fromId = chatId) {
  const chat = { id: chatId, type: "private" };
  return {
    update_id: updateId,
    message: { message_id: updateId, chat, from: { id: fromId }, date: 0, text },
  };
}

function edit(updateId: number, of: number, chatId = CHAT) {
  return {
    update_id: updateId,
    edited_message: { ...message(of, chatId).message, text: "changed", edit_date: 1 },
  };
}

/** An intake with its fakes, stopped (its timer cleared) and its folder removed on dispose. */
async function setup(options: Partial<IntakeOptions> & { free?: number } = {}) {
  const dir = await tempDir();
  const journal = new Journal(`${dir.path}/journal`, { durable: false });
  journal.open();
  const dispatcher = new FakeDispatcher(options.free ?? 4);
  const desk = new FakeDesk();
  const clock = new FakeClock();
  const intake = new Intake({
    journal,
    dispatcher,
    desk,
    authorized: new Set([CHAT, 43, 44, 45]),
    now: clock.now,
    ...options,
  });
  /** A handler exits: its slot is freed and the intake is told. */
  const exit = (updateId: number, code = 0) => {
    const record = dispatcher.spawned.find((s) => s.updateId === updateId && !s.status);
    assert.ok(record, `no running handler for ${updateId}`);
    record.status = { success: code === 0, code, signal: null };
    dispatcher.free++;
    intake.handlerExited(record);
  };
  /** Routes updates, reports every 👀 at once, and releases them. */
  const arrive = (...updates: unknown[]) => {
    take(intake, ...updates);
    for (const update of updates) intake.acked((update as { update_id: number }).update_id);
    intake.release();
  };
  return {
    journal,
    dispatcher,
    desk,
    clock,
    intake,
    exit,
    arrive,
    async [Symbol.asyncDispose]() {
      intake.stop();
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("Intake.accept() asks for the 👀 at once, record() journals; nothing starts before release()", async () => {
  await using s = await setup();
  const accepted = s.intake.accept([message(1), message(2, 43)]);
  assert.deepEqual(s.desk.log, ["ack 1", "ack 2"], "acknowledged at accept()");
  assert.deepEqual(s.journal.list(), [], "with no disk on the way");
  assert.deepEqual(accepted.map((a) => a.updateId), [1, 2]);
  for (const a of accepted) s.intake.record(a);
  assert.deepEqual(s.journal.list().map((e) => [e.updateId, e.stage]), [
    [1, "received"],
    [2, "received"],
  ]);
  s.intake.acked(1);
  s.intake.acked(2);
  s.intake.drain();
  assert.deepEqual(s.dispatcher.ids, [], "nothing starts before release()");
  assert.equal(s.intake.size, 2, "the batch counts in the size");
  s.intake.release();
  assert.deepEqual(s.dispatcher.ids, [1, 2]);
  assert.equal(s.journal.read(1)?.stage, "started");
  assert.equal(s.journal.read(1)?.dispatches, 1, "recorded as dispatched");
  s.intake.release();
  assert.deepEqual(s.dispatcher.ids, [1, 2], "a batch is handed on once");
});

Deno.test("Intake.accept() ignores unauthorized senders, other updates and duplicates", async () => {
  await using s = await setup();
  take(s.intake, message(1, 666, "hi", 666));
  take(s.intake, { update_id: 2, channel_post: {} });
  take(s.intake, "garbage");
  take(s.intake, message(3));
  take(s.intake, message(4));
  assert.deepEqual(s.desk.log, ["ack 3", "ack 4"], "a 👀 for each authorized message only");
  s.intake.release();
  s.intake.acked(3);
  s.intake.acked(4);
  assert.deepEqual(s.dispatcher.ids, [3]);
  assert.deepEqual(s.journal.list().map((e) => e.updateId), [3, 4]);
  // Telegram delivers both again (their offset was not confirmed).
  take(s.intake, message(3));
  take(s.intake, message(4));
  s.intake.release();
  assert.deepEqual(s.desk.log, ["ack 3", "ack 4"], "no second 👀, running or waiting");
  assert.equal(s.intake.size, 2, "queued once");
  s.journal.finish(3);
  s.exit(3);
  s.journal.finish(4);
  s.exit(4);
  assert.deepEqual(s.dispatcher.ids, [3, 4], "each handed on once");
});

Deno.test("Intake starts a chat's messages one at a time, in update order", async () => {
  await using s = await setup();
  s.arrive(message(3), message(1), message(2));
  assert.deepEqual(s.dispatcher.ids, [1], "free slots don't start a chat's second message");
  assert.equal(s.intake.waiting, 2);
  s.journal.finish(1);
  s.exit(1);
  assert.deepEqual(s.dispatcher.ids, [1, 2], "the next starts when the previous has exited");
  s.arrive(message(4));
  assert.deepEqual(s.dispatcher.ids, [1, 2], "a new message waits behind the running one");
  s.journal.finish(2);
  s.exit(2);
  s.journal.finish(3);
  s.exit(3);
  assert.deepEqual(s.dispatcher.ids, [1, 2, 3, 4]);
  assert.equal(s.intake.waiting, 0);
});

Deno.test("Intake starts no more handlers than there are free slots", async () => {
  await using s = await setup({ free: 2 });
  s.arrive(message(1, 42), message(2, 43), message(3, 44), message(4, 45));
  assert.deepEqual(s.dispatcher.ids, [1, 2]);
  assert.equal(s.dispatcher.free, 0);
  assert.equal(s.intake.waiting, 2);
  s.journal.finish(2);
  s.exit(2);
  assert.deepEqual(s.dispatcher.ids, [1, 2, 3], "one slot freed, one started");
  s.dispatcher.free = 0;
  s.intake.drain();
  assert.deepEqual(s.dispatcher.ids, [1, 2, 3], "no slot, no start");
  s.dispatcher.free = 1;
  s.intake.drain();
  assert.deepEqual(s.dispatcher.ids, [1, 2, 3, 4]);
});

Deno.test("Intake starts the oldest waiting message of all chats first", async () => {
  await using s = await setup({ free: 1 });
  s.arrive(message(9, 42), message(7, 43), message(5, 42), message(3, 44));
  const order = [...s.dispatcher.ids];
  for (const id of [3, 5, 7]) {
    s.journal.finish(id);
    s.exit(id);
    order.push(s.dispatcher.ids.at(-1)!);
  }
  assert.deepEqual(order, [3, 5, 7, 9]);
});

Deno.test("Intake starts a message only once the desk reported its 👀, or ackWaitMs passed", async (t) => {
  await t.step("acked(): it starts at once", async () => {
    await using s = await setup({ ackWaitMs: 2000 });
    take(s.intake, message(1));
    s.intake.release();
    assert.deepEqual(s.dispatcher.ids, [], "its 👀 is not out yet");
    s.clock.ms += 1999;
    s.intake.drain();
    assert.deepEqual(s.dispatcher.ids, [], "1999 ms: still waiting");
    s.intake.acked(1);
    assert.deepEqual(s.dispatcher.ids, [1]);
  });

  await t.step("no report: it starts once ackWaitMs has passed on the clock", async () => {
    await using s = await setup({ ackWaitMs: 2000 });
    take(s.intake, message(1));
    s.intake.release();
    s.clock.ms += 2000;
    s.intake.drain();
    assert.deepEqual(s.dispatcher.ids, [1]);
    s.intake.acked(1);
    assert.deepEqual(s.dispatcher.ids, [1], "a late report starts nothing more");
  });

  await t.step("a slow 👀 holds back only its own chat", async () => {
    await using s = await setup({ ackWaitMs: 2000 });
    take(s.intake, message(1, 42));
    take(s.intake, message(2, 43));
    s.intake.release();
    s.intake.acked(2);
    assert.deepEqual(s.dispatcher.ids, [2]);
  });

  await t.step("no report: the intake's own timer wakes it", async () => {
    await using s = await setup({ ackWaitMs: 30, now: () => performance.now() });
    take(s.intake, message(1));
    s.intake.release();
    assert.deepEqual(s.dispatcher.ids, []);
    await waitUntil(() => s.dispatcher.spawned.length > 0 || undefined, {
      timeoutMs: 5000,
      description: "the handler to start after ackWaitMs",
    });
    assert.deepEqual(s.dispatcher.ids, [1]);
  });
});

Deno.test("Intake sends commands and edits to the desk as answer jobs, never to the dispatcher", async () => {
  await using s = await setup();
  s.arrive(message(1));
  take(s.intake, message(2, CHAT, "/status"));
  take(s.intake, edit(3, 1));
  take(s.intake, message(4, 43, "/cancel"));
  assert.deepEqual(s.desk.log, ["ack 1"], "no 👀 for them, and nothing before release()");
  s.intake.release();
  assert.deepEqual(s.desk.log, ["ack 1", "answer 2", "answer 3", "answer 4"]);
  assert.deepEqual(s.desk.jobs[1].update, message(2, CHAT, "/status"));
  assert.deepEqual(s.dispatcher.ids, [1], "nothing for them from the dispatcher");
  assert.equal(s.intake.waiting, 0, "they never wait for a turn");
  assert.equal(s.intake.size, 4, "the running message and three desk jobs");
  s.intake.deskDone(2);
  s.intake.deskDone(3);
  assert.equal(s.intake.size, 2);
  s.intake.deskDone(3);
  assert.equal(s.intake.size, 2, "deskDone() twice counts once");
});

Deno.test("Intake.withdraw() takes a waiting message out of its queue and tells the desk", async (t) => {
  await t.step("a waiting message: removed, withdraw job sent, never started", async () => {
    await using s = await setup();
    s.arrive(message(1), message(2), message(3));
    s.intake.withdraw(2);
    assert.deepEqual(s.desk.log.slice(3), ["withdraw 2"]);
    assert.deepEqual(s.desk.jobs[3].update, message(2));
    assert.equal(s.intake.waiting, 1);
    assert.equal(s.intake.size, 3, "still counted until the desk is done");
    s.journal.finish(1);
    s.exit(1);
    assert.deepEqual(s.dispatcher.ids, [1, 3], "the withdrawn one is skipped");
    s.intake.deskDone(2);
    assert.equal(s.intake.size, 1);
  });

  await t.step("a started message: nothing happens", async () => {
    await using s = await setup();
    s.arrive(message(1), message(2));
    s.intake.withdraw(1);
    s.intake.withdraw(99);
    assert.deepEqual(s.desk.log, ["ack 1", "ack 2"], "no withdraw job");
    assert.equal(s.intake.size, 2);
    s.journal.finish(1);
    s.exit(1);
    assert.deepEqual(s.dispatcher.ids, [1, 2]);
  });
});

Deno.test("Intake.handlerExited() settles a message whose handler ended", async (t) => {
  await t.step(
    "cut off in its brain: queued again at the head of its chat, as a re-run",
    async () => {
      await using s = await setup();
      s.arrive(message(1), message(2));
      s.journal.update(1, { stage: "brain", attempt: 1, turnAt: "2025-01-01T00:00:00.000Z" });
      const acks = s.desk.jobs.length;
      s.exit(1, 1);
      assert.deepEqual(s.dispatcher.ids, [1], "not at once: whatever killed it may be at work");
      assert.equal(s.journal.read(1)?.stage, "received");
      assert.equal(s.journal.read(1)?.deaths, 1);
      s.clock.ms += 999;
      s.intake.drain();
      assert.deepEqual(s.dispatcher.ids, [1], "message 2 does not overtake it meanwhile");
      s.clock.ms += 1;
      s.intake.drain();
      assert.deepEqual(s.dispatcher.ids, [1, 1], "message 1 again, before message 2");
      const entry = s.journal.read(1);
      assert.equal(entry?.rerun, true);
      assert.equal(entry?.stage, "started");
      assert.equal(entry?.dispatches, 2);
      assert.equal(entry?.turnAt, undefined, "a re-run waits for its turn again");
      assert.equal(s.desk.jobs.length, acks, "it keeps its 👀: no new acknowledgement");
    },
  );

  await t.step("before its brain: queued again, not a re-run", async () => {
    await using s = await setup();
    s.arrive(message(1), message(2));
    s.exit(1, 1);
    s.clock.ms += 1000;
    s.intake.drain();
    assert.deepEqual(s.dispatcher.ids, [1, 1], "message 1 again, before message 2");
    assert.equal(s.journal.read(1)?.rerun, false);
    assert.equal(s.journal.read(1)?.dispatches, 2);
  });

  await t.step("its brain left behind: its processes are swept by its run marker", async () => {
    const swept: string[] = [];
    await using s = await setup({
      sweep: (target) => {
        swept.push(target.run);
        return Promise.resolve([4242]);
      },
    });
    s.arrive(message(1));
    s.journal.update(1, { stage: "brain", attempt: 1, brainRun: "run-1-a" });
    s.exit(1, 1);
    assert.deepEqual(swept, ["run-1-a"]);
    assert.equal(s.journal.read(1)?.brainRun, undefined, "the marker is forgotten");
  });

  await t.step("replied but not finished: the entry is removed, the next starts", async () => {
    await using s = await setup();
    s.arrive(message(1), message(2));
    s.journal.update(1, { stage: "replied" });
    s.exit(1, 1);
    assert.equal(s.journal.read(1), undefined);
    assert.deepEqual(s.dispatcher.ids, [1, 2]);
    assert.equal(s.intake.size, 1);
  });

  await t.step("finished: nothing to do, the next starts", async () => {
    await using s = await setup();
    s.arrive(message(1), message(2));
    s.journal.finish(1);
    s.exit(1);
    assert.deepEqual(s.dispatcher.ids, [1, 2]);
  });

  await t.step("while stopping: left in the journal for the next start", async () => {
    await using s = await setup();
    s.arrive(message(1), message(2));
    s.intake.stop();
    s.exit(1, 143);
    assert.deepEqual(s.dispatcher.ids, [1], "nothing starts");
    assert.equal(s.journal.read(1)?.stage, "received", "it waits for the next start");
    assert.equal(s.journal.read(1)?.deaths, undefined, "stopped by us: not a death");
    assert.equal(s.intake.waiting, 1, "only message 2 waits in this run");
  });
});

Deno.test("Intake gives up on a message once the poison limit of handlers ended without a reply", async () => {
  await using s = await setup({ poisonLimit: 2 });
  s.arrive(message(1));
  for (let run = 1; run <= 3; run++) {
    if (run > 1) {
      s.exit(1, 1);
      s.clock.ms += 60_000; // past the wait before a re-start
      s.intake.drain();
      assert.equal(s.journal.read(1)?.deaths, run - 1);
    }
    assert.equal(s.journal.read(1)?.dispatches, run);
    assert.equal(Boolean(s.journal.read(1)?.giveUp), run === 3, `run ${run}`);
  }
  assert.equal(s.dispatcher.spawned.length, 3, "the third handler only says it gives up");
});

Deno.test("Intake.recover() re-acknowledges an earlier run's messages and hands its commands to the desk", async () => {
  await using s = await setup();
  const { journal } = s;
  journal.record(message(5), { updateId: 5, chatId: CHAT });
  journal.record(message(3), { updateId: 3, chatId: CHAT });
  journal.update(3, { stage: "brain", attempt: 1, dispatches: 1 });
  journal.record(message(4), { updateId: 4, chatId: CHAT });
  journal.update(4, { stage: "replied" });
  journal.record(message(6, 43, "/status"), { updateId: 6, chatId: 43 });
  journal.record(message(7, 44), { updateId: 7, chatId: 44 });
  journal.update(7, { stage: "started", dispatches: 1 });
  s.intake.recover();
  assert.deepEqual(s.desk.log, ["ack 3", "ack 5", "answer 6", "ack 7"]);
  assert.equal(journal.read(4), undefined, "answered before the restart: removed, not re-run");
  assert.equal(journal.read(3)?.stage, "received");
  assert.equal(journal.read(3)?.rerun, true, "its brain was cut off");
  assert.equal(journal.read(7)?.stage, "received");
  assert.equal(journal.read(7)?.rerun, false, "it never reached its brain");
  assert.equal(s.intake.waiting, 3);
  assert.equal(s.intake.size, 4);
  s.intake.drain();
  assert.deepEqual(s.dispatcher.ids, [], "each waits for its new 👀");
  s.arrive(message(9, 45));
  for (const id of [3, 5, 7]) s.intake.acked(id);
  assert.deepEqual(s.dispatcher.ids, [9, 3, 7]);
  s.journal.finish(3);
  s.exit(3);
  assert.deepEqual(s.dispatcher.ids, [9, 3, 7, 5]);
});

Deno.test("Intake.size and .waiting count what is unfinished and what waits", async () => {
  await using s = await setup({ free: 1 });
  assert.deepEqual([s.intake.size, s.intake.waiting], [0, 0]);
  take(s.intake, message(1));
  take(s.intake, message(2));
  take(s.intake, message(3, 43));
  take(s.intake, message(4, CHAT, "/new"));
  assert.deepEqual([s.intake.size, s.intake.waiting], [4, 0], "routed, not released");
  s.intake.release();
  assert.deepEqual([s.intake.size, s.intake.waiting], [4, 3], "three messages, one desk job");
  s.intake.acked(1);
  assert.deepEqual([s.intake.size, s.intake.waiting], [4, 2], "one runs");
  s.intake.deskDone(4);
  assert.deepEqual([s.intake.size, s.intake.waiting], [3, 2]);
  s.journal.finish(1);
  s.exit(1);
  s.intake.acked(2);
  s.intake.acked(3);
  assert.deepEqual([s.intake.size, s.intake.waiting], [2, 1]);
});

Deno.test("Intake queues a message again when its handler can't be spawned", async () => {
  await using s = await setup({ free: 1 });
  s.dispatcher.failures = 1;
  // The failed spawn also takes the last slot, so the message stays where we can see it.
  s.dispatcher.onFailure = () => s.dispatcher.free = 0;
  s.arrive(message(1), message(2));
  assert.deepEqual(s.dispatcher.ids, []);
  assert.equal(s.intake.waiting, 2, "message 1 waits again, at the head");
  assert.equal(s.journal.read(1)?.stage, "received");
  assert.equal(s.journal.read(1)?.dispatches, 1, "the failed start was counted");
  s.dispatcher.free = 1;
  s.intake.drain();
  assert.deepEqual(s.dispatcher.ids, [], "a failed spawn is not tried again at once");
  s.clock.ms += 2000;
  s.intake.drain();
  assert.deepEqual(s.dispatcher.ids, [1], "message 1, not message 2");
  assert.equal(s.journal.read(1)?.dispatches, 2);
});

Deno.test("Intake skips an update delivered again after its message finished, and remembers each that finishes", async (t) => {
  const finishedStore = () => {
    const ids = new Set<number>();
    return { ids, has: (id: number) => ids.has(id), add: (id: number) => void ids.add(id) };
  };
  await t.step(
    "a message: its handler removed the entry, then Telegram sent it again",
    async () => {
      const finished = finishedStore();
      await using s = await setup({ finished });
      s.arrive(message(1));
      s.journal.finish(1);
      s.exit(1);
      assert.deepEqual([...finished.ids], [1], "remembered as it finished");
      assert.deepEqual(s.intake.accept([message(1)]), [], "skipped: no journal, no start");
      assert.deepEqual(s.desk.log, ["ack 1"], "and no second 👀");
      assert.deepEqual(s.dispatcher.ids, [1]);
    },
  );
  await t.step("a message finishing (its entry removed, its handler not yet exited)", async () => {
    const finished = finishedStore();
    await using s = await setup({ finished });
    s.arrive(message(1));
    s.journal.finish(1);
    assert.deepEqual(s.intake.accept([message(1)]), [], "still running: not taken again");
    s.exit(1);
    assert.deepEqual(s.intake.accept([message(1)]), [], "finished: not taken again");
    assert.deepEqual(s.dispatcher.ids, [1]);
  });
  await t.step("a command the desk answered", async () => {
    const finished = finishedStore();
    await using s = await setup({ finished });
    take(s.intake, message(2, CHAT, "/status"));
    s.intake.release();
    s.intake.deskDone(2);
    assert.deepEqual(s.intake.accept([message(2, CHAT, "/status")]), []);
    assert.deepEqual(s.desk.log, ["answer 2"], "answered once");
  });
  await t.step("a message still unfinished is not in it", async () => {
    const finished = finishedStore();
    await using s = await setup({ finished });
    s.arrive(message(3));
    assert.deepEqual([...finished.ids], []);
    s.journal.update(3, { stage: "received" });
    s.exit(3, 1);
    assert.deepEqual([...finished.ids], [], "a death is not a finish");
  });
});
