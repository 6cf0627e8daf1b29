/**
 * Unit tests for `lib/loop/scheduler_desk.ts`: every update that does not take a turn (a command,
 * a Stop press, an edit) decided from what the scheduler holds, told to a working message's
 * handler over its line, and given to the desk as a job that says what to answer. Through the
 * `Scheduler` on fakes (`_scheduler_rig.ts`); `/cancel`'s rule, row by row, is
 * `unit_decide_test.ts`'s.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { DeskJob } from "../lib/shared/line.ts";
import { exitStatus, type SchedulerRig, schedulerRig } from "./_scheduler_rig.ts";
import { editUpdate, PERSON, pressUpdate, textUpdate } from "./_helpers.ts";

const OTHER = 2002;

/** The last desk job about update `updateId`. */
function jobFor(r: SchedulerRig, updateId: number): DeskJob | undefined {
  return r.desk.jobs.findLast((j) =>
    j.job !== "lost" && (j.update as { update_id: number }).update_id === updateId
  );
}

/** Messages 1 (running, at `stage`) and 2 (waiting) in the person's chat. */
async function runningAndWaiting(r: SchedulerRig, stage: "started" | "brain" | "answered") {
  await r.take(textUpdate(1), textUpdate(2));
  r.ack(1, 2);
  if (stage !== "started") r.report(1, { kind: "patch", updateId: 1, patch: { stage } });
  assert.deepEqual(r.spawned(), [1]);
}

Deno.test("/status: the desk is given the view of the bot and of the person's chat", async () => {
  await using r = await schedulerRig({ cap: 3 });
  await runningAndWaiting(r, "brain");
  await r.take(textUpdate(3, { chatId: OTHER }), textUpdate(4, { chatId: OTHER }));
  r.ack(3);
  await r.take(textUpdate(9, { text: "/status" }));
  const job = jobFor(r, 9);
  assert.ok(job?.job === "command" && job.status !== undefined, JSON.stringify(job));
  const { running, ...view } = job.status;
  assert.equal(running?.updateId, 1);
  assert.equal(running?.stage, "brain", "as its handler reported it");
  assert.deepEqual(view, {
    startedAt: "2025-03-01T12:00:00.000Z",
    live: 2,
    cap: 3,
    waiting: 1,
    waitingInAll: 2,
    delivering: 0,
    parked: undefined,
    diskFailing: undefined,
    telegramFailing: undefined,
    box: { jobs: 0, files: 0 },
  });
  assert.equal(job.cancel, undefined);
});

Deno.test("Another command goes to the desk as it is; once it is done, it is finished", async () => {
  await using r = await schedulerRig();
  await r.take(textUpdate(9, { text: "/new" }));
  assert.deepEqual(r.desk.jobs, [{ job: "command", update: textUpdate(9, { text: "/new" }) }]);
  assert.equal(r.onDisk(9)?.stage, "received", "journaled like any update");
  r.done(9);
  assert.equal(r.scheduler.size, 0);
  assert.equal(r.onDisk(9), undefined);
  r.later(10_000);
  assert.deepEqual(r.spawned(), [], "a command never reaches a brain");
});

Deno.test("/cancel with nothing running: the verdict says so, and nobody is told to stop", async () => {
  await using r = await schedulerRig();
  await r.take(textUpdate(1));
  await r.take(textUpdate(9, { text: "/cancel" }));
  const job = jobFor(r, 9);
  assert.deepEqual(job?.job === "command" && job.cancel, { kind: "nothing" });
});

Deno.test("/cancel of the running message: its handler is told over the line", async (t) => {
  for (const stage of ["started", "brain"] as const) {
    await t.step(stage, async () => {
      await using r = await schedulerRig();
      await runningAndWaiting(r, stage);
      await r.take(textUpdate(9, { text: "/cancel" }));
      assert.deepEqual(r.child(1).controls, [{ kind: "cancel", by: "/cancel" }]);
      const job = jobFor(r, 9);
      assert.deepEqual(job?.job === "command" && job.cancel, {
        kind: "stopping",
        messageId: 101,
        brain: stage === "brain",
      });
      assert.equal(r.scheduler.size, 3, "the handler says how it ends");
    });
  }
});

Deno.test("/cancel of a parked message withdraws the messages steered into it with it: 👎 on each, all finished", async () => {
  const steer = { updateId: 2, messageId: 102, text: "and staging" };
  await using r = await schedulerRig({
    prepare(journal) {
      journal.record(textUpdate(1), { updateId: 1, chatId: PERSON });
      journal.update(1, { parkedUntil: "2099-01-01T00:00:00.000Z", steers: [steer] });
      journal.record(textUpdate(2, { text: "and staging" }), { updateId: 2, chatId: PERSON });
      journal.update(2, { steeredInto: 1 });
    },
  });
  r.scheduler.recover();
  await r.take(textUpdate(3, { text: "/cancel" }));
  assert.deepEqual(jobFor(r, 1), { job: "withdraw", update: textUpdate(1), steered: [102] });
  r.done(1);
  r.done(3);
  assert.equal(r.scheduler.size, 0, "the steered message is not left held");
  assert.equal(r.onDisk(2), undefined);
});

Deno.test("/cancel in reply to a waiting message: withdrawn, never started, the desk says so", async () => {
  await using r = await schedulerRig();
  await runningAndWaiting(r, "brain");
  await r.take(textUpdate(9, { text: "/cancel", replyTo: 102 }));
  const job = jobFor(r, 9);
  assert.deepEqual(job?.job === "command" && job.cancel, { kind: "withdrawn", messageId: 102 });
  assert.deepEqual(jobFor(r, 2), { job: "withdraw", update: textUpdate(2) });
  assert.equal(r.onDisk(2)?.withdrawn, true, "a restart won't run it either");
  assert.deepEqual(r.child(1).controls, [], "the running one goes on");
  r.exit(1, undefined, [{ kind: "finished", updateId: 1 }]);
  r.later(10_000);
  assert.deepEqual(r.spawned(), [1], "2 never starts");
  r.done(2);
  r.done(9);
  assert.equal(r.scheduler.size, 0);
  assert.equal(r.onDisk(2), undefined);
});

Deno.test("/cancel in reply to a message whose answer is on its way: nothing is stopped", async () => {
  await using r = await schedulerRig();
  await runningAndWaiting(r, "answered");
  await r.take(textUpdate(9, { text: "/cancel", replyTo: 101 }));
  const job = jobFor(r, 9);
  assert.deepEqual(job?.job === "command" && job.cancel, { kind: "delivering", messageId: 101 });
  assert.deepEqual(r.child(1).controls, []);
});

Deno.test("A Stop press interrupts the running message of its chat, over its line", async () => {
  await using r = await schedulerRig();
  await runningAndWaiting(r, "brain");
  await r.take(pressUpdate(9, 1));
  assert.deepEqual(r.child(1).controls, [{ kind: "interrupt", by: "Stop" }]);
  assert.deepEqual(jobFor(r, 9), { job: "press", update: pressUpdate(9, 1), answer: "stopping" });
});

Deno.test("A draft's Stop interrupts the running message it was drafted for", async () => {
  await using r = await schedulerRig();
  await runningAndWaiting(r, "brain");
  const stop = { update_id: 9, stopped_message_generation: { chat: { id: PERSON }, draft_id: 2 } };
  await r.take(stop);
  assert.deepEqual(r.child(1).controls, [{ kind: "interrupt", by: "Stop" }]);
  assert.deepEqual(jobFor(r, 9), { job: "press", update: stop, answer: "stopping" });
});

Deno.test("A Stop press stops nothing: from another chat, for a message not running, or answered", async (t) => {
  const cases: [string, (r: SchedulerRig) => Promise<unknown>, "started" | "brain" | "answered"][] =
    [
      ["another chat's press", (r) => r.take(pressUpdate(9, 1, OTHER)), "brain"],
      ["a waiting message", (r) => r.take(pressUpdate(9, 2)), "brain"],
      ["a message long finished", (r) => r.take(pressUpdate(9, 77)), "brain"],
      ["an answer on its way", (r) => r.take(pressUpdate(9, 1)), "answered"],
    ];
  for (const [name, press, stage] of cases) {
    await t.step(name, async () => {
      await using r = await schedulerRig({ authorized: new Set([PERSON, OTHER]) });
      await runningAndWaiting(r, stage);
      await press(r);
      assert.deepEqual(r.child(1).controls, []);
      const job = jobFor(r, 9);
      assert.equal(job?.job === "press" && job.answer, "nothing");
    });
  }
});

Deno.test("An edit of a waiting message is kept in its entry for its handler; the latest edit wins", async () => {
  await using r = await schedulerRig();
  await runningAndWaiting(r, "brain");
  await r.take(editUpdate(12, 102, { text: "second" }));
  await r.take(editUpdate(11, 102, { text: "first (came late)" }));
  assert.deepEqual(r.onDisk(2)?.edit, { editUpdateId: 12, text: "second" });
  assert.deepEqual(jobFor(r, 12), {
    job: "edit",
    update: editUpdate(12, 102, { text: "second" }),
    late: undefined,
  });
  assert.equal((jobFor(r, 11) as { late?: string }).late, undefined, "covered: nothing to say");
  r.exit(1, undefined, [{ kind: "finished", updateId: 1 }]);
  assert.deepEqual(r.child(2).entry.edit, { editUpdateId: 12, text: "second" });
});

Deno.test("An edit of a message whose handler works, before its brain: the handler is told, and says whether it was in time", async (t) => {
  for (const taken of [true, false]) {
    await t.step(taken ? "taken" : "too late", async () => {
      await using r = await schedulerRig();
      await runningAndWaiting(r, "started");
      await r.take(editUpdate(12, 101, { text: "better" }));
      assert.deepEqual(r.child(1).controls, [
        { kind: "edit", edit: { editUpdateId: 12, text: "better" } },
      ]);
      assert.equal(jobFor(r, 12), undefined, "not answered until the handler says");
      r.report(1, { kind: "edit", updateId: 1, editUpdateId: 12, taken });
      const job = jobFor(r, 12);
      assert.equal(job?.job === "edit" && job.late, taken ? undefined : "working");
      r.report(1, { kind: "edit", updateId: 1, editUpdateId: 12, taken: true });
      assert.equal(r.desk.of("edit").length, 1, "answered once");
    });
  }
});

Deno.test("An edit told to a handler that ends without saying came too late for it", async () => {
  await using r = await schedulerRig();
  await runningAndWaiting(r, "started");
  await r.take(editUpdate(12, 101));
  r.exit(1, undefined, [{ kind: "finished", updateId: 1 }]);
  const job = jobFor(r, 12);
  assert.equal(job?.job === "edit" && job.late, "working");
});

Deno.test("An edit of a message in its brain, answered, or not held: too late, said at once", async (t) => {
  const cases: [string, "brain" | "answered", number, "working" | "answered"][] = [
    ["in its brain", "brain", 101, "working"],
    ["answered", "answered", 101, "answered"],
    ["long finished", "brain", 77, "answered"],
  ];
  for (const [name, stage, messageId, late] of cases) {
    await t.step(name, async () => {
      await using r = await schedulerRig();
      await runningAndWaiting(r, stage);
      await r.take(editUpdate(12, messageId));
      assert.deepEqual(r.child(1).controls, []);
      const job = jobFor(r, 12);
      assert.equal(job?.job === "edit" && job.late, late);
    });
  }
});

Deno.test("An edit report for an edit not told to that handler is ignored", async () => {
  await using r = await schedulerRig();
  await runningAndWaiting(r, "started");
  r.report(1, { kind: "edit", updateId: 1, editUpdateId: 12, taken: false });
  assert.equal(r.desk.of("edit").length, 0);
});

/** A press on an ask's button: `ap:<update>:<dispatch>:<ask>:<a|A|d>`. */
function askPress(updateId: number, data: string) {
  return {
    update_id: updateId,
    callback_query: {
      id: `q${updateId}`,
      from: { id: PERSON, is_bot: false, first_name: "P" },
      chat_instance: "c",
      data,
      message: { message_id: 77, chat: { id: PERSON, type: "private" }, date: 0 },
    },
  };
}

Deno.test("An answer to an ask reaches the handler that asked; an earlier run's ask answers nothing", async (t) => {
  await t.step("the ask of this run: its answer goes over the line", async () => {
    await using r = await schedulerRig();
    await runningAndWaiting(r, "brain");
    r.report(1, { kind: "patch", updateId: 1, patch: { asking: [{ seq: 1, tool: "Bash" }] } });
    await r.take(askPress(9, "ap:1:1:1:a"));
    assert.deepEqual(r.child(1).controls, [{ kind: "approval", seq: 1, decision: "allow" }]);
    const job = jobFor(r, 9);
    assert.equal(job?.job === "press" && job.answer, "allowed");
  });
  await t.step("an ask of the run before a restart or a death: stale, nothing sent", async () => {
    await using r = await schedulerRig();
    await runningAndWaiting(r, "brain");
    r.report(1, { kind: "patch", updateId: 1, patch: { asking: [{ seq: 1, tool: "Bash" }] } });
    // Its handler dies while it asks: the re-run starts with no ask, and numbers its own from 1.
    r.exit(1, exitStatus(1));
    assert.equal(r.scheduler.size, 2);
    r.later(60_000);
    assert.equal(r.child(1).entry.asking, undefined, "no ask carried over to the re-run");
    r.report(1, { kind: "patch", updateId: 1, patch: { asking: [{ seq: 1, tool: "Edit" }] } });
    await r.take(askPress(9, "ap:1:1:1:a"));
    assert.deepEqual(r.child(1).controls, [], "the old button answers nothing");
    const job = jobFor(r, 9);
    assert.equal(job?.job === "press" && job.answer, "stale");
  });
});
