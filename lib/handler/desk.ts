/**
 * The front desk, in a `handler.ts` process of its own: the quick work for every chat at once,
 * whatever the brains are doing. For each job from the poll loop (see `desk_protocol.ts`) it
 * acknowledges a message (👀 and typing), answers a command or an edit, or tells a withdrawn
 * message so; jobs run concurrently and none of them ever waits for a brain.
 *
 * @module
 */

import type { Api } from "grammy/web";
import type { Message, Update } from "grammy/types";
import { isAbortOf, within } from "../shared/abort.ts";
import { parseCommand } from "../shared/command.ts";
import { handleCommand, handleStopPress } from "./commands.ts";
import { stopTarget } from "../shared/update_route.ts";
import type { Config } from "../shared/config.ts";
import {
  type DeskJob,
  type DeskReport,
  jobUpdateId,
  parseDeskJob,
} from "../shared/desk_protocol.ts";
import { handleEdit } from "./edits.ts";
import { type MessageRef, REACTIONS, setReaction, showTyping } from "./feedback.ts";
import { finish } from "./outbox.ts";
import type { Journal } from "../shared/journal.ts";
import { entryRecord } from "../shared/journal_record.ts";
import type { Logger } from "../shared/log.ts";
import { WITHDRAWN_TEXT } from "./texts.ts";
import { describeError } from "../shared/telegram.ts";

/** Options for {@linkcode runDesk}. */
export interface DeskOptions {
  /** For the droppable calls (reactions, typing): no retries. */
  api: Api;
  /** For replies: retries 429 and 5xx. */
  replyApi: Api;
  config: Config;
  journal: Journal;
  log: Logger;
  /** Aborted when the desk must stop at once (SIGTERM). */
  signal: AbortSignal;
  /** Sends a report to the poll loop. */
  report: (report: DeskReport) => void;
  /** After the jobs end (EOF), how long the jobs under way may still take. Default: 15 000 ms. */
  drainMs?: number;
}

/**
 * Runs jobs from `lines` until they end (the loop closed our stdin: it replaced us, or it is
 * gone), then lets the jobs under way finish, at most `drainMs`.
 */
export async function runDesk(lines: AsyncIterable<string>, options: DeskOptions): Promise<void> {
  const { log, report, drainMs = 15_000 } = options;
  const running = new Set<Promise<void>>();
  report({ ready: true });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    let job: DeskJob;
    try {
      job = parseDeskJob(line);
    } catch (error) {
      log.error("{error}", { error: String(error) });
      continue;
    }
    const task = runJob(job, options).finally(() => running.delete(task));
    running.add(task);
  }
  try {
    await within(Promise.all(running), drainMs, { signal: options.signal });
  } catch (error) {
    // SIGTERM: the jobs under way are abandoned, which is a normal end: unreported, they go to
    // the next desk (or, when the whole bot stops, to the next run's, from the journal).
    if (!isAbortOf(options.signal, error)) throw error;
  }
}

/** Runs one job; reports it whatever happens, so that a job never comes back for ever. */
async function runJob(job: DeskJob, options: DeskOptions): Promise<void> {
  const { log, report } = options;
  const updateId = jobUpdateId(job);
  try {
    if (job.job === "ack") await acknowledge(job.update as Update & { message: Message }, options);
    else if (job.job === "answer") await answer(job.update as Update, options);
    else await withdrawn(job.update as Update & { message: Message }, options);
  } catch (error) {
    if (options.signal.aborted) return;
    log.error("desk: {job} job of update {updateId} failed: {error}", {
      job: job.job,
      updateId,
      error: describeError(error),
    });
    if (job.job !== "ack") entryRecord(options.journal, updateId, { log }).finish();
  }
  if (options.signal.aborted) return;
  report(job.job === "ack" ? { acked: updateId } : { done: updateId });
}

/** The 👀 and the typing action, at once; resolves when the reaction's call has ended. */
async function acknowledge(update: Update & { message: Message }, options: DeskOptions) {
  const { api, log } = options;
  const ref = refOf(update);
  void showTyping(ref, { api, log });
  await setReaction(ref, REACTIONS.received, { api, log });
}

async function answer(update: Update, options: DeskOptions) {
  const { replyApi, config, journal, log, signal, report } = options;
  if (journal.read(update.update_id) === undefined) {
    // Answered by a desk that died before it could report it: the answer removes the entry.
    log.info("update {updateId} was answered already", { updateId: update.update_id });
    return;
  }
  if (stopTarget(update) !== undefined || isPress(update)) {
    await handleStopPress({ api: options.api, config, update, journal, log, signal });
    return;
  }
  if (update.edited_message !== undefined) {
    const edit = update as Update & { edited_message: Message };
    await handleEdit({ api: replyApi, config, update: edit, journal, log, signal });
    return;
  }
  const message = update as Update & { message: Message };
  const command = parseCommand(message.message?.text);
  if (command === undefined) {
    throw new TypeError("Cannot answer this update: it is neither a command nor an edit");
  }
  await handleCommand({
    api: replyApi,
    config,
    update: message,
    command,
    journal,
    log,
    signal,
    withdraw: (updateId) => report({ withdraw: updateId }),
  });
}

/** The final reply of a message withdrawn by /cancel before it started. */
async function withdrawn(update: Update & { message: Message }, options: DeskOptions) {
  const { replyApi, journal } = options;
  if (journal.read(update.update_id) === undefined) return;
  await finish({
    ...options,
    api: options.api,
    replyApi,
    ids: refOf(update),
    text: WITHDRAWN_TEXT,
    emoji: REACTIONS.failed,
  });
}

function isPress(update: Update): boolean {
  const kinds = update as { callback_query?: unknown; stopped_message_generation?: unknown };
  return kinds.callback_query !== undefined || kinds.stopped_message_generation !== undefined;
}

function refOf(update: Update & { message: Message }): MessageRef {
  return {
    updateId: update.update_id,
    chatId: update.message.chat.id,
    messageId: update.message.message_id,
  };
}

/** Writes one report line to stdout, whole (the loop reads lines). */
export function writeReport(report: DeskReport): void {
  const bytes = new TextEncoder().encode(JSON.stringify(report) + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}
