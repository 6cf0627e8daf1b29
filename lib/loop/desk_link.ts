/**
 * The poll loop's handle on the front desk: one `handler.ts` process in the desk role, started at
 * boot, started again when it dies, and replaced now and then so that it can't grow.
 *
 * Jobs (see `desk_protocol.ts`) are written to the desk's stdin as soon as they are made, and kept
 * here until the desk reports them done: a desk that dies mid-job loses nothing, its jobs go to
 * the next desk. While no desk is ready (at start, after a death, while one loads), jobs wait here.
 *
 * @module
 */

import { within } from "../shared/abort.ts";
import { backoffMs } from "../shared/backoff.ts";
import { type HandlerLaunch, startHandler } from "./launch.ts";
import {
  DESK_ENV,
  type DeskJob,
  type DeskReport,
  jobKey,
  jobUpdateId,
  parseDeskReport,
} from "../shared/desk_protocol.ts";
import { readLines } from "../shared/lines.ts";
import { getLog } from "../shared/log.ts";
import { stopGroups } from "../shared/process_tree.ts";

/** Options for {@linkcode DeskLink}. */
export interface DeskLinkOptions {
  /** How to start a handler (the desk gets the desk role on top). */
  launch: HandlerLaunch;
  /** Told of every report (after this link has settled its jobs). */
  onReport: (report: DeskReport) => void;
  /** Told when a job was given up because desks kept dying on it. */
  onGiveUp?: (job: DeskJob) => void;
  /** Jobs after which a desk is replaced by a fresh one. Default: 2000. */
  recycleAfter?: number;
  /** Desk deaths while it held a job, after which that job is given up. Default: 3. */
  jobDeathLimit?: number;
  /** Between SIGTERM and SIGKILL at teardown. Default: 5000 ms. */
  terminateGraceMs?: number;
  /** Stops and restarts spare handlers while two desks are alive (see `Dispatcher`). */
  holdSpares?: (hold: boolean) => void;
  /** Randomness for the restart back-off's jitter. Default: `Math.random`. */
  random?: () => number;
}

interface Desk {
  process: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  /** It said it is ready: jobs may be written to it. */
  ready: boolean;
  jobs: number;
  startedAt: number;
  status?: Deno.CommandStatus;
}

interface PendingJob {
  job: DeskJob;
  line: Uint8Array;
  /** The desk it was written to, if any. */
  desk?: Desk;
  /** When it was written to that desk (`performance.now()`). */
  writtenAt: number;
  deaths: number;
}

/** How long a job's last reports may still be read after its desk exited. */
const REPORT_DRAIN_MS = 1000;
/** A desk's death counts against the jobs written to it this shortly before. */
const SUSPECT_MS = 5000;

/** A desk that lived at least this long before it died is started again at once. */
const HEALTHY_LIFE_MS = 10_000;
/** Else after this back-off, by the number of such quick deaths in a row. */
const RESTART = { baseMs: 250, maxMs: 30_000 };

/** Starts, feeds, replaces and stops the desk; see the module doc. */
export class DeskLink {
  #options: DeskLinkOptions;
  #recycleAfter: number;
  #deathLimit: number;
  #graceMs: number;
  #random: () => number;
  /** The desk jobs go to (it may still be loading). */
  #current?: Desk;
  /** A fresh desk loading to take over from `#current`. */
  #successor?: Desk;
  /** Desks that were replaced and finish what they hold. */
  #retiring = new Set<Desk>();
  #pending = new Map<string, PendingJob>();
  #lastWrite: Promise<unknown> = Promise.resolve();
  #quickDeaths = 0;
  #sparesHeld = false;
  #restartTimer?: ReturnType<typeof setTimeout>;
  #stopped = false;
  #encoder = new TextEncoder();
  #log = getLog("desk");

  constructor(options: DeskLinkOptions) {
    this.#options = options;
    this.#recycleAfter = options.recycleAfter ?? 2000;
    this.#deathLimit = options.jobDeathLimit ?? 3;
    this.#graceMs = options.terminateGraceMs ?? 5000;
    this.#random = options.random ?? Math.random;
  }

  /** The desk processes alive (the current one, and any being replaced or replacing). */
  get pids(): number[] {
    return this.#desks().filter((d) => d.status === undefined).map((d) => d.process.pid);
  }

  /** Jobs the desk has not reported done. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Starts the first desk. */
  start(): void {
    this.#current = this.#spawn();
  }

  /** Hands the desk a job: at once if a desk is ready, else as soon as one is. */
  send(job: DeskJob): void {
    const line = this.#encoder.encode(JSON.stringify(job) + "\n");
    const pending: PendingJob = { job, line, writtenAt: 0, deaths: 0 };
    this.#pending.set(jobKey(job), pending);
    const desk = this.#current;
    if (desk?.ready) this.#write(desk, pending);
  }

  /** Resolves once the jobs written so far are in the desk's pipe (a moment; nothing waits long). */
  async flushed(): Promise<void> {
    await this.#lastWrite;
  }

  /** Stops every desk: SIGTERM, then SIGKILL after the grace period; waits for them. */
  async terminate(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    const desks = this.#desks().filter((d) => d.status === undefined);
    const late = await stopGroups(desks.map((d) => d.process), this.#graceMs);
    if (late.length > 0) this.#log.warn("the desk did not stop in time; killed it");
    for (const desk of desks) desk.stdin.close().catch(() => {});
  }

  #desks(): Desk[] {
    return [this.#current, this.#successor, ...this.#retiring].filter((d) => d !== undefined);
  }

  #spawn(): Desk {
    const process = startHandler(this.#options.launch, { extraEnv: DESK_ENV, stdout: "piped" });
    const desk: Desk = {
      process,
      stdin: process.stdin.getWriter(),
      ready: false,
      jobs: 0,
      startedAt: performance.now(),
    };
    this.#log.info("desk started: pid {pid}", { pid: process.pid });
    const reading = this.#readReports(desk);
    // Its last reports are read before its jobs are handed on, so none is handed on needlessly.
    process.status.then(async (status) => {
      desk.status = status;
      await within(reading, REPORT_DRAIN_MS);
      this.#exited(desk, status);
    });
    return desk;
  }

  async #readReports(desk: Desk) {
    // readLines ends quietly on a broken pipe: the desk's exit is reported by its status.
    for await (const line of readLines(desk.process.stdout)) this.#onLine(desk, line);
  }

  #onLine(desk: Desk, line: string) {
    const report = parseDeskReport(line);
    if (report === undefined) {
      this.#log.warn("the desk (pid {pid}) said something else than a report: {line}", {
        pid: desk.process.pid,
        line: line.slice(0, 200),
      });
      return;
    }
    if ("ready" in report) {
      this.#ready(desk);
      return;
    }
    if ("acked" in report) this.#pending.delete(`ack:${report.acked}`);
    if ("done" in report) {
      this.#pending.delete(`answer:${report.done}`);
      this.#pending.delete(`withdraw:${report.done}`);
    }
    this.#options.onReport(report);
  }

  #ready(desk: Desk) {
    desk.ready = true;
    if (desk === this.#successor) {
      // The fresh desk takes over; the old one finishes what it holds and leaves on EOF.
      const old = this.#current;
      this.#current = desk;
      this.#successor = undefined;
      if (old !== undefined) {
        this.#retiring.add(old);
        old.stdin.close().catch(() => {});
        this.#log.info("desk replaced: pid {old} finishes its jobs, pid {pid} takes new ones", {
          old: old.process.pid,
          pid: desk.process.pid,
        });
      }
    }
    this.#syncSpares();
    if (desk !== this.#current) return;
    for (const pending of this.#pending.values()) {
      if (pending.desk === undefined) this.#write(desk, pending);
    }
  }

  #write(desk: Desk, pending: PendingJob) {
    pending.desk = desk;
    pending.writtenAt = performance.now();
    desk.jobs++;
    // A desk that died before reading fails the write; its exit hands the job on.
    this.#lastWrite = desk.stdin.write(pending.line).catch(() => {});
    if (
      desk.jobs >= this.#recycleAfter && this.#successor === undefined && !this.#stopped &&
      this.#retiring.size === 0
    ) {
      this.#successor = this.#spawn();
      this.#syncSpares();
    }
  }

  #exited(desk: Desk, status: Deno.CommandStatus) {
    desk.status = status;
    desk.stdin.close().catch(() => {});
    const wasCurrent = desk === this.#current;
    if (wasCurrent) this.#current = undefined;
    if (desk === this.#successor) this.#successor = undefined;
    const retired = this.#retiring.delete(desk);
    if (this.#stopped) return;
    if (!retired) {
      this.#log.warn("the desk (pid {pid}) ended (exit status {code}); starting another", {
        pid: desk.process.pid,
        code: status.signal ? `signal ${status.signal}` : status.code,
      });
    }
    this.#handBack(desk, !retired);
    this.#syncSpares();
    if (wasCurrent) this.#restart(desk);
  }

  /** Two desks alive take the spare's place (see `Dispatcher.holdSpares`). */
  #syncSpares() {
    const hold = this.#successor !== undefined || this.#retiring.size > 0;
    if (hold === this.#sparesHeld) return;
    this.#sparesHeld = hold;
    this.#options.holdSpares?.(hold);
  }

  /**
   * Jobs the dead desk held go to the next one. A job that keeps killing desks is given up: a death
   * counts against the jobs written shortly before it (a job that waited long for Telegram while
   * the desk died of something else is not to blame).
   */
  #handBack(desk: Desk, died: boolean) {
    const diedAt = performance.now();
    for (const [key, pending] of this.#pending) {
      if (pending.desk !== desk) continue;
      pending.desk = undefined;
      const suspect = died && diedAt - pending.writtenAt < SUSPECT_MS;
      if (suspect && ++pending.deaths >= this.#deathLimit) {
        this.#pending.delete(key);
        const { job } = pending;
        this.#log.error("update {id}: the desk died {n} times with its {kind} job; giving up", {
          id: jobUpdateId(job),
          n: pending.deaths,
          kind: job.job,
        });
        this.#options.onGiveUp?.(job);
        continue;
      }
      if (this.#current?.ready) this.#write(this.#current, pending);
    }
  }

  #restart(dead: Desk) {
    const lived = performance.now() - dead.startedAt;
    this.#quickDeaths = lived >= HEALTHY_LIFE_MS ? 0 : this.#quickDeaths + 1;
    const delay = backoffMs(this.#quickDeaths, { ...RESTART, random: this.#random });
    this.#restartTimer = setTimeout(() => {
      if (this.#stopped || this.#current !== undefined) return;
      // A successor that was loading becomes the desk; otherwise a new one starts.
      this.#current = this.#successor ?? this.#spawn();
      this.#successor = undefined;
      this.#syncSpares();
      if (this.#current.ready) this.#ready(this.#current);
    }, delay);
  }
}
