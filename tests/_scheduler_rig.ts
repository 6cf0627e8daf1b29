/**
 * A `Scheduler` (`lib/loop/scheduler.ts`) with fakes around it, for its unit tests and the
 * decision table's: a dispatcher whose handlers are records the test ends by hand, a desk that
 * keeps its jobs, a real journal in a temp dir whose writes fail on demand behind a real `Disk`,
 * and clocks moved by hand. Everything the scheduler asks of them lands in one `events` list, in
 * order.
 *
 * @module
 */

import type { ChildRecord } from "../lib/loop/dispatch.ts";
import { Disk } from "../lib/loop/disk.ts";
import type { HandlerProcess } from "../lib/loop/handler_process.ts";
import { Scheduler, type SchedulerOptions } from "../lib/loop/scheduler.ts";
import { Journal } from "../lib/shared/journal.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import { type Control, type DeskJob, jobUpdateId, type Report } from "../lib/shared/line.ts";
import { PERSON, recordingLog, tempDir } from "./_helpers.ts";

/** A read-only file system's error, as Deno throws it. */
export function readOnly(): Error {
  return new Deno.errors.PermissionDenied("Read-only file system (os error 30)");
}

/** A real journal whose writes throw `fault` while it is set; each write tried is an event. */
export class FaultyJournal extends Journal {
  fault?: Error;
  readonly events: string[];

  constructor(dir: string, events: string[]) {
    super(dir, { durable: false });
    this.events = events;
  }

  #write<T>(what: string, fn: () => T): T {
    this.events.push(what);
    if (this.fault) throw this.fault;
    return fn();
  }
  override record(...args: Parameters<Journal["record"]>) {
    return this.#write(`record ${args[1].updateId}`, () => super.record(...args));
  }
  override put(entry: JournalEntry) {
    return this.#write(`put ${entry.updateId} ${entry.stage}`, () => super.put(entry));
  }
  override finish(updateId: number) {
    return this.#write(`finish ${updateId}`, () => super.finish(updateId));
  }
  override probe() {
    return this.#write("probe", () => super.probe());
  }
}

/** A message handler as the fake dispatcher started it: the controls it was sent. */
export interface FakeChild extends ChildRecord {
  /** The entry it was handed, as it was then. */
  readonly entry: JournalEntry;
  readonly controls: Control[];
}

/** The dispatcher as the scheduler sees it; `failNext` spawns throw. */
export class FakeDispatcher {
  cap: number;
  readonly children: FakeChild[] = [];
  failNext = 0;
  readonly #events: string[];

  constructor(cap: number, events: string[]) {
    this.cap = cap;
    this.#events = events;
  }

  get live(): number {
    return this.children.filter((c) => c.status === undefined).length;
  }

  get free(): number {
    return Math.max(0, this.cap - this.live);
  }

  spawn(entry: JournalEntry): ChildRecord {
    if (this.failNext > 0) {
      this.failNext--;
      this.#events.push(`spawn failed ${entry.updateId}`);
      throw new Error("Cannot spawn: out of processes");
    }
    if (this.free === 0) throw new RangeError("Cannot spawn a handler: the cap");
    const controls: Control[] = [];
    const handler = { send: (control: Control) => controls.push(control) };
    const child: FakeChild = {
      handler: handler as unknown as HandlerProcess,
      pid: 5000 + this.children.length,
      updateId: entry.updateId,
      chatId: entry.chatId,
      startedAt: 0,
      warm: false,
      entry: structuredClone(entry),
      controls,
    };
    this.children.push(child);
    this.#events.push(`spawn ${entry.updateId}`);
    return child;
  }
}

/** The desk as the scheduler sees it: it keeps every job; `flush` is what `flushed()` awaits. */
export class FakeDesk {
  readonly jobs: DeskJob[] = [];
  flush?: Promise<void>;
  readonly #events: string[];

  constructor(events: string[]) {
    this.#events = events;
  }

  send(job: DeskJob): void {
    this.jobs.push(job);
    this.#events.push(`${job.job} ${jobUpdateId(job)}`);
  }

  flushed(): Promise<void> {
    return this.flush ?? Promise.resolve();
  }

  /** The jobs of one kind, as `kind id` strings. */
  of(kind: DeskJob["job"]): DeskJob[] {
    return this.jobs.filter((j) => j.job === kind);
  }
}

/** What {@linkcode schedulerRig} sets up. */
export type SchedulerRig = Awaited<ReturnType<typeof schedulerRig>>;

/** A successful exit, or one with `code`, or a kill by `signal`. */
export function exitStatus(code = 0, signal: Deno.Signal | null = null): Deno.CommandStatus {
  return { success: code === 0 && signal === null, code, signal };
}

/**
 * A scheduler on fakes: cap 4, poison limit 3, 👀 waited for 2000 ms, the disk's retries an hour
 * apart (a recovery is seen at the next write), on `options` on top. Stopped and removed on
 * dispose.
 */
export async function schedulerRig(
  options: Partial<SchedulerOptions> & { cap?: number; prepare?: (journal: Journal) => void } = {},
) {
  const { cap = 4, prepare, ...rest } = options;
  const events: string[] = [];
  const dir = await tempDir();
  const journal = new FaultyJournal(`${dir.path}/journal`, events);
  journal.open();
  prepare?.(journal);
  const { log, lines } = recordingLog();
  const clock = { now: 0, wall: Date.parse("2025-03-01T12:00:00.000Z") };
  const disk = new Disk({ journal, log, now: () => clock.wall, retryMs: 3_600_000 });
  const dispatcher = new FakeDispatcher(cap, events);
  const desk = new FakeDesk(events);
  const swept: string[] = [];
  const scheduler = new Scheduler({
    journal,
    disk,
    dispatcher,
    desk,
    // The person, and another person who talks to the bot in their own private chat.
    authorized: options.authorized ?? new Set([PERSON, 2002]),
    poisonLimit: 3,
    ackWaitMs: 2000,
    now: () => clock.now,
    wallNow: () => clock.wall,
    sweepOrphan: (run) => {
      swept.push(run);
      return Promise.resolve();
    },
    ...rest,
  });
  /** The handler of message `updateId` that was started last. */
  const child = (updateId: number): FakeChild => {
    const found = dispatcher.children.findLast((c) => c.updateId === updateId);
    if (found === undefined) throw new Error(`No handler was started for update ${updateId}`);
    return found;
  };
  return {
    events,
    dir,
    journal,
    lines,
    clock,
    disk,
    dispatcher,
    desk,
    swept,
    scheduler,
    child,
    take: (...updates: unknown[]) => scheduler.take(updates),
    /** The desk reports the 👀 of each message out. */
    ack(...updateIds: number[]) {
      for (const updateId of updateIds) scheduler.onDeskReport({ kind: "acked", updateId });
    },
    /** The desk reports the job of `updateId` done. */
    done: (updateId: number) => scheduler.onDeskReport({ kind: "done", updateId }),
    /** Message `updateId`'s handler reports. */
    report: (updateId: number, report: Report) => scheduler.onReport(child(updateId), report),
    /** Message `updateId`'s handler sends `reports`, then exits with `status`. */
    exit(updateId: number, status = exitStatus(), reports: Report[] = []) {
      const ended = child(updateId);
      for (const report of reports) scheduler.onReport(ended, report);
      ended.status = status;
      scheduler.onExit(ended);
    },
    /** Moves both clocks on, and lets the scheduler start what may start now. */
    later(ms: number) {
      clock.now += ms;
      clock.wall += ms;
      scheduler.drain();
    },
    /** The update ids handlers were started for, in order. */
    spawned: () => dispatcher.children.map((c) => c.updateId),
    /** The entry on disk. */
    onDisk: (updateId: number) => journal.read(updateId),
    async [Symbol.asyncDispose]() {
      scheduler.stop();
      disk.stop();
      await dir[Symbol.asyncDispose]();
    },
  };
}
