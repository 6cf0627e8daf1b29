/**
 * A job from the box as a message the scheduler holds: the journal entry it becomes (pure
 * functions of the job, its id and its place), and its ask's prompt, shown in the chat by the desk
 * in place of a 👀.
 *
 * - A **send** is an entry whose answer is decided from the start (stage `answered`): its text
 *   and its files, delivered by a message handler through the outbox (`lib/handler/outbox.ts`),
 *   as a brain's answer is, but in its chat's lane of sends (`chat_queues.ts`), never behind the
 *   chat's brain, and as a message of its own (no reply link, no reaction).
 * - An **ask** is an entry like a person's message (stage `received`, its `update` a message with
 *   the prompt as its text): it waits for its chat's turn and goes to the brain. The person sees
 *   the prompt as the bot's own message ("⏰ Scheduled: …"), whose id then stands in the update
 *   as the message's, so that the answer replies to it.
 *
 * @module
 */

import type { JournalEntry } from "../shared/journal_entry.ts";
import type { SpoolJob } from "../shared/spool_job.ts";

/** What an ask's prompt is shown as: this, then the prompt. */
export const SCHEDULED_PREFIX = "⏰ Scheduled: ";

/** Options for {@linkcode entryOfJob}. */
export interface EntryOfJobOptions {
  /** Its message id (`SPOOL_ID_BASE` and up). Required. */
  updateId: number;
  /** The last update id taken from Telegram (the job goes just after it). Required. */
  lastUpdateId: number;
  /** Where its files are (`<state>/send/<id>`). Required. */
  dir: string;
  /** The wall clock, ms since the epoch. Required. */
  now: number;
}

/** The journal entry a job becomes (see the module doc). */
export function entryOfJob(job: SpoolJob, options: EntryOfJobOptions): JournalEntry {
  const { updateId, lastUpdateId, dir, now } = options;
  const base = {
    updateId,
    chatId: job.chatId,
    dispatches: 0,
    receivedAt: new Date(now).toISOString(),
    spool: { kind: job.kind, order: lastUpdateId + 0.5 },
  };
  if (job.kind === "ask") {
    const chat = { id: job.chatId, type: job.chatId > 0 ? "private" : "group" };
    const message = { message_id: 0, date: Math.floor(now / 1000), chat, text: job.text };
    return { ...base, update: { update_id: updateId, message }, stage: "received" };
  }
  const files = job.files.map((f) => ({ path: `${dir}/${f.file}`, name: f.name, kind: f.kind }));
  return {
    ...base,
    update: { update_id: updateId },
    stage: "answered",
    answer: { head: "", body: job.text, emoji: "", sent: 0, files, filesSent: 0 },
  };
}

/** The text that shows an ask's prompt, while it has not been shown; else `undefined`. */
export function promptToShow(entry: JournalEntry): string | undefined {
  if (entry.spool?.kind !== "ask" || entry.spool.shown) return undefined;
  const message = (entry.update as { message?: { text?: string } }).message;
  return SCHEDULED_PREFIX + (message?.text ?? "");
}

/**
 * The patch for an ask whose prompt the desk has shown as message `messageId` (or failed to:
 * `undefined`, and the answer then goes without a reply link); `undefined` for anything else.
 */
export function promptShown(
  entry: JournalEntry,
  messageId: number | undefined,
): Partial<JournalEntry> | undefined {
  if (entry.spool?.kind !== "ask" || entry.spool.shown) return undefined;
  const update = entry.update as { update_id: number; message: Record<string, unknown> };
  return {
    spool: { ...entry.spool, shown: true },
    update: { ...update, message: { ...update.message, message_id: messageId ?? 0 } },
  };
}
