/**
 * Unit tests for `lib/loop/scheduler.ts`: the one owner of a message's life, on fakes
 * (`_scheduler_rig.ts`): a dispatcher whose handlers the test ends by hand, a desk that keeps its
 * jobs, a real journal whose writes fail on demand behind a real `Disk`, clocks moved by hand.
 * The decisions themselves, row by row, are `unit_decide_test.ts`; commands, edits and Stop
 * presses, `unit_scheduler_desk_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Journal } from "../lib/shared/journal.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import { exitStatus, readOnly, schedulerRig } from "./_scheduler_rig.ts";
import {
  captureLog,
  editUpdate,
  PERSON,
  textUpdate,
  trackTimers,
  withDeadline,
} from "./_helpers.ts";

const OTHER = 2002;

Deno.test("Scheduler.take() has the desk acknowledge every message before the journal is touched", async () => {
  await using r = await schedulerRig();
  const { promise: flushed, resolve } = Promise.withResolvers<void>();
  r.desk.flush = flushed;
  const taking = r.take(textUpdate(1), textUpdate(2));
  assert.deepEqual(r.events, ["ack 1", "ack 2"], "no write before the 👀 jobs are out");
  resolve();
  assert.equal(await taking, undefined, "all journaled: all may be confirmed");
  assert.deepEqual(r.events, ["ack 1", "ack 2", "record 1", "record 2"]);
  assert.deepEqual(r.desk.of("ack").map((j) => j.job === "ack" && j.update), [
    textUpdate(1),
    textUpdate(2),
  ]);
});

Deno.test("Scheduler.take() waits for the desk's pipe a moment only: a desk that stopped reading holds nothing up", async () => {
  await using r = await schedulerRig();
  r.desk.flush = new Promise(() => {});
  assert.equal(await withDeadline(r.take(textUpdate(1)), "take() to go on", 2000), undefined);
  assert.equal(r.onDisk(1)?.stage, "received");
});

Deno.test("Scheduler.take() skips what it does not take, and an update it was given before", async () => {
  await using r = await schedulerRig();
  await r.take(textUpdate(1), textUpdate(2, { from: 666 }), { update_id: 3, poll: {} });
  await r.take(textUpdate(1));
  assert.deepEqual(r.events, ["ack 1", "record 1"]);
  assert.equal(r.scheduler.size, 1);
});

Deno.test("Scheduler starts a journaled message once its 👀 is out and a slot is free, each chat in order", async () => {
  // Groups are opt-in: -300 is listed.
  await using r = await schedulerRig({ cap: 2, allowedChats: new Set([-300]) });
  await r.take(
    textUpdate(1),
    textUpdate(2),
    textUpdate(3, { chatId: OTHER }),
    textUpdate(4, { chatId: -300 }),
  );
  assert.deepEqual(r.spawned(), [], "none before its 👀 is out");
  r.ack(2, 3, 1, 4);
  assert.deepEqual(r.spawned(), [3, 1], "oldest first once acked, one per chat, up to the cap");
  assert.equal(r.scheduler.waiting, 2);
  const child = r.child(1);
  assert.equal(child.entry.stage, "started");
  assert.equal(child.entry.dispatches, 1);
  assert.equal(child.entry.startedAt, "2025-03-01T12:00:00.000Z");
  assert.equal(r.onDisk(1)?.stage, "started", "on disk before the handler writes it too");

  r.exit(3, exitStatus(), [{ kind: "finished", updateId: 3 }]);
  assert.deepEqual(r.spawned(), [3, 1, 4], "a free slot: the next chat's head");
  r.exit(1, exitStatus(), [{ kind: "finished", updateId: 1 }]);
  assert.deepEqual(r.spawned(), [3, 1, 4, 2], "then 2, after 1 in its chat");
});

Deno.test("Scheduler starts a message whose 👀 is late, ackWaitMs after it was asked for", async () => {
  await using r = await schedulerRig();
  using _timers = trackTimers();
  await r.take(textUpdate(1));
  r.later(1999);
  assert.deepEqual(r.spawned(), []);
  r.later(1);
  assert.deepEqual(r.spawned(), [1]);
});

Deno.test("Scheduler: a handler that reported finished is finished: its entry removed, the chat's next started", async () => {
  await using r = await schedulerRig();
  await r.take(textUpdate(1), textUpdate(2));
  r.ack(1, 2);
  r.report(1, { kind: "patch", updateId: 1, patch: { stage: "answered" } });
  r.exit(1, exitStatus(), [{ kind: "finished", updateId: 1 }]);
  assert.equal(r.onDisk(1), undefined);
  assert.equal(r.scheduler.size, 1);
  assert.deepEqual(r.spawned(), [1, 2]);
  assert.deepEqual(r.swept, [], "a finished handler's brain is not swept");
});

Deno.test("Scheduler: a handler that died is a death, counted and queued again after a back-off, as a re-run", async () => {
  await using log = await captureLog();
  await using r = await schedulerRig();
  using _timers = trackTimers();
  await r.take(textUpdate(1));
  r.ack(1);
  r.report(1, { kind: "patch", updateId: 1, patch: { stage: "brain", brainRun: "run-1" } });
  r.exit(1, exitStatus(1, "SIGKILL"));
  const onDisk = r.onDisk(1)!;
  assert.deepEqual(
    [onDisk.stage, onDisk.deaths, onDisk.lastEnd, onDisk.rerun, onDisk.brainRun],
    ["received", 1, "killed by SIGKILL", true, undefined],
  );
  assert.deepEqual(r.swept, ["run-1"], "what its brain left is swept");
  assert.ok(
    log.lines.some((l) =>
      /WRN.*update 1 ended without a final reply .* queued again in 1 s/.test(l)
    ),
    log.lines.join(""),
  );
  r.later(999);
  assert.deepEqual(r.spawned(), [1], "not before its back-off");
  r.later(1);
  assert.deepEqual(r.spawned(), [1, 1]);
  assert.equal(r.child(1).entry.dispatches, 2);
  assert.equal(r.child(1).entry.rerun, true);
});

Deno.test("Scheduler gives up a message whose handlers died poisonLimit times: its next handler only says so", async () => {
  await using log = await captureLog();
  await using r = await schedulerRig();
  using _timers = trackTimers();
  await r.take(textUpdate(1));
  r.ack(1);
  for (let death = 1; death <= 3; death++) {
    assert.equal(r.child(1).entry.giveUp, false, `start ${death}`);
    r.exit(1, exitStatus(70));
    r.later(60_000);
  }
  assert.equal(r.spawned().length, 4);
  assert.equal(r.child(1).entry.giveUp, true);
  const said = log.lines.filter((l) => /poison limit/.test(l));
  assert.equal(said.length, 1, log.lines.join(""));
  assert.match(said[0], /ERR.*update 1: 3 handlers died without a reply; giving up/);
});

Deno.test("Scheduler holds a parked message at its chat's head until its time, counting no death", async () => {
  await using r = await schedulerRig();
  using _timers = trackTimers();
  await r.take(textUpdate(1), textUpdate(2));
  r.ack(1, 2);
  const until = new Date(r.clock.wall + 3_600_000).toISOString();
  r.exit(1, exitStatus(), [
    { kind: "patch", updateId: 1, patch: { stage: "received", parkedUntil: until } },
  ]);
  assert.equal(r.onDisk(1)?.parkedUntil, until);
  assert.equal(r.onDisk(1)?.deaths, undefined, "a park is no death");
  r.later(3_599_999);
  assert.deepEqual(r.spawned(), [1], "2 waits behind it");
  r.later(1);
  assert.deepEqual(r.spawned(), [1, 1]);
});

Deno.test("Scheduler.stop(): nothing starts, and a handler that ends leaves its message waiting for the next start", async () => {
  await using r = await schedulerRig();
  await r.take(textUpdate(1), textUpdate(2, { chatId: OTHER }));
  r.ack(1);
  r.scheduler.stop();
  r.ack(2);
  assert.deepEqual(r.spawned(), [1], "none after stop()");
  r.report(1, { kind: "patch", updateId: 1, patch: { stage: "brain", brainRun: "run-1" } });
  r.exit(1, exitStatus(143, "SIGTERM"));
  const onDisk = r.onDisk(1)!;
  assert.deepEqual([onDisk.stage, onDisk.deaths, onDisk.rerun], ["received", undefined, true]);
  assert.deepEqual(r.spawned(), [1]);
});

Deno.test("Scheduler on a disk that can't be written: updates acknowledged but not confirmed, and no message started", async () => {
  await using r = await schedulerRig();
  r.journal.fault = readOnly();
  assert.equal(await r.take(textUpdate(1), textUpdate(2)), 1, "1 must not be confirmed");
  assert.deepEqual(r.desk.of("ack").length, 2, "every 👀 all the same");
  r.ack(1, 2);
  r.later(10_000);
  assert.deepEqual(r.spawned(), [], "nothing runs a brain for what is not journaled");
  assert.equal(r.scheduler.size, 2, "held in memory");

  // Telegram sends them again (unconfirmed), and the disk is back.
  r.journal.fault = undefined;
  assert.equal(await r.take(textUpdate(1), textUpdate(2)), undefined);
  assert.deepEqual(r.desk.of("ack").length, 2, "no second 👀");
  assert.deepEqual(r.spawned(), [1], "acked already: it starts at once");
});

Deno.test("Scheduler on a disk that can't be written: /status is answered, saying so", async () => {
  await using r = await schedulerRig();
  r.journal.fault = readOnly();
  await r.take(textUpdate(1), textUpdate(2, { text: "/status" }));
  const [job] = r.desk.of("command");
  assert.deepEqual(job?.job === "command" && job.update, textUpdate(2, { text: "/status" }));
  const status = job?.job === "command" ? job.status : undefined;
  assert.deepEqual(status?.diskFailing, {
    since: "2025-03-01T12:00:00.000Z",
    error: "PermissionDenied: Read-only file system (os error 30)",
  });
  assert.equal(status?.waiting, 1, "the message waits, in memory");
  r.done(2);
  assert.equal(r.scheduler.size, 1, "the command is done with");
  assert.equal(await r.take(), 1, "and confirmed with what it came with; the message is not");
});

Deno.test("Scheduler: a handler that reported finished is finished though its entry can't be removed; the removal is owed", async () => {
  await using r = await schedulerRig();
  await r.take(textUpdate(1), textUpdate(2));
  r.ack(1, 2);
  r.journal.fault = readOnly();
  r.exit(1, exitStatus(), [{ kind: "finished", updateId: 1 }]);
  assert.equal(r.scheduler.size, 1, "forgotten");
  assert.deepEqual(r.spawned(), [1, 2], "its chat goes on");
  assert.equal(r.onDisk(1)?.stage, "started", "still on disk");
  r.journal.fault = undefined;
  r.exit(2, exitStatus(), [{ kind: "finished", updateId: 2 }]);
  assert.equal(r.onDisk(1), undefined, "removed once the disk lets it");
  assert.equal(r.onDisk(2), undefined);
});

Deno.test("Scheduler counts a death it can't write: the poison limit holds though the disk fails", async () => {
  await using r = await schedulerRig();
  using _timers = trackTimers();
  await r.take(textUpdate(1));
  r.ack(1);
  r.journal.fault = readOnly();
  for (let death = 1; death <= 3; death++) {
    r.exit(1, exitStatus(1));
    r.later(60_000);
  }
  assert.equal(r.child(1).entry.deaths, 3, "counted in memory");
  assert.equal(r.child(1).entry.giveUp, true);
  assert.equal(r.onDisk(1)?.deaths, undefined, "the disk never heard of them");
});

Deno.test("Scheduler: what a handler reports is what it decides from; a report of a handler that is not the message's is ignored", async () => {
  await using r = await schedulerRig();
  using _timers = trackTimers();
  await r.take(textUpdate(1));
  r.ack(1);
  const first = r.child(1);
  r.exit(1, exitStatus(1));
  r.later(1000);
  // A late report of the first handler (read after its exit was handled) must not finish the
  // second handler's message.
  r.scheduler.onReport(first, { kind: "finished", updateId: 1 });
  assert.equal(r.scheduler.size, 1);
  r.report(1, { kind: "patch", updateId: 1, patch: { stage: "answered" } });
  r.exit(1, exitStatus(1));
  assert.equal(r.onDisk(1)?.stage, "answered", "an answered message keeps its answer");
  assert.ok(!r.onDisk(1)?.rerun, "and is no re-run");
});

Deno.test("Scheduler tries a handler that could not be spawned again after a pause, its entry as it was", async () => {
  await using log = await captureLog();
  await using r = await schedulerRig();
  using _timers = trackTimers();
  r.dispatcher.failNext = 1;
  await r.take(textUpdate(1));
  r.ack(1);
  assert.deepEqual(r.spawned(), []);
  assert.ok(r.events.includes("spawn failed 1"));
  assert.equal(r.onDisk(1)?.stage, "received", "as it was");
  assert.equal(r.onDisk(1)?.dispatches, 0);
  assert.ok(log.lines.some((l) => /ERR.*dispatch crash: update 1/.test(l)), log.lines.join(""));
  r.later(1999);
  assert.deepEqual(r.spawned(), []);
  r.later(1);
  assert.deepEqual(r.spawned(), [1]);
  assert.equal(r.child(1).entry.dispatches, 1);
});

Deno.test("Scheduler.recover() takes an earlier run's messages first, cut-off ones as deaths, and has each acknowledged again", async () => {
  const entries: [number, Partial<JournalEntry>][] = [
    [3, { stage: "brain", brainRun: "run-3", dispatches: 1 }],
    [4, {}],
    [5, { stage: "answered", answer: { head: "", body: "42", emoji: "👌", sent: 0 } }],
  ];
  await using r = await schedulerRig({
    prepare(journal) {
      for (const [id, patch] of entries) {
        journal.record(textUpdate(id), { updateId: id, chatId: id === 5 ? OTHER : PERSON });
        journal.update(id, patch);
      }
    },
  });
  r.scheduler.recover();
  const onDisk = r.onDisk(3)!;
  assert.deepEqual([onDisk.stage, onDisk.deaths, onDisk.rerun], ["received", 1, true]);
  assert.deepEqual(r.desk.of("ack").map((j) => j.job === "ack" && j.update), [
    textUpdate(3),
    textUpdate(4),
    textUpdate(5),
  ]);
  assert.equal(r.scheduler.size, 3);
  r.ack(3, 4, 5);
  assert.deepEqual(r.spawned(), [3, 5]);
  assert.equal(r.child(5).entry.stage, "answered", "only its sending is left");
  // Telegram may send an earlier run's update again: it is known.
  await r.take(textUpdate(4));
  assert.equal(r.desk.of("ack").length, 3);
});

Deno.test("Scheduler.recover() makes a steered message agree with its host's entry, which a re-run reads", async (t) => {
  const steer = { updateId: 2, messageId: 102, text: "and staging" };
  const cutOffWith = (steers: JournalEntry["steers"], steeredInto?: number) => ({
    prepare(journal: Journal) {
      journal.record(textUpdate(1), { updateId: 1, chatId: PERSON });
      journal.update(1, { stage: "brain", brainRun: "run-1", dispatches: 1, steers });
      journal.record(textUpdate(2, { text: "and staging" }), { updateId: 2, chatId: PERSON });
      if (steeredInto !== undefined) journal.update(2, { steeredInto });
    },
  });
  await t.step(
    "listed by its host but not marked: marked, and answered with its host",
    async () => {
      await using r = await schedulerRig(cutOffWith([steer]));
      r.scheduler.recover();
      assert.equal(r.onDisk(2)?.steeredInto, 1);
      assert.deepEqual(r.desk.of("ack").map((j) => j.job === "ack" && j.update), [textUpdate(1)]);
      r.ack(1);
      r.exit(1, exitStatus(), [{ kind: "finished", updateId: 1 }]);
      assert.deepEqual(r.spawned(), [1], "no brain of its own: its host's re-run took it in");
      assert.equal(r.scheduler.size, 0);
    },
  );
  await t.step("marked but not listed by its host: it waits its own turn", async () => {
    await using r = await schedulerRig(cutOffWith(undefined, 1));
    r.scheduler.recover();
    assert.equal(r.onDisk(2)?.steeredInto, undefined);
    r.ack(1, 2);
    r.exit(1, exitStatus(), [{ kind: "finished", updateId: 1 }]);
    assert.deepEqual(r.spawned(), [1, 2], "answered on its own, after its host");
  });
  await t.step("marked and listed: left as it is", async () => {
    await using r = await schedulerRig(cutOffWith([steer], 1));
    r.scheduler.recover();
    assert.equal(r.onDisk(2)?.steeredInto, 1);
    r.ack(1);
    r.exit(1, exitStatus(), [{ kind: "finished", updateId: 1 }]);
    assert.deepEqual(r.spawned(), [1]);
    assert.equal(r.scheduler.size, 0);
  });
});

Deno.test("Scheduler.recover(): a message steered into one whose entry was found cut waits its own turn", async () => {
  await using r = await schedulerRig({
    prepare(journal) {
      const cut = JSON.stringify({ updateId: 8, chatId: PERSON, update: textUpdate(8) });
      Deno.writeTextFileSync(`${journal.dir}/8.json`, cut.slice(0, cut.indexOf('"date"')));
      journal.record(textUpdate(9, { text: "and staging" }), { updateId: 9, chatId: PERSON });
      journal.update(9, { steeredInto: 8 });
    },
  });
  r.scheduler.recover();
  assert.equal(r.desk.of("lost").length, 1, "the cut one's person is told");
  assert.equal(r.onDisk(9)?.steeredInto, undefined);
  r.ack(9);
  assert.deepEqual(r.spawned(), [9], "answered on its own");
});

Deno.test("Scheduler: a host that died between recording a steer and saying so took it in", async (t) => {
  const steer = { updateId: 2, messageId: 102, text: "and staging" };
  const steeredThenDies = async (r: Awaited<ReturnType<typeof schedulerRig>>) => {
    await r.take(textUpdate(1));
    r.ack(1);
    await r.take(textUpdate(2, { text: "and staging" }));
    r.ack(2);
    assert.ok(r.child(1).controls.some((c) => c.kind === "steer"));
    // Its entry lists the steer; the "steered" report never came.
    r.report(1, { kind: "patch", updateId: 1, patch: { steers: [steer] } });
  };
  await t.step("cut off: the steer waits with it, for its re-run", async () => {
    await using r = await schedulerRig({ busyMode: "steer" });
    using _timers = trackTimers();
    await steeredThenDies(r);
    r.exit(1, exitStatus(1, "SIGKILL"));
    assert.equal(r.onDisk(2)?.steeredInto, 1);
    r.later(60_000);
    assert.deepEqual(r.spawned(), [1, 1], "the host again, never the steer on its own");
  });
  await t.step("finished: the steer ends with it", async () => {
    await using r = await schedulerRig({ busyMode: "steer" });
    await steeredThenDies(r);
    r.exit(1, exitStatus(), [{ kind: "finished", updateId: 1 }]);
    assert.equal(r.scheduler.size, 0);
    assert.deepEqual(r.spawned(), [1]);
  });
});

Deno.test("Scheduler.recover() has the desk tell the person of an entry found cut, and answer an earlier run's command", async () => {
  await using r = await schedulerRig({
    prepare(journal) {
      journal.record(textUpdate(6, { text: "/status" }), { updateId: 6, chatId: PERSON });
      const cut = JSON.stringify({ updateId: 8, chatId: PERSON, update: textUpdate(8) });
      Deno.writeTextFileSync(`${journal.dir}/8.json`, cut.slice(0, cut.indexOf('"date"')));
    },
  });
  r.scheduler.recover();
  assert.deepEqual(r.desk.of("lost"), [{
    job: "lost",
    updateId: 8,
    chatId: PERSON,
    messageId: 108,
  }]);
  assert.equal(r.desk.of("command").length, 1);
  assert.equal(r.desk.of("ack").length, 0, "a command is not acknowledged with 👀");
  r.done(6);
  assert.equal(r.onDisk(6), undefined, "done: removed");
});

Deno.test("Scheduler.recover() of a message withdrawn before the earlier run ended: only the desk's reply is left", async () => {
  await using r = await schedulerRig({
    prepare(journal) {
      journal.record(textUpdate(4), { updateId: 4, chatId: PERSON });
      journal.update(4, { withdrawn: true });
    },
  });
  r.scheduler.recover();
  assert.deepEqual(r.desk.jobs, [{ job: "withdraw", update: textUpdate(4) }]);
  r.later(10_000);
  assert.deepEqual(r.spawned(), [], "it never reaches a brain");
  r.done(4);
  assert.equal(r.scheduler.size, 0);
});

Deno.test("Scheduler: an edit of a message that waits changes the text its handler will get", async () => {
  await using r = await schedulerRig();
  await r.take(textUpdate(1));
  await r.take(editUpdate(2, 101, { text: "better" }));
  r.ack(1);
  assert.deepEqual(r.child(1).entry.edit, { editUpdateId: 2, text: "better" });
});

Deno.test("Scheduler looks at a park longer than Deno's longest timer again within it, never at once", async () => {
  await using r = await schedulerRig({ cap: 1 });
  await r.take(textUpdate(1));
  r.ack(1);
  const month = 30 * 24 * 3600_000;
  const delays: number[] = [];
  const real = globalThis.setTimeout;
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    delays.push(ms ?? 0);
    return real(fn, ms);
  }) as typeof setTimeout;
  try {
    const parkedUntil = new Date(r.clock.wall + month).toISOString();
    r.exit(1, exitStatus(), [
      { kind: "patch", updateId: 1, patch: { stage: "received", parkedUntil, parkedMs: month } },
    ]);
  } finally {
    globalThis.setTimeout = real;
  }
  assert.ok(delays.length > 0, "the park is looked at again later");
  // Deno wraps a longer delay round to almost nothing, and the loop would spin.
  assert.ok(delays.every((ms) => ms <= 2 ** 31 - 1), `delays: ${delays}`);
  assert.deepEqual(r.spawned(), [1], "not started again");
});

Deno.test("Scheduler steers a message into its chat's working brain; one taken back waits its turn, one taken ends with its host", async (t) => {
  await t.step("taken, then taken back by the host (its turn ended without it)", async () => {
    await using r = await schedulerRig({ busyMode: "steer" });
    await r.take(textUpdate(1));
    r.ack(1);
    await r.take(textUpdate(2, { text: "and staging" }));
    r.ack(2);
    const steer = r.child(1).controls.find((c) => c.kind === "steer");
    assert.deepEqual(steer, {
      kind: "steer",
      steer: { updateId: 2, messageId: 102, text: "and staging" },
    });
    const steered = { kind: "steered", updateId: 1, steerUpdateId: 2 } as const;
    r.report(1, { ...steered, taken: true });
    assert.equal(r.onDisk(2)?.steeredInto, 1, "journaled as steered into its host");
    r.report(1, { ...steered, taken: false, reason: "late" });
    assert.equal(r.onDisk(2)?.steeredInto, undefined, "no longer steered");
    r.exit(1, exitStatus(), [{ kind: "finished", updateId: 1 }]);
    assert.deepEqual(r.spawned(), [1, 2], "it gets a brain of its own, after its host");
    assert.equal(r.onDisk(2)?.stage, "started");
  });
  await t.step("taken: finished with its host, no brain of its own", async () => {
    await using r = await schedulerRig({ busyMode: "steer" });
    await r.take(textUpdate(1));
    r.ack(1);
    await r.take(textUpdate(2, { text: "and staging" }));
    r.ack(2);
    r.report(1, { kind: "steered", updateId: 1, steerUpdateId: 2, taken: true });
    r.exit(1, exitStatus(), [{ kind: "finished", updateId: 1 }]);
    assert.deepEqual(r.spawned(), [1]);
    assert.equal(r.onDisk(2), undefined, "finished");
    assert.equal(r.scheduler.size, 0);
  });
  await t.step("a take-back from a handler that is not the host is ignored", async () => {
    await using r = await schedulerRig({ busyMode: "steer" });
    await r.take(textUpdate(1), textUpdate(3, { chatId: OTHER }));
    r.ack(1, 3);
    await r.take(textUpdate(2, { text: "and staging" }));
    r.ack(2);
    r.report(1, { kind: "steered", updateId: 1, steerUpdateId: 2, taken: true });
    r.report(3, { kind: "steered", updateId: 3, steerUpdateId: 2, taken: false, reason: "late" });
    assert.equal(r.onDisk(2)?.steeredInto, 1);
  });
});
