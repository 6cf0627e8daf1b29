/**
 * Handler processes: spawning one per message, the hard cap, reaping, and teardown.
 *
 * Each handler runs in its own process group (so a signal to the group reaches whatever it
 * started in it), gets its update as one JSON line on stdin, and keeps that stdin open: when the
 * poll process dies, even by SIGKILL, the handler reads EOF and stops its brain instead of living
 * on as an orphan.
 *
 * @module
 */

import { within } from "./abort.ts";
import { getLog } from "./log.ts";
import { killGroup } from "./process_tree.ts";

/** How to start a handler. */
export interface HandlerLaunch {
  /** The executable (the Deno binary). */
  command: string;
  /** Its arguments (permissions, the script). Never the token. */
  args: readonly string[];
  /** The handler's complete environment. */
  env: Record<string, string>;
}

/** One handler process, as the poll loop sees it. */
export interface ChildRecord {
  pid: number;
  updateId: number;
  chatId: number;
  /** `performance.now()` at spawn. */
  startedAt: number;
  /** Set once the process has exited. */
  status?: Deno.CommandStatus;
  /** `performance.now()` at exit. */
  endedAt?: number;
}

/** Options for {@linkcode Dispatcher}. */
export interface DispatcherOptions {
  /** How to start a handler. */
  launch: HandlerLaunch;
  /** The most handlers alive at once. */
  cap: number;
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
  #exitListeners = new Set<() => void>();
  #log = getLog("dispatch");

  constructor(options: DispatcherOptions) {
    const { launch, cap, terminateGraceMs = 5000, onExit } = options;
    if (!Number.isInteger(cap) || cap < 1) {
      throw new RangeError(`Cannot dispatch with a cap of ${cap}: expected a positive integer`);
    }
    this.#launch = launch;
    this.#cap = cap;
    this.#graceMs = terminateGraceMs;
    this.#onExit = onExit;
  }

  /** Handlers that have not exited yet. */
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

  /**
   * Starts a handler for one update (`payload`, one line of JSON). Throws when the process can't be
   * spawned or the cap is reached: the caller logs a dispatch crash and goes on.
   */
  spawn(payload: string, meta: { updateId: number; chatId: number }): ChildRecord {
    if (this.atCap) {
      throw new RangeError(`Cannot spawn a handler: ${this.#cap} are alive, the cap`);
    }
    const process = new Deno.Command(this.#launch.command, {
      args: [...this.#launch.args],
      env: this.#launch.env,
      clearEnv: true,
      stdin: "piped",
      stdout: "null",
      stderr: "inherit",
      detached: true,
    }).spawn();
    const record: ChildRecord = { pid: process.pid, ...meta, startedAt: performance.now() };
    const stdin = process.stdin.getWriter();
    // If the handler dies before reading, the write fails with a broken pipe; its exit is logged.
    stdin.write(new TextEncoder().encode(payload + "\n")).catch(() => {});
    this.#entries.set(process.pid, { record, process, stdin });
    process.status.then((status) => this.#exited(record, status));
    this.#log.info(
      "child started: update {updateId}, chat {chatId}, pid {pid}, {live} of {cap} live",
      {
        updateId: meta.updateId,
        chatId: meta.chatId,
        pid: process.pid,
        live: this.live,
        cap: this.#cap,
      },
    );
    return record;
  }

  /** Forgets the handlers that have exited, closing their stdin; returns them. */
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
    return reaped;
  }

  /** Waits until some handler exits, at most `ms`; resolves `true` if one did. */
  async waitForExit(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#entries.size > 0 && [...this.#entries.values()].some((e) => e.record.status)) {
      return true;
    }
    let listener = () => {};
    const exited = new Promise<true>((resolve) => {
      listener = () => resolve(true);
      this.#exitListeners.add(listener);
    });
    try {
      return (await within(exited, ms, signal)).settled;
    } finally {
      this.#exitListeners.delete(listener);
    }
  }

  /**
   * Stops every handler: SIGTERM to each group, SIGKILL to what is left after the grace period,
   * then reaps them all. Handlers stop their own brains on SIGTERM.
   */
  async terminateAll(): Promise<void> {
    const running = [...this.#entries.values()].filter((e) => !e.record.status);
    for (const { record } of running) killGroup(record.pid, "SIGTERM");
    const all = Promise.all(running.map((e) => e.process.status));
    if (!(await within(all, this.#graceMs)).settled) {
      for (const { record } of running) {
        if (!record.status) {
          this.#log.warn("child did not stop in time, killing: pid {pid}", { pid: record.pid });
          killGroup(record.pid, "SIGKILL");
        }
      }
      await all;
    }
    this.reap();
  }

  #exited(record: ChildRecord, status: Deno.CommandStatus) {
    record.status = status;
    record.endedAt = performance.now();
    try {
      this.#onExit?.(record);
    } catch (error) {
      this.#log.error("exit hook failed for pid {pid}: {error}", { pid: record.pid, error });
    }
    for (const listener of this.#exitListeners) listener();
  }
}
