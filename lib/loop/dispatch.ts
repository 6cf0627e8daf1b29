/**
 * Message handler processes: one per message that can start, the hard cap, reaping, and teardown.
 *
 * Each handler runs in its own process group (so a signal to the group reaches whatever it
 * started in it), is told its message over its line (`handler_process.ts`) and keeps that line
 * open: when the poll process dies, even by SIGKILL, the handler reads EOF and stops its brain
 * instead of living on as an orphan.
 *
 * Starting a Deno process and loading its modules takes 0.1 to 0.3 s, which would come before
 * every brain. So the dispatcher keeps `spares` handlers (`spares.ts`) started ahead of time,
 * waiting on their line. A message goes to a spare when there is one, and a new spare starts
 * behind it. A spare does not count against the cap until it has a message.
 *
 * @module
 */

import { within } from "../shared/abort.ts";
import type { JournalEntry } from "../shared/journal_entry.ts";
import type { Report } from "../shared/line.ts";
import { getLog } from "../shared/log.ts";
import { stopGroups } from "../shared/process_tree.ts";
import { HandlerProcess } from "./handler_process.ts";
import type { HandlerLaunch } from "./launch.ts";
import { SparePool } from "./spares.ts";

/** One message handler, as the poll process sees it. */
export interface ChildRecord {
  readonly handler: HandlerProcess;
  readonly pid: number;
  readonly updateId: number;
  readonly chatId: number;
  /** `performance.now()` when it was given its message. */
  readonly startedAt: number;
  /** Set once the process has exited (and its last reports were read). */
  status?: Deno.CommandStatus;
  /** True when a spare, started ahead of time, took the message. */
  readonly warm: boolean;
}

/** Options for {@linkcode Dispatcher}. */
export interface DispatcherOptions {
  /** How to start a handler. */
  launch: HandlerLaunch;
  /** The most message handlers alive at once (spares waiting for a message not counted). */
  cap: number;
  /** Handlers kept started ahead of time. Default: 0. */
  spares?: number;
  /** Between SIGTERM and SIGKILL at teardown. Default: 6000 ms (a reply's grace fits in it). */
  terminateGraceMs?: number;
  /** Told each report of a handler. */
  onReport?: (child: ChildRecord, report: Report) => void;
  /** Told as soon as a handler has exited and its last reports were read. */
  onExit?: (child: ChildRecord) => void;
}

/** Starts, counts, reaps and tears down message handlers. */
export class Dispatcher {
  #launch: HandlerLaunch;
  #cap: number;
  #graceMs: number;
  #onReport: NonNullable<DispatcherOptions["onReport"]>;
  #onExit: NonNullable<DispatcherOptions["onExit"]>;
  #children = new Map<number, ChildRecord>();
  #spares: SparePool;
  #exitListeners = new Set<() => void>();
  #log = getLog("dispatch");

  constructor(options: DispatcherOptions) {
    const { launch, cap, spares = 0, terminateGraceMs = 6000 } = options;
    if (!Number.isInteger(cap) || cap < 1) {
      throw new RangeError(`Cannot dispatch with a cap of ${cap}: expected a positive integer`);
    }
    this.#launch = launch;
    this.#cap = cap;
    this.#spares = new SparePool(() => this.#start(), spares);
    this.#graceMs = terminateGraceMs;
    this.#onReport = options.onReport ?? (() => {});
    this.#onExit = options.onExit ?? (() => {});
  }

  /** Handlers that have a message and have not exited yet. */
  get live(): number {
    let n = 0;
    for (const child of this.#children.values()) if (!child.status) n++;
    return n;
  }

  /** The cap this dispatcher keeps. */
  get cap(): number {
    return this.#cap;
  }

  /** How many more handlers may start now. */
  get free(): number {
    return Math.max(0, this.#cap - this.live);
  }

  /** The handlers not yet reaped. */
  get children(): ChildRecord[] {
    return [...this.#children.values()];
  }

  /** Spares started and not yet used (some may still be loading). */
  get spares(): number {
    return this.#spares.size;
  }

  /** True while spares are due to start, a moment after a spawn or a reap. */
  get sparesDue(): boolean {
    return this.#spares.due;
  }

  /**
   * Holds spares back (`true`: idle ones are stopped, none started) or lets them be started again:
   * while the desk is being replaced, the two desks take the spare's place, so that the bot never
   * runs more than its cap of handlers plus two.
   */
  holdSpares(hold: boolean): void {
    this.#spares.hold(hold);
  }

  /** Starts spares up to the wanted number. Call at start; `spawn` and `reap` keep it up. */
  warmUp(): void {
    this.#spares.fill();
  }

  /**
   * Hands `entry` to a spare, or to a handler started now. Throws when the process can't be
   * spawned or the cap is reached: the caller logs a dispatch crash and goes on.
   */
  spawn(entry: JournalEntry): ChildRecord {
    if (this.free === 0) {
      throw new RangeError(`Cannot spawn a handler: ${this.#cap} are alive, the cap`);
    }
    const spare = this.#spares.take();
    const handler = spare ?? this.#start();
    const child: ChildRecord = {
      handler,
      pid: handler.pid,
      updateId: entry.updateId,
      chatId: entry.chatId,
      startedAt: performance.now(),
      warm: spare !== undefined,
    };
    handler.onReport = (report) => this.#onReport(child, report);
    handler.send({ kind: "start", entry });
    this.#spares.fillSoon();
    this.#children.set(handler.pid, child);
    handler.ended.then((status) => this.#exited(child, status));
    this.#log.info(
      "child started: update {updateId}, chat {chatId}, pid {pid}, {live} of {cap} live, {kind}",
      { ...child, live: this.live, cap: this.#cap, kind: child.warm ? "warm" : "cold" },
    );
    return child;
  }

  /** Forgets the handlers that have exited, closing their line; returns them. Keeps spares up. */
  reap(): ChildRecord[] {
    const reaped: ChildRecord[] = [];
    for (const [pid, child] of this.#children) {
      if (!child.status) continue;
      this.#children.delete(pid);
      child.handler.close();
      reaped.push(child);
      this.#log.info("child reaped: pid {pid}, update {updateId}, exit status {code}", {
        pid,
        updateId: child.updateId,
        code: child.status.signal ? `signal ${child.status.signal}` : child.status.code,
      });
    }
    this.#spares.forgetDead();
    this.#spares.fillSoon();
    return reaped;
  }

  /**
   * Waits until some handler exits, at most `ms`; resolves `true` if one did. Rejects with
   * `signal.reason` when `signal` aborts first.
   */
  async waitForExit(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.children.some((c) => c.status)) return true;
    let listener = () => {};
    const exited = new Promise<true>((resolve) => {
      listener = () => resolve(true);
      this.#exitListeners.add(listener);
    });
    try {
      return (await within(exited, ms, { signal })).settled;
    } finally {
      this.#exitListeners.delete(listener);
    }
  }

  /**
   * Stops every handler and spare: SIGTERM to each group, SIGKILL to what is left after the grace
   * period, then reaps them all. Handlers stop their own brains on SIGTERM.
   */
  async terminateAll(): Promise<void> {
    const running = [
      ...this.children.filter((c) => !c.status).map((c) => c.handler.process),
      ...this.#spares.handlers.map((h) => h.process),
    ];
    // No new spare from now on; the idle ones are signalled with the rest, and let go after:
    // closing a spare's line first would make it log that the poll process went away.
    this.#spares.stop();
    const late = await stopGroups(running, this.#graceMs);
    for (const pid of late) {
      this.#log.warn("child did not stop in time, killed: pid {pid}", { pid });
    }
    this.#spares.close();
    await Promise.all(this.children.map((c) => c.handler.ended));
    this.reap();
  }

  #start(): HandlerProcess {
    return new HandlerProcess(this.#launch, {
      role: "message",
      onBadLine: (line) =>
        this.#log.warn("a handler said something else than a report: {line}", {
          line: line.slice(0, 200),
        }),
    });
  }

  #exited(child: ChildRecord, status: Deno.CommandStatus) {
    child.status = status;
    if (child.warm) this.#spares.served();
    try {
      this.#onExit(child);
    } catch (error) {
      this.#log.error("exit hook failed for pid {pid}: {error}", { pid: child.pid, error });
    }
    for (const listener of this.#exitListeners) listener();
  }
}
