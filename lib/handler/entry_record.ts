/**
 * A message's journal entry, as its handler keeps it: the entry the poll process handed over with
 * the message, patched as the work goes on. Each patch is written to the journal and reported over
 * the line (`line.ts`), so the poll process, which owns the message, knows it from the report even
 * when the disk can't be written (full, read-only, gone). A journal that fails is logged, never
 * thrown: it never stops a reply.
 *
 * @module
 */

import type { Journal } from "../shared/journal.ts";
import { type JournalEntry, patched } from "../shared/journal_entry.ts";
import type { Report } from "../shared/line.ts";
import type { Logger } from "../shared/log.ts";

/** A message's entry, as its handler keeps it; see the module doc. */
export interface EntryRecord {
  /** The entry as it stands now. */
  read(): JournalEntry;
  /** Changes the entry: in memory, in the journal (if it can), and in a report. */
  update(patch: Partial<JournalEntry>): void;
  /** The message is finished: its entry goes from the journal (if it can), and a report says so. */
  finish(): void;
}

/** Options for {@linkcode entryRecord}. */
export interface EntryRecordOptions {
  /** The journal the entry is written to. Default: none (memory and reports only). */
  journal?: Journal;
  /** Where a journal that can't be written is logged (a warning). Required. */
  log: Logger;
  /** Sends a report to the poll process. Default: none. */
  report?: (report: Report) => void;
}

/** The handler's record of `entry`; see the module doc. */
export function entryRecord(entry: JournalEntry, options: EntryRecordOptions): EntryRecord {
  const { journal, log, report = () => {} } = options;
  const { updateId } = entry;
  let current = entry;
  let finished = false;
  const write = (what: string, fn: (journal: Journal) => void) => {
    if (journal === undefined) return;
    try {
      fn(journal);
    } catch (error) {
      log.warn("journal: cannot {what} entry {updateId}: {error}", {
        what,
        updateId,
        error: String(error),
      });
    }
  };
  return {
    read: () => current,
    update(patch) {
      current = patched(current, patch);
      // Reported first (the report is written at once): the poll process, which owns the message,
      // knows what changed before anyone can read it on disk (a progress message a reply steers to).
      report({ kind: "patch", updateId, patch: withUndefined(patch) });
      // Written whole, as it stands here: an entry lost with its folder (deleted, made again)
      // comes back; after the finish, nothing is written back.
      if (!finished) write("update", (j) => j.put(current));
    },
    finish() {
      finished = true;
      write("remove", (j) => j.finish(updateId));
      report({ kind: "finished", updateId });
    },
  };
}

/** A patch whose removed fields survive JSON (as `null`, read back as "remove"). */
function withUndefined(patch: Partial<JournalEntry>): Partial<JournalEntry> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch)) out[key] = value === undefined ? null : value;
  return out as Partial<JournalEntry>;
}
