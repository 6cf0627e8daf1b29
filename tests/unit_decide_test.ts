/**
 * The scheduler's decisions as tables (`lib/loop/decide.ts`): what follows a handler's end
 * (reported outcome × what is held → next step), a cut-off found at start, a start, and a
 * `/cancel`. Each table is checked three ways:
 *
 * 1. the pure function gives each row's next step;
 * 2. each row fails against a wrong rule it names (a plausible mistake), so no row is one that
 *    cannot fail;
 * 3. the `Scheduler` (`_scheduler_rig.ts`) takes that step whatever the disk says: writable,
 *    read-only, or holding a copy that contradicts what the handler reported. A scheduler that
 *    decided from a re-read of the disk would fail the rows of the last two columns.
 *
 * @module
 */

import assert, { AssertionError } from "node:assert/strict";
import {
  afterCutOff,
  afterHandler,
  type CancelCandidate,
  type CancelDecision,
  decideBusy,
  decideCancel,
  type EndContext,
  type HandlerEnd,
  type StartOptions,
  startPatch,
} from "../lib/loop/decide.ts";
import { type JournalEntry, patched } from "../lib/shared/journal_entry.ts";
import { exitStatus, readOnly, type SchedulerRig, schedulerRig } from "./_scheduler_rig.ts";
import { PERSON, textUpdate, trackTimers } from "./_helpers.ts";

const WALL = Date.parse("2025-03-01T12:00:00.000Z");
const HOUR = 3_600_000;
const ANSWER = { head: "", body: "42", emoji: "👌", sent: 1 };

/** Message 1 as held, with `patch`. */
function held(patch: Partial<JournalEntry> = {}): JournalEntry {
  return {
    updateId: 1,
    chatId: PERSON,
    update: textUpdate(1),
    stage: "started",
    dispatches: 1,
    receivedAt: new Date(WALL).toISOString(),
    ...patch,
  };
}

/** The disk, as the scheduler finds it when a handler ends. */
type DiskState = "writable" | "read-only" | "contradicting";
const DISK_STATES: DiskState[] = ["writable", "read-only", "contradicting"];

/** Runs the row's pure checks against `decide`; throws an AssertionError when they fail. */
function expectRow<R, E>(row: { expect: E }, decide: () => R, view: (result: R) => E): void {
  assert.deepEqual(compact(view(decide())), row.expect);
}

/** `value` without its fields that are undefined (an absent field and an undefined one are one). */
function compact<T>(value: T): T {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, compact(v)]),
  ) as T;
}

// ---- a handler's end ----------------------------------------------------------------------------

/** What is left of a message after a handler's end, as the rows say it. */
interface EndStep {
  kind: HandlerEnd["kind"];
  stage?: JournalEntry["stage"];
  deaths?: number;
  rerun?: boolean;
  lastEnd?: string;
  /** How long before it starts again (died, parked). */
  waitMs?: number;
}

interface EndRow {
  name: string;
  /** What the handler's reports left in memory (on top of message 1, started). */
  held: Partial<JournalEntry>;
  /** The handler reported its message finished. */
  finished: boolean;
  status: Deno.CommandStatus;
  stopping?: boolean;
  expect: EndStep;
  /** A wrong rule this row catches. */
  wrong: { rule: string; decide: typeof afterHandler };
}

/** The next step, read from a decision. */
function endStep(entry: JournalEntry, end: HandlerEnd): EndStep {
  if (end.kind === "finished") return { kind: "finished" };
  const after = end.kind === "parked" ? entry : patched(entry, end.patch ?? {});
  const step: EndStep = {
    kind: end.kind,
    stage: after.stage,
    deaths: after.deaths,
    rerun: after.rerun,
    lastEnd: after.lastEnd,
  };
  if (end.kind === "died" || end.kind === "parked") step.waitMs = end.waitMs;
  return step;
}

/** A wrong rule: `afterHandler` with its input or output bent by `bend`. */
function bent(
  bend: (entry: JournalEntry, context: EndContext) => HandlerEnd,
): typeof afterHandler {
  return bend;
}

const PARKED_UNTIL = new Date(WALL + HOUR).toISOString();

const END_ROWS: EndRow[] = [
  {
    name: "finished reported, its answer delivered",
    held: { stage: "replied", answer: ANSWER },
    finished: true,
    status: exitStatus(0),
    expect: { kind: "finished" },
    wrong: {
      rule: "the stage read back from the disk decides, not the report",
      decide: bent((e, c) => afterHandler({ ...e, stage: "brain" }, { ...c, finished: false })),
    },
  },
  {
    name: "finished reported, though the handler then died (its exit is no death)",
    held: { stage: "answered", answer: ANSWER },
    finished: true,
    status: exitStatus(1, "SIGKILL"),
    expect: { kind: "finished" },
    wrong: {
      rule: "a finished report is ignored",
      decide: bent((e, c) => afterHandler(e, { ...c, finished: false })),
    },
  },
  {
    name: "replied but not yet reported finished: only the removal was left",
    held: { stage: "replied", answer: ANSWER },
    finished: false,
    status: exitStatus(1),
    expect: { kind: "finished" },
    wrong: {
      rule: "only a finished report finishes",
      decide: bent((e, c) =>
        c.finished ? { kind: "finished" } : afterHandler({ ...e, stage: "answered" }, c)
      ),
    },
  },
  {
    name: "exit 0 without a report is no reply: a death",
    held: { stage: "started" },
    finished: false,
    status: exitStatus(0),
    expect: {
      kind: "died",
      stage: "received",
      deaths: 1,
      rerun: false,
      lastEnd: "exit status 0",
      waitMs: 1000,
    },
    wrong: {
      rule: "a clean exit is taken as finished",
      decide: bent((e, c) => c.status?.success ? { kind: "finished" } : afterHandler(e, c)),
    },
  },
  {
    name: "died in its brain: a death, a re-run, after the first back-off",
    held: { stage: "brain", attempt: 1, brainRun: "run-1" },
    finished: false,
    status: exitStatus(1),
    expect: {
      kind: "died",
      stage: "received",
      deaths: 1,
      rerun: true,
      lastEnd: "exit status 1",
      waitMs: 1000,
    },
    wrong: {
      rule: "a death is not counted",
      decide: bent((e, c) => {
        const end = afterHandler(e, c);
        return end.kind === "died" ? { ...end, patch: { ...end.patch, deaths: e.deaths } } : end;
      }),
    },
  },
  {
    name: "killed in its brain after two deaths: the back-off doubles each time",
    held: { stage: "brain", deaths: 2, rerun: true },
    finished: false,
    status: exitStatus(137, "SIGKILL"),
    expect: {
      kind: "died",
      stage: "received",
      deaths: 3,
      rerun: true,
      lastEnd: "killed by SIGKILL",
      waitMs: 4000,
    },
    wrong: {
      rule: "the back-off does not grow",
      decide: bent((e, c) => {
        const end = afterHandler(e, c);
        return end.kind === "died" ? { ...end, waitMs: 1000 } : end;
      }),
    },
  },
  {
    name: "died before its brain: a death, not a re-run",
    held: { stage: "started" },
    finished: false,
    status: exitStatus(70),
    expect: {
      kind: "died",
      stage: "received",
      deaths: 1,
      rerun: false,
      lastEnd: "exit status 70",
      waitMs: 1000,
    },
    wrong: {
      rule: "every death is a re-run",
      decide: bent((e, c) => afterHandler({ ...e, stage: "brain" }, c)),
    },
  },
  {
    name: "died with its answer journaled: it keeps it (only sending is left)",
    held: { stage: "answered", answer: ANSWER, brainRun: "run-1" },
    finished: false,
    status: exitStatus(1),
    expect: { kind: "died", stage: "answered", deaths: 1, lastEnd: "exit status 1", waitMs: 1000 },
    wrong: {
      rule: "every death goes back to waiting (the brain runs again)",
      decide: bent((e, c) => afterHandler({ ...e, stage: "started" }, c)),
    },
  },
  {
    name: "parked by its brain: not a death, it waits until then",
    held: { stage: "received", parkedUntil: PARKED_UNTIL, parkNotified: true },
    finished: false,
    status: exitStatus(0),
    expect: { kind: "parked", stage: "received", waitMs: HOUR },
    wrong: {
      rule: "a park is a death",
      decide: bent((e, c) => afterHandler({ ...e, parkedUntil: undefined }, c)),
    },
  },
  {
    name: "parked as the bot stops: left as it is",
    held: { stage: "received", parkedUntil: PARKED_UNTIL },
    finished: false,
    status: exitStatus(143, "SIGTERM"),
    stopping: true,
    expect: { kind: "left", stage: "received" },
    wrong: {
      rule: "a stop is not heeded",
      decide: bent((e, c) => afterHandler(e, { ...c, stopping: false })),
    },
  },
  {
    name: "stopped in its brain as the bot stops: waits for the next start, no death",
    held: { stage: "brain", brainRun: "run-1" },
    finished: false,
    status: exitStatus(143, "SIGTERM"),
    stopping: true,
    expect: { kind: "left", stage: "received", rerun: true },
    wrong: {
      rule: "a stop counts a death",
      decide: bent((e, c) => afterHandler(e, { ...c, stopping: false })),
    },
  },
  {
    name: "stopped while sending its answer: it keeps it",
    held: { stage: "answered", answer: ANSWER },
    finished: false,
    status: exitStatus(143, "SIGTERM"),
    stopping: true,
    expect: { kind: "left", stage: "answered" },
    wrong: {
      rule: "a stop puts every message back to waiting",
      decide: bent((e, c) => afterHandler({ ...e, stage: "started" }, c)),
    },
  },
];

function endContext(row: EndRow): EndContext {
  return {
    finished: row.finished,
    status: row.status,
    stopping: row.stopping ?? false,
    wallNow: WALL,
  };
}

Deno.test("afterHandler() gives each row's next step", async (t) => {
  for (const row of END_ROWS) {
    await t.step(row.name, () => {
      const entry = held(row.held);
      expectRow(row, () => afterHandler(entry, endContext(row)), (end) => endStep(entry, end));
    });
  }
});

Deno.test("afterHandler()'s rows each fail against a wrong rule", async (t) => {
  for (const row of END_ROWS) {
    await t.step(`${row.name} (wrong: ${row.wrong.rule})`, () => {
      const entry = held(row.held);
      assert.throws(
        () =>
          expectRow(row, () => row.wrong.decide(entry, endContext(row)), (e) => endStep(entry, e)),
        AssertionError,
      );
    });
  }
});

/**
 * Starts message 1 in a scheduler, has its handler report `row.held` (and finished), puts the disk
 * in `disk`'s state, and ends the handler.
 */
async function endThroughScheduler(r: SchedulerRig, row: EndRow, disk: DiskState) {
  await r.take(textUpdate(1));
  r.ack(1);
  const child = r.child(1);
  const reported = patched(child.entry, row.held);
  if (disk === "read-only") r.journal.fault = readOnly();
  // The handler writes its entry itself when the disk lets it; a contradicting disk holds what
  // someone else wrote: the opposite of what was reported.
  if (disk === "writable") {
    if (row.finished) r.journal.finish(1);
    else r.journal.put(reported);
  }
  if (disk === "contradicting") {
    const finishedInMemory = row.finished || row.held.stage === "replied";
    r.journal.put(patched(reported, { stage: finishedInMemory ? "brain" : "replied" }));
  }
  r.report(1, { kind: "patch", updateId: 1, patch: row.held });
  if (row.stopping) r.scheduler.stop();
  r.exit(1, row.status, row.finished ? [{ kind: "finished", updateId: 1 }] : []);
}

/** The step the scheduler took, read from what it holds (its copy on disk, once the disk is back). */
function schedulerStep(r: SchedulerRig, row: EndRow): EndStep {
  r.journal.fault = undefined;
  r.disk.write(() => {}); // a write that succeeds pays what is owed
  const entry = r.onDisk(1);
  if (r.scheduler.size === 0) {
    assert.equal(entry, undefined, "a finished message's entry is removed");
    return { kind: "finished" };
  }
  assert.ok(entry !== undefined, "an unfinished message is on disk");
  const step: EndStep = {
    kind: row.stopping
      ? "left"
      : entry.deaths !== (row.held.deaths ?? undefined)
      ? "died"
      : "parked",
    stage: entry.stage,
    deaths: entry.deaths,
    rerun: entry.rerun,
    lastEnd: entry.lastEnd,
  };
  if (step.kind === "left") return step;
  // When it starts again tells its back-off.
  const before = r.spawned().length;
  const waitMs = row.expect.waitMs ?? 0;
  if (waitMs > 0) {
    r.later(waitMs - 1);
    assert.equal(r.spawned().length, before, "not before its back-off");
  }
  r.later(waitMs > 0 ? 1 : 0);
  assert.equal(r.spawned().length, before + 1, "started again after its back-off");
  step.waitMs = waitMs;
  return step;
}

Deno.test("the Scheduler takes each row's step after a handler's end, whatever the disk says", async (t) => {
  for (const row of END_ROWS) {
    for (const disk of DISK_STATES) {
      await t.step(`${row.name} — disk ${disk}`, async () => {
        using _timers = trackTimers();
        await using r = await schedulerRig();
        await endThroughScheduler(r, row, disk);
        assert.deepEqual(compact(schedulerStep(r, row)), row.expect);
        if (row.expect.kind !== "finished") return;
        r.later(HOUR);
        assert.equal(r.spawned().length, 1, "a finished message never starts again");
      });
    }
  }
});

// ---- a cut-off found at start ---------------------------------------------------------------------

interface CutOffRow {
  name: string;
  entry: Partial<JournalEntry>;
  /** What it is held as, or undefined when it is taken as it stands. */
  expect: Pick<JournalEntry, "stage" | "deaths" | "rerun"> | undefined;
  wrong: { rule: string; decide: typeof afterCutOff };
}

const CUT_OFF_ROWS: CutOffRow[] = [
  {
    name: "waiting: not at work, taken as it stands",
    entry: { stage: "received", deaths: 1 },
    expect: undefined,
    wrong: {
      rule: "every entry is a cut-off",
      decide: (e) => afterCutOff({ ...e, stage: "started" }),
    },
  },
  {
    name: "started: a death, back to waiting",
    entry: { stage: "started" },
    expect: { stage: "received", deaths: 1, rerun: false },
    wrong: {
      rule: "a cut-off is no death",
      decide: (e) => {
        const patch = afterCutOff(e);
        return patch && { ...patch, deaths: e.deaths };
      },
    },
  },
  {
    name: "acked (an older bot's stage): as started",
    entry: { stage: "acked", deaths: 1 },
    expect: { stage: "received", deaths: 2, rerun: false },
    wrong: {
      rule: "only started and brain are at work",
      decide: (e) => e.stage === "acked" ? undefined : afterCutOff(e),
    },
  },
  {
    name: "in its brain: a death, and its reply says re-run",
    entry: { stage: "brain", brainRun: "run-1", deaths: 2 },
    expect: { stage: "received", deaths: 3, rerun: true },
    wrong: {
      rule: "a cut brain is not a re-run",
      decide: (e) => afterCutOff({ ...e, stage: "started" }),
    },
  },
  {
    name: "answered: only sending is left, taken as it stands",
    entry: { stage: "answered", answer: ANSWER },
    expect: undefined,
    wrong: {
      rule: "an answered one runs again",
      decide: (e) => afterCutOff({ ...e, stage: "brain" }),
    },
  },
];

function cutOffView(entry: JournalEntry, patch: Partial<JournalEntry> | undefined) {
  if (patch === undefined) return undefined;
  const after = patched(entry, patch);
  return { stage: after.stage, deaths: after.deaths, rerun: after.rerun };
}

Deno.test("afterCutOff() gives each row's step, and each row fails against a wrong rule", async (t) => {
  for (const row of CUT_OFF_ROWS) {
    await t.step(row.name, () => {
      const entry = held(row.entry);
      expectRow(row, () => afterCutOff(entry), (p) => cutOffView(entry, p));
      assert.throws(
        () => expectRow(row, () => row.wrong.decide(entry), (p) => cutOffView(entry, p)),
        AssertionError,
        `wrong: ${row.wrong.rule}`,
      );
    });
  }
});

Deno.test("the Scheduler counts a cut-off at start, whether the disk takes it or not", async (t) => {
  for (const row of CUT_OFF_ROWS) {
    for (const disk of ["writable", "read-only"] as const) {
      await t.step(`${row.name} — disk ${disk}`, async () => {
        await using r = await schedulerRig({
          prepare(journal) {
            journal.record(textUpdate(1), { updateId: 1, chatId: PERSON });
            journal.update(1, row.entry);
          },
        });
        if (disk === "read-only") r.journal.fault = readOnly();
        r.scheduler.recover();
        r.ack(1);
        // Its handler is handed the entry as the scheduler holds it, started (read here as the
        // waiting it was at recovery; an answered one stays answered).
        const started = r.child(1).entry;
        const entry = held(row.entry);
        const expected = row.expect ??
          { stage: entry.stage, deaths: entry.deaths, rerun: entry.rerun };
        assert.deepEqual(
          {
            stage: started.stage === "started" ? "received" : started.stage,
            deaths: started.deaths,
            rerun: started.rerun,
          },
          expected,
        );
      });
    }
  }
});

// ---- a start ------------------------------------------------------------------------------------------

interface StartRow {
  name: string;
  entry: Partial<JournalEntry>;
  expect: Pick<JournalEntry, "stage" | "dispatches" | "giveUp">;
  wrong: { rule: string; decide: typeof startPatch };
}

const START: StartOptions = { poisonLimit: 3, wallNow: WALL };

const START_ROWS: StartRow[] = [
  {
    name: "a new message: started, its first dispatch",
    entry: { stage: "received", dispatches: 0 },
    expect: { stage: "started", dispatches: 1, giveUp: false },
    wrong: {
      rule: "dispatches not counted",
      decide: (e, o) => ({ ...startPatch(e, o), dispatches: e.dispatches }),
    },
  },
  {
    name: "two deaths, under the limit: tried again",
    entry: { stage: "received", dispatches: 2, deaths: 2 },
    expect: { stage: "started", dispatches: 3, giveUp: false },
    wrong: {
      rule: "given up one death early",
      decide: (e, o) => startPatch(e, { ...o, poisonLimit: o.poisonLimit - 1 }),
    },
  },
  {
    name: "deaths at the poison limit: given up, its handler only says so",
    entry: { stage: "received", dispatches: 3, deaths: 3 },
    expect: { stage: "started", dispatches: 4, giveUp: true },
    wrong: {
      rule: "given up one death late",
      decide: (e, o) => startPatch(e, { ...o, poisonLimit: o.poisonLimit + 1 }),
    },
  },
  {
    name: "given up before: stays given up",
    entry: { stage: "received", dispatches: 4, deaths: 0, giveUp: true },
    expect: { stage: "started", dispatches: 5, giveUp: true },
    wrong: {
      rule: "deaths alone decide",
      decide: (e, o) => startPatch({ ...e, giveUp: undefined }, o),
    },
  },
  {
    name: "answered, however many deaths: its answer is delivered, never given up",
    entry: { stage: "answered", answer: ANSWER, dispatches: 5, deaths: 4 },
    expect: { stage: "answered", dispatches: 6, giveUp: false },
    wrong: {
      rule: "an answered message is given up too",
      decide: (e, o) => startPatch({ ...e, stage: "received" }, o),
    },
  },
];

Deno.test("startPatch() gives each row's start, and each row fails against a wrong rule", async (t) => {
  const view = (e: JournalEntry) => (p: Partial<JournalEntry>) => {
    const after = patched(e, p);
    assert.equal(after.startedAt, "2025-03-01T12:00:00.000Z", "started now, by the wall clock");
    return { stage: after.stage, dispatches: after.dispatches, giveUp: after.giveUp };
  };
  for (const row of START_ROWS) {
    await t.step(row.name, () => {
      const entry = held(row.entry);
      expectRow(row, () => startPatch(entry, START), view(entry));
      assert.throws(
        () => expectRow(row, () => row.wrong.decide(entry, START), view(entry)),
        AssertionError,
        `wrong: ${row.wrong.rule}`,
      );
    });
  }
});

Deno.test("the Scheduler hands each row's start to the handler, whether the disk takes it or not", async (t) => {
  for (const row of START_ROWS) {
    for (const disk of ["writable", "read-only"] as const) {
      await t.step(`${row.name} — disk ${disk}`, async () => {
        await using r = await schedulerRig({
          prepare(journal) {
            journal.record(textUpdate(1), { updateId: 1, chatId: PERSON });
            journal.update(1, row.entry);
          },
        });
        r.scheduler.recover();
        if (disk === "read-only") r.journal.fault = readOnly();
        r.ack(1);
        const { stage, dispatches, giveUp } = r.child(1).entry;
        assert.deepEqual({ stage, dispatches, giveUp }, row.expect);
        if (disk === "read-only") assert.equal(r.onDisk(1)?.dispatches, row.entry.dispatches);
      });
    }
  }
});

// ---- /cancel --------------------------------------------------------------------------------------------

interface CancelRow {
  name: string;
  /** The chat's messages (update ids from 1, message ids 101...), running or not. */
  messages: (Partial<JournalEntry> & { running?: boolean })[];
  /** The message id `/cancel` replies to, if any. */
  replyTo?: number;
  expect: CancelDecision;
  wrong: { rule: string; decide: typeof decideCancel };
}

function candidates(row: CancelRow): CancelCandidate[] {
  return row.messages.map(({ running = false, ...patch }, i) => ({
    entry: { ...held({ stage: "received", ...patch }), updateId: i + 1, update: textUpdate(i + 1) },
    running,
  }));
}

const HELD_UP = { ...ANSWER, heldUpSince: "2025-03-01T11:00:00.000Z" };

const CANCEL_ROWS: CancelRow[] = [
  {
    name: "nothing in the chat",
    messages: [],
    expect: { verdict: { kind: "nothing" } },
    wrong: { rule: "an empty chat is not-found", decide: (m, r) => decideCancel(m, r ?? 0) },
  },
  {
    name: "the running brain: stopped",
    messages: [{ running: true, stage: "brain" }, {}],
    expect: {
      verdict: { kind: "stopping", messageId: 101, brain: true },
      target: 1,
      action: "stop",
    },
    wrong: {
      rule: "the chat's latest message is the one meant",
      decide: (m, r) => decideCancel(m.length ? [{ ...m.at(-1)!, running: true }] : [], r),
    },
  },
  {
    name: "running, before its brain: stopped, it never reaches the brain",
    messages: [{ running: true, stage: "started" }],
    expect: {
      verdict: { kind: "stopping", messageId: 101, brain: false },
      target: 1,
      action: "stop",
    },
    wrong: {
      rule: "the brain is said to be stopped",
      decide: (m, r) =>
        decideCancel(m.map((c) => ({ ...c, entry: { ...c.entry, stage: "brain" } })), r),
    },
  },
  {
    name: "only waiting messages, no reply: nothing running",
    messages: [{}, {}],
    expect: { verdict: { kind: "nothing" } },
    wrong: {
      rule: "a waiting message is taken for the running one",
      decide: (m, r) => decideCancel(m.map((c) => ({ ...c, running: true })), r),
    },
  },
  {
    name: "one parked, no reply: it is withdrawn",
    messages: [{ parkedUntil: PARKED_UNTIL }, {}],
    expect: { verdict: { kind: "withdrawn", messageId: 101 }, target: 1, action: "withdraw" },
    wrong: {
      rule: "a parked message is not looked for",
      decide: (m, r) =>
        decideCancel(m.map((c) => ({ ...c, entry: { ...c.entry, parkedUntil: undefined } })), r),
    },
  },
  {
    name: "in reply to a waiting message: withdrawn, the running one goes on",
    messages: [{ running: true, stage: "brain" }, {}],
    replyTo: 102,
    expect: { verdict: { kind: "withdrawn", messageId: 102 }, target: 2, action: "withdraw" },
    wrong: { rule: "the reply is not heeded", decide: (m) => decideCancel(m, undefined) },
  },
  {
    name: "in reply to a message not held: not found",
    messages: [{ running: true, stage: "brain" }],
    replyTo: 999,
    expect: { verdict: { kind: "not-found" } },
    wrong: {
      rule: "a reply to an unknown message cancels the running one",
      decide: (m) => decideCancel(m, undefined),
    },
  },
  {
    name: "in reply to an answered message: its answer is on its way",
    messages: [{ running: true, stage: "answered", answer: ANSWER }],
    replyTo: 101,
    expect: { verdict: { kind: "delivering", messageId: 101 } },
    wrong: {
      rule: "an answered message is stopped",
      decide: (m, r) =>
        decideCancel(m.map((c) => ({ ...c, entry: { ...c.entry, stage: "brain" } })), r),
    },
  },
  {
    name: "the running one answered and delivering: done to the person, nothing to cancel",
    messages: [{ running: true, stage: "answered", answer: ANSWER }, {}],
    expect: { verdict: { kind: "nothing" } },
    wrong: {
      rule: "an answer on its way counts as running",
      decide: (m, r) =>
        decideCancel(m.map((c) => ({ ...c, entry: { ...c.entry, answer: HELD_UP } })), r),
    },
  },
  {
    name: "the running one answered but held up: the person is told it is on its way",
    messages: [{ running: true, stage: "answered", answer: HELD_UP }],
    expect: { verdict: { kind: "delivering", messageId: 101 } },
    wrong: {
      rule: "a held-up answer is passed over",
      decide: (m, r) =>
        decideCancel(m.map((c) => ({ ...c, entry: { ...c.entry, answer: ANSWER } })), r),
    },
  },
];

Deno.test("decideCancel() gives each row's verdict, and each row fails against a wrong rule", async (t) => {
  for (const row of CANCEL_ROWS) {
    await t.step(row.name, () => {
      const messages = candidates(row);
      expectRow(row, () => decideCancel(messages, row.replyTo), (d) => d);
      assert.throws(
        () => expectRow(row, () => row.wrong.decide(messages, row.replyTo), (d) => d),
        AssertionError,
        `wrong: ${row.wrong.rule}`,
      );
    });
  }
});

Deno.test("decideBusy() steers a reply or a /steer into the working turn, interrupts for a !, and queues the rest", async (t) => {
  const working = {
    updateId: 1,
    chatId: 1001,
    update: { update_id: 1, message: { message_id: 101, text: "w" } },
    stage: "brain",
    dispatches: 1,
    receivedAt: "2025-01-01T00:00:00.000Z",
    progressMessageId: 150,
  } as JournalEntry;
  const message = (fields: Record<string, unknown>) =>
    ({ ...working, updateId: 2, update: { update_id: 2, message: fields } }) as JournalEntry;
  const rows: [string, JournalEntry, "queue" | "steer", JournalEntry | undefined, string][] = [
    ["a plain message", message({ text: "hi" }), "queue", working, "queue"],
    ["a plain message, busy mode steer", message({ text: "hi" }), "steer", working, "steer"],
    ["/steer", message({ text: "/steer more" }), "queue", working, "steer"],
    [
      "a reply to the message",
      message({ text: "x", reply_to_message: { message_id: 101 } }),
      "queue",
      working,
      "steer",
    ],
    [
      "a reply to the progress message",
      message({ text: "x", reply_to_message: { message_id: 150 } }),
      "queue",
      working,
      "steer",
    ],
    [
      "a reply to another message",
      message({ text: "x", reply_to_message: { message_id: 99 } }),
      "queue",
      working,
      "queue",
    ],
    ["!", message({ text: "!now" }), "queue", working, "interrupt"],
    ["a photo", message({ caption: "/steer x", photo: [] }), "steer", working, "queue"],
    [
      "a forward, even steering",
      message({ text: "/steer x", forward_origin: { type: "hidden_user" } }),
      "steer",
      working,
      "queue",
    ],
    [
      "an inline bot's",
      message({ text: "x", via_bot: { id: 5 }, reply_to_message: { message_id: 101 } }),
      "queue",
      working,
      "queue",
    ],
    ["/steer with nothing working", message({ text: "/steer more" }), "queue", undefined, "queue"],
    [
      "an ask from the box, even steering or with a !",
      { ...message({ text: "!/steer x" }), spool: { kind: "ask", order: 1.5 } } as JournalEntry,
      "steer",
      working,
      "queue",
    ],
  ];
  for (const [name, entry, busyMode, host, want] of rows) {
    await t.step(name, () => assert.equal(decideBusy(entry, host, { busyMode }), want));
  }
});
