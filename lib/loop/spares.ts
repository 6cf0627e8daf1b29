/**
 * Spare handlers: started ahead of their message, modules loaded and told the token, waiting on
 * their line, so that a message's brain starts 0.1 to 0.3 s sooner (a Deno process's start). The `Dispatcher` takes
 * one per message and asks for a new one behind it. Spares that keep dying before they are used
 * are given up: handlers then start only when messages arrive.
 *
 * @module
 */

import { getLog } from "../shared/log.ts";
import type { HandlerProcess } from "./handler_process.ts";

/** How long after a spare was taken (or a handler reaped) the next one is started. */
const SPARE_DELAY_MS = 25;

/** Spares that die before they are used, in a row, after which no more are started. */
const SPARE_FAILURE_LIMIT = 3;

/** The spares of one dispatcher; see the module doc. */
export class SparePool {
  #start: () => HandlerProcess;
  #wanted: number;
  #spares: HandlerProcess[] = [];
  #failures = 0;
  #scheduled = false;
  #held = false;
  #stopped = false;
  #log = getLog("dispatch");

  /** `start` starts a spare handler; `wanted` of them are kept. */
  constructor(start: () => HandlerProcess, wanted: number) {
    this.#start = start;
    this.#wanted = wanted;
  }

  /** Spares started and not yet used (some may still be loading). */
  get size(): number {
    return this.#spares.filter((s) => !s.exit).length;
  }

  /** The spares not yet used. */
  get handlers(): HandlerProcess[] {
    return [...this.#spares];
  }

  /** True while spares are due to start: {@linkcode fillSoon} asked, and its moment has not come. */
  get due(): boolean {
    return this.#scheduled;
  }

  /** Starts spares up to the wanted number, unless held, stopped or given up. */
  fill(): void {
    if (!this.#mayFill()) return;
    while (this.size < this.#wanted) {
      let spare: HandlerProcess;
      try {
        spare = this.#start();
      } catch (error) {
        // Out of processes or descriptors: a spare that can't start counts as one that died.
        this.#failures++;
        this.#log.warn("cannot start a spare handler: {error}", { error: String(error) });
        return;
      }
      this.#spares.push(spare);
      this.#log.info("spare started: pid {pid}", { pid: spare.pid });
    }
  }

  /**
   * Starts missing spares a moment later. A spawn blocks this whole process for 10 to 40 ms (a
   * fork of it), which must not come between an update's arrival and the loop's next
   * `getUpdates`. After `SPARE_DELAY_MS` the update is on its way to its handler and the next
   * long poll has been sent and waits: the spawn then costs nobody anything.
   */
  fillSoon(): void {
    if (this.#scheduled || !this.#mayFill() || this.size >= this.#wanted) return;
    this.#scheduled = true;
    setTimeout(() => {
      this.#scheduled = false;
      this.fill();
    }, SPARE_DELAY_MS);
  }

  /** A spare ready to take an update, out of the pool; undefined if none. */
  take(): HandlerProcess | undefined {
    this.forgetDead();
    return this.#spares.shift();
  }

  /** A spare that was taken has exited, its update in hand: spares start, failures start over. */
  served(): void {
    this.#failures = 0;
  }

  /** Holds spares back (`true`: idle ones are stopped, none started) or lets them start again. */
  hold(hold: boolean): void {
    this.#held = hold;
    if (!hold) {
      this.fillSoon();
      return;
    }
    // A spare reads EOF before any update and exits at once: that is not a failure.
    this.#closeAll();
  }

  /** Counts and forgets the spares that died before they were used. */
  forgetDead(): void {
    for (const spare of this.#spares.filter((s) => s.exit)) {
      this.#spares.splice(this.#spares.indexOf(spare), 1);
      spare.close();
      this.#failures++;
      this.#log.warn("spare handler {pid} exited before it was used (exit status {code})", {
        pid: spare.pid,
        code: spare.exit!.code,
      });
      if (this.#failures === SPARE_FAILURE_LIMIT) {
        this.#log.error("spare handlers keep dying; starting handlers only when messages arrive");
      }
    }
  }

  /** No spare starts from now on (the bot is stopping: the caller stops their processes). */
  stop(): void {
    this.#stopped = true;
  }

  /** Lets go of the spares left, once their processes have exited. */
  close(): void {
    this.#closeAll();
  }

  #mayFill(): boolean {
    return !this.#stopped && !this.#held && this.#failures < SPARE_FAILURE_LIMIT;
  }

  #closeAll() {
    for (const spare of this.#spares) spare.close();
    this.#spares = [];
  }
}
