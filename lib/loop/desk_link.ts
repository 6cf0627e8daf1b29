/**
 * The poll process's handle on the front desk: one `handler.ts` process in the desk role, started
 * at boot, started again when it dies, and replaced now and then so that it can't grow.
 *
 * Jobs (`shared/line.ts`) are written on the desk's line as soon as they are made, and kept here
 * until the desk reports them done: a desk that dies mid-job loses nothing, its jobs go to
 * the next desk. While no desk is ready (at start, after a death, while one loads), jobs wait here.
 *
 * @module
 */

import { backoffMs } from "../shared/backoff.ts";
import type { HandlerLaunch } from "./launch.ts";
import { HandlerProcess } from "./handler_process.ts";
import { type DeskJob, jobUpdateId, type Report } from "../shared/line.ts";
import { getLog } from "../shared/log.ts";
import { stopGroups } from "../shared/process_tree.ts";

/** Options for {@linkcode DeskLink}. */
export interface DeskLinkOptions {
  /** How to start a handler (the desk gets the desk role on top). */
  launch: HandlerLaunch;
  /** Told of every `acked` and `done` report (after this link has settled its job). */
  onReport: (report: Extract<Report, { kind: "acked" | "done" }>) => void;
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
  handler: HandlerProcess;
  /** It said it is ready: jobs may be written to it. */
  ready: boolean;
  jobs: number;
  startedAt: number;
  status?: Deno.CommandStatus;
}

interface PendingJob {
  job: DeskJob;
  /** The desk it was written to, if any. */
  desk?: Desk;
  /** When it was written to that desk (`performance.now()`). */
  writtenAt: number;
  deaths: number;
}

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
  #quickDeaths = 0;
  #sparesHeld = false;
  #restartTimer?: ReturnType<typeof setTimeout>;
  #stopped = false;
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
    return this.#desks().filter((d) => d.status === undefined).map((d) => d.handler.pid);
  }

  /** Jobs the desk has not reported done. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Starts the first desk. */
  start(): void {
    this.#current = this.#trySpawn();
  }

  /** Hands the desk a job: at once if a desk is ready, else as soon as one is. */
  send(job: DeskJob): void {
    const pending: PendingJob = { job, writtenAt: 0, deaths: 0 };
    this.#pending.set(jobKey(job.job === "ack" ? "ack" : "answer", jobUpdateId(job)), pending);
    const desk = this.#current;
    if (desk?.ready) this.#write(desk, pending);
  }

  /** Resolves once the jobs written so far are in the desk's pipe (a moment; nothing waits long). */
  async flushed(): Promise<void> {
    await this.#current?.handler.flushed();
  }

  /** Stops every desk: SIGTERM, then SIGKILL after the grace period; waits for them. */
  async terminate(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    const desks = this.#desks().filter((d) => d.status === undefined);
    const late = await stopGroups(desks.map((d) => d.handler.process), this.#graceMs);
    if (late.length > 0) this.#log.warn("the desk did not stop in time; killed it");
    for (const desk of desks) desk.handler.close();
    // Their last reports read and their exits settled here too.
    await Promise.all(desks.map((d) => d.handler.ended));
  }

  #desks(): Desk[] {
    return [this.#current, this.#successor, ...this.#retiring].filter((d) => d !== undefined);
  }

  #spawn(): Desk {
    const desk = { ready: false, jobs: 0, startedAt: performance.now() } as Desk;
    desk.handler = new HandlerProcess(this.#options.launch, {
      role: "desk",
      onReport: (report) => this.#onReport(desk, report),
      onBadLine: (line) =>
        this.#log.warn("the desk (pid {pid}) said something else than a report: {line}", {
          pid: desk.handler.pid,
          line: line.slice(0, 200),
        }),
    });
    this.#log.info("desk started: pid {pid}", { pid: desk.handler.pid });
    // Its last reports are read before its jobs are handed on, so none is handed on needlessly.
    desk.handler.ended.then((status) => this.#exited(desk, status));
    return desk;
  }

  #onReport(desk: Desk, report: Report) {
    if (report.kind === "ready") return this.#ready(desk);
    if (report.kind !== "acked" && report.kind !== "done") return;
    // An ack is one job, any other job of the update is the other: one of each at a time.
    this.#pending.delete(jobKey(report.kind === "acked" ? "ack" : "answer", report.updateId));
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
        old.handler.close();
        this.#log.info("desk replaced: pid {old} finishes its jobs, pid {pid} takes new ones", {
          old: old.handler.pid,
          pid: desk.handler.pid,
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
    desk.handler.send({ kind: "job", job: pending.job });
    if (
      desk.jobs >= this.#recycleAfter && this.#successor === undefined && !this.#stopped &&
      this.#retiring.size === 0
    ) {
      this.#successor = this.#trySpawn(desk);
      this.#syncSpares();
    }
  }

  #exited(desk: Desk, status: Deno.CommandStatus) {
    desk.status = status;
    desk.handler.close();
    const wasCurrent = desk === this.#current;
    if (wasCurrent) this.#current = undefined;
    if (desk === this.#successor) this.#successor = undefined;
    const retired = this.#retiring.delete(desk);
    if (this.#stopped) return;
    if (!retired) {
      this.#log.warn("the desk (pid {pid}) ended (exit status {code}); starting another", {
        pid: desk.handler.pid,
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
        // Given up is done with, for whoever waits on it.
        const updateId = jobUpdateId(job);
        this.#options.onReport(
          job.job === "ack" ? { kind: "acked", updateId } : { kind: "done", updateId },
        );
        continue;
      }
      if (this.#current?.ready) this.#write(this.#current, pending);
    }
  }

  #restart(dead: Desk) {
    const lived = performance.now() - dead.startedAt;
    this.#quickDeaths = lived >= HEALTHY_LIFE_MS ? 0 : this.#quickDeaths + 1;
    this.#startLater();
  }

  /**
   * A new desk, or none when it can't be spawned now (logged, and tried again later). The
   * replacement of a desk that works is no death: that desk goes on, and is replaced after as
   * many jobs again.
   */
  #trySpawn(replacing?: Desk): Desk | undefined {
    try {
      return this.#spawn();
    } catch (error) {
      if (replacing !== undefined) {
        replacing.jobs = 0;
        this.#log.warn("cannot start the desk's replacement: {error}", { error: String(error) });
        return undefined;
      }
      // Out of processes or descriptors: the jobs wait here meanwhile.
      this.#log.error("cannot start the desk: {error}; trying again", { error: String(error) });
      this.#quickDeaths++;
      this.#startLater();
      return undefined;
    }
  }

  #startLater() {
    const delay = backoffMs(this.#quickDeaths, { ...RESTART, random: this.#random });
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      if (this.#stopped || this.#current !== undefined) return;
      // A successor that was loading becomes the desk; otherwise a new one starts.
      this.#current = this.#successor ?? this.#trySpawn();
      this.#successor = undefined;
      this.#syncSpares();
      if (this.#current?.ready) this.#ready(this.#current);
    }, delay);
  }
}

/** A job's key: one ack and one other job per update at a time. */
function jobKey(kind: "ack" | "answer", updateId: number): string {
  return `${kind}:${updateId}`;
}
