/**
 * Journal writes that never stop the work they record: a handler's view of its message's entry
 * ({@linkcode entryRecord}) and the poll loop's patches ({@linkcode entryPatcher}). Reads and
 * writes that fail (a full disk, a folder gone) are logged, never thrown: a journal that can't be
 * written never stops a reply, nor the loop.
 *
 * @module
 */

import type { Journal } from "./journal.ts";
import type { JournalEntry } from "./journal_entry.ts";
import type { Logger } from "./log.ts";

/** A message's journal entry, as a handler uses it: failures are logged, never thrown. */
export interface EntryRecord {
  read(): JournalEntry | undefined;
  /** True when the entry no longer exists (finished by another handler). */
  isGone(): boolean;
  update(patch: Partial<JournalEntry>): void;
  finish(): void;
}

/** Options for {@linkcode entryRecord}. */
export interface EntryRecordOptions {
  /** Where a journal that can't be read or written is logged (a warning). Required. */
  log: Logger;
}

/**
 * One entry of `journal` (none: every call does nothing), for a handler: a journal that can't be
 * written is logged on `log` and never stops a reply.
 */
export function entryRecord(
  journal: Journal | undefined,
  updateId: number,
  options: EntryRecordOptions,
): EntryRecord {
  const { log } = options;
  const guard = <T>(what: string, fn: () => T, { fallback }: { fallback: T }): T => {
    if (journal === undefined) return fallback;
    try {
      return fn();
    } catch (error) {
      log.warn("journal: cannot {what} entry {updateId}: {error}", {
        what,
        updateId,
        error: String(error),
      });
      return fallback;
    }
  };
  return {
    read: () => guard("read", () => journal!.read(updateId), { fallback: undefined }),
    isGone: () => guard("read", () => journal!.read(updateId) === undefined, { fallback: false }),
    update: (patch) =>
      guard("update", () => void journal!.update(updateId, patch), { fallback: undefined }),
    finish: () => guard("remove", () => journal!.finish(updateId), { fallback: undefined }),
  };
}

/** Patches a journal entry; the patched entry. See {@linkcode entryPatcher}. */
export type EntryPatcher = (entry: JournalEntry, patch: Partial<JournalEntry>) => JournalEntry;

/**
 * The poll loop's writes to entries of `journal`: a failed write is logged on `log` (an error) and
 * the message goes on from memory, with the patch applied; at worst a restart finds it one stage
 * behind.
 */
export function entryPatcher(journal: Journal, log: Logger): EntryPatcher {
  return (entry, patch) => {
    try {
      return journal.update(entry.updateId, patch) ?? { ...entry, ...patch };
    } catch (error) {
      log.error("journal: cannot update entry {updateId}: {error}", {
        updateId: entry.updateId,
        error: String(error),
      });
      return { ...entry, ...patch };
    }
  };
}
