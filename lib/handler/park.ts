/**
 * A message whose brain asked to be run later (Claude's usage limit, or a brain's exit 75 with a
 * `retry-after:` line) is parked: neither failed nor retried blindly. It goes back to waiting in
 * the journal with the time it may run again; the person is told once; the poll loop starts it
 * again after that time, across restarts, and the chat's later messages wait behind it.
 *
 * @module
 */

import type { Api } from "grammy/web";
import type { MessageRef } from "./feedback.ts";
import type { JournalEntry } from "../shared/journal_entry.ts";
import type { EntryRecord } from "./entry_record.ts";
import type { Logger } from "../shared/log.ts";
import { sendReply } from "./reply.ts";
import { parkedText } from "./texts.ts";
import { describeError } from "../shared/telegram.ts";

/** Options for {@linkcode park}. */
export interface ParkOptions {
  /** For the note (waits out what is transient). */
  replyApi: Api;
  ids: MessageRef;
  record: EntryRecord;
  entry: JournalEntry | undefined;
  /** When it may run again, ms since the epoch. */
  until: number;
  /** Why, as a phrase ("Claude's usage limit is reached"). */
  reason: string;
  log: Logger;
  signal?: AbortSignal;
  /** The clock, ms since the epoch. Default: `Date.now`. */
  now?: () => number;
}

/** Parks the message (see the module doc). */
export async function park(options: ParkOptions): Promise<void> {
  const { replyApi, ids, record, entry, until, reason, log, signal, now = Date.now } = options;
  const at = now();
  // Recorded first: if the note fails, the message still waits rather than runs again at once.
  record.update({
    stage: "received",
    parkedUntil: new Date(until).toISOString(),
    // What is announced: the wait is never longer, whatever the wall clock does (`parkedFor`).
    parkedMs: Math.max(0, until - at),
  });
  log.info("update {updateId} parked until {until}: {reason}", {
    ...ids,
    until: new Date(until).toISOString(),
    reason,
  });
  if (entry?.parkNotified) return;
  try {
    await sendReply(replyApi, {
      chatId: ids.chatId,
      replyTo: ids.messageId,
      text: parkedText(reason, { until, now: at }),
      formatted: false,
      signal,
    });
    record.update({ parkNotified: true });
  } catch (error) {
    log.warn("update {updateId}: the person was not told it waits: {error}", {
      ...ids,
      error: describeError(error),
    });
  }
}
