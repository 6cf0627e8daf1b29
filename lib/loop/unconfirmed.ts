/**
 * Between Telegram and the disk: the updates taken in this run that Telegram may still send again,
 * and those of them not yet journaled, which must not be confirmed (the loop's next `getUpdates`
 * starts at the first of them, so Telegram keeps them until the disk takes them).
 *
 * @module
 */

import type { Recorded } from "./disk.ts";
import type { Held } from "./held.ts";
import type { Logger } from "../shared/log.ts";

/** Options for {@linkcode Unconfirmed.journal}. */
export interface JournalPendingOptions {
  /** Journals one update (`Disk.record`). Required. */
  record: (held: Held) => Recorded;
  /** Whether the scheduler still holds it (a desk update may be done before it is journaled). */
  isHeld: (updateId: number) => boolean;
  /** Hands on an update: once journaled; a desk update also before, once. */
  release: (held: Held) => void;
  log: Logger;
}

/** See the module doc. */
export class Unconfirmed {
  /** Taken and acknowledged, not yet journaled: in `update_id` order. */
  #pending: Held[] = [];
  #seen = new Set<number>();

  /** True when the update was taken in this run and may come again (not yet confirmed). */
  has(updateId: number): boolean {
    return this.#seen.has(updateId);
  }

  /** Remembers an update taken from Telegram (or from the journal at start). */
  seen(updateId: number): void {
    this.#seen.add(updateId);
  }

  /** An update taken now, to be journaled. */
  add(held: Held): void {
    this.seen(held.entry.updateId);
    this.#pending.push(held);
  }

  /**
   * Journals what waits, in order, until the disk refuses one. A message goes on only once
   * journaled; a command, an edit or a press goes to the desk at once either way (`/status` then
   * says why nothing else moves), and stays unconfirmed until it is journaled or done.
   */
  journal(options: JournalPendingOptions): void {
    const { record, isHeld, release, log } = options;
    let refused = false;
    this.#pending = this.#pending.filter((held) => {
      if (!isHeld(held.entry.updateId)) return false;
      if (!refused) {
        const recorded = record(held);
        if (recorded !== "failed") {
          held.journaled = true;
          if (recorded === "known") {
            log.info("update {updateId} is in the journal already", { ...held.entry });
          }
          release(held);
          return false;
        }
        refused = true;
      }
      if (!held.turn) release(held);
      return true;
    });
  }

  /**
   * The first update id that must not be confirmed yet, if any. What lies below it will be
   * confirmed by the next `getUpdates`, and Telegram sends none of it again: forgotten here.
   */
  first(): number | undefined {
    const first = this.#pending[0]?.entry.updateId;
    for (const id of this.#seen) if (first === undefined || id < first) this.#seen.delete(id);
    return first;
  }
}
