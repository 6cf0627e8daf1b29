/**
 * The scheduler's writes to the journal, with the disk as a fault rather than a state: a write
 * that fails (a full disk, a read-only remount, an I/O error) is owed, retried after a back-off and
 * whenever another write succeeds, and the message goes on from memory meanwhile (updates not yet
 * journaled are tried again at each of the loop's polls, `unconfirmed.ts`). A state folder
 * that was deleted is created again. Whether the disk is failing, since when and why is known
 * here, for `/status` and the log.
 *
 * @module
 */

import { backoffMs } from "../shared/backoff.ts";
import type { Journal } from "../shared/journal.ts";
import type { JournalEntry } from "../shared/journal_entry.ts";
import type { Logger } from "../shared/log.ts";

/** Options for {@linkcode Disk}. */
export interface DiskOptions {
  journal: Journal;
  log: Logger;
  /** The wall clock, ms since the epoch. Default: `Date.now`. */
  now?: () => number;
  /** The first retry's wait; it doubles to 10 s. Default: 1000 ms. */
  retryMs?: number;
  /** How long the disk may fail before the log says so as an error. Default: 60 000 ms. */
  alarmAfterMs?: number;
}

/** What {@linkcode Disk.record} did. */
export type Recorded = "new" | "known" | "failed";

/** The journal as the scheduler writes it; see the module doc. */
export class Disk {
  #journal: Journal;
  #log: Logger;
  #now: () => number;
  #retryMs: number;
  #alarmAfterMs: number;
  /** Writes owed to the journal, the latest per message: an entry, or `null` for a removal. */
  #owed = new Map<number, JournalEntry | null>();
  #failing?: { since: number; error: string; failures: number; alarmed: boolean };
  #timer?: ReturnType<typeof setTimeout>;

  constructor(options: DiskOptions) {
    const { journal, log, now = Date.now } = options;
    this.#journal = journal;
    this.#log = log;
    this.#now = now;
    this.#retryMs = options.retryMs ?? 1000;
    this.#alarmAfterMs = options.alarmAfterMs ?? 60_000;
  }

  /** Since when writes fail (ISO 8601) and the last error, while they do. */
  get failing(): { since: string; error: string } | undefined {
    const failing = this.#failing;
    return failing && { since: new Date(failing.since).toISOString(), error: failing.error };
  }

  /** Journals a new message (see `Journal.record`); "failed" when the disk would not take it. */
  record(update: unknown, ids: { updateId: number; chatId: number }): Recorded {
    const done = this.#attempt(() => this.#journal.record(update, ids));
    if (!done.ok) return "failed";
    return done.value === undefined ? "known" : "new";
  }

  /** Writes an entry whole, now if the disk lets it, else when it does. */
  save(entry: JournalEntry): void {
    this.#owed.set(entry.updateId, entry);
    this.#flush();
  }

  /**
   * An entry changed elsewhere (its handler wrote it, or tried): a write of it still owed here is
   * made of this version, so that paying it can't put an older one over the handler's.
   */
  refresh(entry: JournalEntry): void {
    if (this.#owed.get(entry.updateId)) this.#owed.set(entry.updateId, entry);
  }

  /** Removes a finished message's entry, now if the disk lets it, else when it does. */
  remove(updateId: number): void {
    this.#owed.set(updateId, null);
    this.#flush();
  }

  /** Writes another file of the state folder (the offset); true when it could. */
  write(fn: (journal: Journal) => void): boolean {
    return this.#attempt(() => fn(this.#journal)).ok;
  }

  /** Stops retrying (the bot is stopping; what is still owed is lost with the disk's fault). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #flush() {
    for (const [updateId, entry] of this.#owed) {
      const done = this.#attempt(() =>
        entry === null ? this.#journal.finish(updateId) : this.#journal.put(entry)
      );
      if (!done.ok) return;
      this.#owed.delete(updateId);
    }
  }

  /** Runs one write; a folder that is gone is made again first, and the write tried once more. */
  #attempt<T>(fn: () => T): { ok: true; value: T } | { ok: false } {
    try {
      let value: T;
      try {
        value = fn();
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        this.#journal.open();
        value = fn();
      }
      this.#succeeded();
      return { ok: true, value };
    } catch (error) {
      this.#failed(error);
      return { ok: false };
    }
  }

  #succeeded() {
    const failing = this.#failing;
    if (failing === undefined) return;
    this.#failing = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#log.warn("the state folder can be written again, after {seconds} s", {
      seconds: Math.round((this.#now() - failing.since) / 1000),
    });
    this.#flush();
  }

  #failed(error: unknown) {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const failing = this.#failing ??= {
      since: this.#now(),
      error: text,
      failures: 0,
      alarmed: false,
    };
    failing.error = text;
    failing.failures++;
    if (failing.failures === 1) {
      this.#log.error("cannot write the state folder ({error}); going on from memory, retrying", {
        error: text,
      });
    }
    if (!failing.alarmed && this.#now() - failing.since >= this.#alarmAfterMs) {
      failing.alarmed = true;
      this.#log.error(
        "the state folder has not been writable for {seconds} s ({error}): new messages are acknowledged but not answered until it is",
        { seconds: Math.round((this.#now() - failing.since) / 1000), error: text },
      );
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#retry();
    }, backoffMs(failing.failures, { baseMs: this.#retryMs, maxMs: 10_000 }));
  }

  /** A retry: the owed writes, else a probe of the folder, so that a recovery is noticed. */
  #retry() {
    if (this.#owed.size > 0) return this.#flush();
    this.#attempt(() => this.#journal.probe());
  }
}
