/**
 * The update ids of finished messages, remembered for Telegram's 24 hours of retention, so that an
 * update delivered again after its message was answered (a server's redelivery, an offset that
 * went backwards) is confirmed and skipped rather than run again: its journal entry is gone by
 * then, so the journal alone can't tell.
 *
 * Kept in memory and in one file of the state folder, `<state dir>/finished`, a line per update
 * (`<update_id> <finished at, ms since the epoch>`), appended as messages finish and rewritten
 * (atomically) when it has grown to twice its bound, so a restart keeps what it knew. Bounded in
 * size: past `maxSize` ids the oldest are forgotten first. A disk that fails is logged once; the
 * ids are still kept in memory, and the bot goes on.
 *
 * @module
 */

import { writeFileAtomic } from "../shared/atomic_write.ts";
import type { Logger } from "../shared/log.ts";

/** Telegram keeps an update for at most 24 hours. */
const DAY_MS = 24 * 60 * 60 * 1000;

/** Options for {@linkcode FinishedUpdates}. */
export interface FinishedUpdatesOptions {
  /** The file (`<state dir>/finished`). Required. */
  path: string;
  /** Where a failing disk is told (once). Required. */
  log: Logger;
  /** How long an id is remembered, in ms. Default: 24 hours. */
  keepMs?: number;
  /** The most ids remembered; the oldest go first. Default: 20 000. */
  maxSize?: number;
  /** The wall clock, ms since the epoch (the file outlives the process). Default: `Date.now`. */
  now?: () => number;
}

/** Finished update ids: see the module doc. */
export class FinishedUpdates {
  #path: string;
  #log: Logger;
  #keepMs: number;
  #maxSize: number;
  #now: () => number;
  /** Update id → when it finished; in the order they finished (a Map keeps insertion order). */
  #ids = new Map<number, number>();
  /** Lines in the file, to know when to rewrite it. */
  #lines = 0;
  #diskFailed = false;

  constructor(options: FinishedUpdatesOptions) {
    const { path, log, keepMs = DAY_MS, maxSize = 20_000, now = Date.now } = options;
    this.#path = path;
    this.#log = log;
    this.#keepMs = keepMs;
    this.#maxSize = maxSize;
    this.#now = now;
  }

  /** Reads what an earlier run remembered; a missing or unreadable file is an empty one. */
  load(): void {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.#path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) this.#failed("read", error);
      return;
    }
    const oldest = this.#now() - this.#keepMs;
    const lines = text.split("\n");
    for (const line of lines) {
      const match = line.match(/^(\d+) (\d+)$/);
      if (match === null) continue;
      const [id, at] = [Number(match[1]), Number(match[2])];
      if (Number.isSafeInteger(id) && at >= oldest) this.#remember(id, at);
    }
    this.#lines = lines.filter((line) => line !== "").length;
  }

  /** How many ids are remembered. */
  get size(): number {
    return this.#ids.size;
  }

  /** True when `updateId`'s message finished less than `keepMs` ago. */
  has(updateId: number): boolean {
    const at = this.#ids.get(updateId);
    if (at === undefined) return false;
    if (at >= this.#now() - this.#keepMs) return true;
    this.#ids.delete(updateId);
    return false;
  }

  /** Remembers that `updateId`'s message finished now. Never throws. */
  add(updateId: number): void {
    if (!Number.isSafeInteger(updateId) || updateId < 0) return;
    const at = this.#now();
    this.#remember(updateId, at);
    try {
      if (this.#lines >= 2 * this.#maxSize) this.#rewrite();
      else Deno.writeTextFileSync(this.#path, `${updateId} ${at}\n`, { append: true });
      this.#lines++;
    } catch (error) {
      this.#failed("write", error);
    }
  }

  #remember(updateId: number, at: number) {
    this.#ids.delete(updateId);
    this.#ids.set(updateId, at);
    while (this.#ids.size > this.#maxSize) {
      this.#ids.delete(this.#ids.keys().next().value!);
    }
  }

  /** The file again, with what is still remembered. */
  #rewrite() {
    const oldest = this.#now() - this.#keepMs;
    const kept = [...this.#ids].filter(([, at]) => at >= oldest);
    writeFileAtomic(this.#path, kept.map(([id, at]) => `${id} ${at}\n`).join(""), {
      durable: false,
    });
    this.#lines = kept.length - 1;
  }

  #failed(what: "read" | "write", error: unknown) {
    if (this.#diskFailed) return;
    this.#diskFailed = true;
    this.#log.warn(
      "cannot {what} {path} ({error}): finished updates are remembered in memory only",
      { what, path: this.#path, error: String(error) },
    );
  }
}
