/**
 * Message handler processes: spawning one per message that can start, the hard cap, reaping, and
 * teardown.
 *
 * Each handler runs in its own process group (so a signal to the group reaches whatever it
 * started in it), gets its update as one JSON line on stdin, and keeps that stdin open: when the
 * poll process dies, even by SIGKILL, the handler reads EOF and stops its brain instead of living
 * on as an orphan.
 *
 * Starting a Deno process and loading its modules takes 0.1 to 0.3 s, which would come before
 * every brain. So the dispatcher keeps `spares` handlers (`spares.ts`) started ahead of time,
 * modules loaded, waiting on stdin. A message goes to a spare when there is one, and a new spare
 * starts behind it. A spare handles exactly one update like any handler, and does not count
 * against the cap until it has one.
 *
 * @module
 */

import { within } from "../shared/abort.ts";
import { getLog } from "../shared/log.ts";
import { stopGroups } from "../shared/process_tree.ts";
import { type HandlerLaunch, startHandler } from "./launch.ts";
import { SparePool } from "./spares.ts";

/**
 * Set in a spare's environment: marks a handler started ahead of its update. The handler needs
 * nothing of it; it tells spares apart in `/proc` (and in the tests).
 */
export const WARM_ENV = "COORD_HANDLER_WARM";

/** One handler process, as the poll loop sees it. */
export interface ChildRecord {
  pid: number;
  updateId: number;
  chatId: number;
  /** `performance.now()` when it was given its update. */
  startedAt: number;
  /** Set once the process has exited. */
  status?: Deno.CommandStatus;
  /** `performance.now()` at exit. */
  endedAt?: number;
  /** True when a spare, started ahead of time, took the update. */
  warm?: boolean;
}

/** Options for {@linkcode Dispatcher}. */
export interface DispatcherOptions {
  /** How to start a handler. */
  launch: HandlerLaunch;
  /** The most message handlers alive at once (spares waiting for an update not counted). */
  cap: number;
  /** Handlers kept started ahead of time. Default: 0. */
  spares?: number;
  /** Between SIGTERM and SIGKILL at teardown. Default: 5000 ms. */
  terminateGraceMs?: number;
  /** Called as soon as a child exits (before it is reaped), e.g. to free its turn. */
  onExit?: (child: ChildRecord) => void;
}

interface Entry {
  record: ChildRecord;
  process: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
}

/** Starts, counts, reaps and tears down handler processes. */
export class Dispatcher {
  #launch: HandlerLaunch;
  #cap: number;
  #graceMs: number;
  #onExit?: (child: ChildRecord) => void;
  #entries = new Map<number, Entry>();
  #spares: SparePool;
  #exitListeners = new Set<() => void>();
  #log = getLog("dispatch");

  constructor(options: DispatcherOptions) {
    const { launch, cap, spares = 0, terminateGraceMs = 5000, onExit } = options;
    if (!Number.isInteger(cap) || cap < 1) {
      throw new RangeError(`Cannot dispatch with a cap of ${cap}: expected a positive integer`);
    }
    this.#launch = launch;
    this.#cap = cap;
    this.#spares = new SparePool(() => this.#start(true), spares);
    this.#graceMs = terminateGraceMs;
    this.#onExit = onExit;
  }

  /** Handlers that have an update and have not exited yet. */
  get live(): number {
    let n = 0;
    for (const { record } of this.#entries.values()) if (!record.status) n++;
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

  /** True when no handler may start until one exits. */
  get atCap(): boolean {
    return this.free === 0;
  }

  /** The records of the handlers not yet reaped. */
  get children(): ChildRecord[] {
    return [...this.#entries.values()].map((e) => e.record);
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
   * Hands one update (`payload`, one line of JSON) to a spare, or to a handler started now.
   * Throws when the process can't be spawned or the cap is reached: the caller logs a dispatch
   * crash and goes on.
   */
  spawn(payload: string, meta: { updateId: number; chatId: number }): ChildRecord {
    if (this.atCap) {
      throw new RangeError(`Cannot spawn a handler: ${this.#cap} are alive, the cap`);
    }
    const spare = this.#spares.take();
    const process = spare?.process ?? this.#start(false);
    const stdin = spare?.stdin ?? process.stdin.getWriter();
    const record: ChildRecord = {
      pid: process.pid,
      ...meta,
      startedAt: performance.now(),
      warm: spare !== undefined,
    };
    // If the handler dies before reading, the write fails with a broken pipe; its exit is logged.
    stdin.write(new TextEncoder().encode(payload + "\n")).catch(() => {});
    this.#spares.fillSoon();
    this.#entries.set(process.pid, { record, process, stdin });
    process.status.then((status) => this.#exited(record, status));
    this.#log.info(
      "child started: update {updateId}, chat {chatId}, pid {pid}, {live} of {cap} live, {kind}",
      {
        updateId: meta.updateId,
        chatId: meta.chatId,
        pid: process.pid,
        live: this.live,
        cap: this.#cap,
        kind: record.warm ? "warm" : "cold",
      },
    );
    return record;
  }

  /** Forgets the handlers that have exited, closing their stdin; returns them. Keeps spares up. */
  reap(): ChildRecord[] {
    const reaped: ChildRecord[] = [];
    for (const [pid, entry] of this.#entries) {
      const { record } = entry;
      if (!record.status) continue;
      this.#entries.delete(pid);
      entry.stdin.close().catch(() => {});
      reaped.push(record);
      this.#log.info(
        "child reaped: pid {pid}, update {updateId}, exit status {code}, {seconds} s",
        {
          pid,
          updateId: record.updateId,
          code: record.status.signal ? `signal ${record.status.signal}` : record.status.code,
          seconds: Number((((record.endedAt ?? 0) - record.startedAt) / 1000).toFixed(3)),
        },
      );
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
    if ([...this.#entries.values()].some((e) => e.record.status)) return true;
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
      ...[...this.#entries.values()].filter((e) => !e.record.status).map((e) => e.process),
      ...this.#spares.processes,
    ];
    // No new spare from now on; the idle ones are signalled with the rest, and let go after:
    // closing a spare's stdin first would make it log that the poll process went away.
    this.#spares.stop();
    const late = await stopGroups(running, this.#graceMs);
    for (const pid of late) {
      this.#log.warn("child did not stop in time, killed: pid {pid}", { pid });
    }
    this.#spares.close();
    this.reap();
  }

  #start(warm: boolean): Deno.ChildProcess {
    return startHandler(this.#launch, {
      extraEnv: warm ? { [WARM_ENV]: "1" } : {},
      stdout: "null",
    });
  }

  #exited(record: ChildRecord, status: Deno.CommandStatus) {
    record.status = status;
    record.endedAt = performance.now();
    if (record.warm) this.#spares.served();
    try {
      this.#onExit?.(record);
    } catch (error) {
      this.#log.error("exit hook failed for pid {pid}: {error}", { pid: record.pid, error });
    }
    for (const listener of this.#exitListeners) listener();
  }
}
