/**
 * Answering the bot's own commands (see `command.ts`), in the desk: at once, whatever the brains
 * do, and without a brain.
 *
 * @module
 */

import type { Api } from "grammy/web";
import type { Message, Update } from "grammy/types";
import { CancelBox } from "./cancel.ts";
import type { Command } from "../shared/command.ts";
import type { Config } from "../shared/config.ts";
import { readHeartbeatFile } from "../shared/heartbeat.ts";
import { readBrainReport } from "../shared/brain_report.ts";
import type { Journal } from "../shared/journal.ts";
import { isRunning, type JournalEntry } from "../shared/journal_entry.ts";
import { entryRecord } from "../shared/journal_record.ts";
import type { Logger } from "../shared/log.ts";
import { killGroup } from "../shared/process_tree.ts";
import { sendReply } from "./reply.ts";
import { SessionStore } from "./session.ts";
import { costsToday } from "./costs.ts";
import { chatStanding, statusText } from "./status.ts";
import { apiSignal, describeError } from "../shared/telegram.ts";
import { stopTarget } from "../shared/update_route.ts";

/** Options for {@linkcode handleCommand}. */
export interface CommandOptions {
  /** For the reply (retries 429 and 5xx). */
  api: Api;
  config: Config;
  update: Update & { message: Message };
  command: Command;
  journal?: Journal;
  log: Logger;
  signal: AbortSignal;
  /** Asks the poll loop to withdraw a waiting message (it alone knows whether it still waits). */
  withdraw?: (updateId: number) => void;
  /** The clock, ms since the epoch. Default: `Date.now`. */
  now?: () => number;
}

/** Answers a command; returns once its reply is sent. */
export async function handleCommand(options: CommandOptions): Promise<void> {
  const { api, config, update, command, journal, log, signal, now = Date.now } = options;
  const message = update.message;
  const chatId = message.chat.id;
  let text: string;
  if (command === "status") {
    text = status(options);
  } else if (command === "cancel") {
    text = cancel(options);
  } else {
    new SessionStore(config.stateDir, chatId).markNew(update.update_id);
    text = config.claudeSessions
      ? "🆕 The next message starts a new conversation."
      : "🆕 The next message starts a new conversation (the brain is told with COORD_NEW_CONVERSATION=1).";
  }
  await sendReply(api, { chatId, replyTo: message.message_id, text, formatted: false, signal });
  entryRecord(journal, update.update_id, { log }).finish();
  log.info("/{command} answered in chat {chatId} at {at}", {
    command,
    chatId,
    at: new Date(now()).toISOString(),
  });
}

function status(options: CommandOptions): string {
  const { config, update, journal, now = Date.now } = options;
  const beat = readHeartbeatFile(`${config.stateDir}/heartbeat`);
  const cancels = new CancelBox(config.stateDir);
  const isCancelled = (id: number) => cancels.requested(id);
  const entries = entriesOf(journal);
  const today = costsToday(config.stateDir, now());
  return statusText({
    beatAt: beat?.at,
    poll: beat?.status,
    brain: readBrainReport(config.stateDir),
    standing: chatStanding(entries, update.message.chat.id, { isCancelled }),
    waitingInAll: chatStanding(entries, undefined, { isCancelled }).waiting,
    costs: {
      chat: today.byChat.get(update.message.chat.id) ?? 0,
      total: today.total,
    },
    maxAttempts: config.brainMaxAttempts,
    now: now(),
  });
}

function cancel(options: CommandOptions): string {
  const { config, update, journal, log, withdraw } = options;
  const chatId = update.message.chat.id;
  const entries = entriesOf(journal).filter((e) =>
    e.chatId === chatId && e.updateId !== update.update_id && e.stage !== "replied"
  );
  const replyTo = update.message.reply_to_message?.message_id;
  // Without a reply: the running message, else one parked until a usage limit's reset.
  const target = replyTo === undefined
    ? entries.find(isRunning) ?? entries.find((e) => e.parkedUntil !== undefined)
    : entries.find((e) => messageIdOf(e) === replyTo);
  if (target === undefined) {
    return replyTo === undefined
      ? "Nothing is running in this chat: nothing to cancel."
      : "That message is not waiting or running (already answered?): nothing to cancel.";
  }
  const cancels = new CancelBox(config.stateDir);
  cancels.request(target.updateId);
  // Read again after the marker is down: a handler that started meanwhile either sees the marker
  // itself, or has recorded its stage (and its brain's process group) by now.
  const current = journal?.read(target.updateId);
  if (current === undefined || current.stage === "replied") {
    cancels.clear(target.updateId);
    return "That message was answered meanwhile: nothing to cancel.";
  }
  const id = messageIdOf(current);
  if (current.stage === "answered") {
    cancels.clear(current.updateId);
    return `Message ${id} is answered; its answer is being delivered: nothing to cancel.`;
  }
  if (!isRunning(current)) {
    withdraw?.(current.updateId);
    return `Withdrawn: message ${id} won't go to the brain.`;
  }
  if (current.stage !== "brain") {
    // Its handler sees the marker within a moment and stops its download or transcriber.
    log.info("/cancel stops update {updateId} before its brain", { updateId: current.updateId });
    return `Stopped message ${id} before its brain started.`;
  }
  // The handler stops the whole tree as soon as it sees the marker; the SIGTERM only saves it the
  // wait for its next look.
  if (current.brainPid !== undefined) killGroup(current.brainPid, "SIGTERM");
  log.info("/cancel stopped the brain of update {updateId} (process group {pid})", {
    updateId: current.updateId,
    pid: current.brainPid ?? "not yet recorded",
  });
  return `Stopped the brain working on message ${id}.`;
}

/** Options for {@linkcode handleStopPress}. */
export interface StopPressOptions {
  api: Api;
  config: Config;
  update: Update;
  journal?: Journal;
  log: Logger;
  signal: AbortSignal;
}

/**
 * A Stop press on the phone (the 🛑 of a progress message, or a draft's Stop): stops that
 * message's work like `/cancel`, answers the button press at once, and finishes the press.
 */
export async function handleStopPress(options: StopPressOptions): Promise<void> {
  const { api, config, update, journal, log, signal } = options;
  const target = stopTarget(update);
  const entry = target === undefined ? undefined : journal?.read(target);
  const chatId = update.callback_query?.message?.chat.id ??
    (update as { stopped_message_generation?: { chat: { id: number } } })
      .stopped_message_generation?.chat.id;
  let text = "Nothing to stop: it has finished.";
  if (entry !== undefined && entry.chatId === chatId && isRunning(entry)) {
    new CancelBox(config.stateDir).request(entry.updateId, "Stop");
    const current = journal?.read(entry.updateId);
    if (current?.brainPid !== undefined) killGroup(current.brainPid, "SIGTERM");
    log.info("a Stop press stops update {updateId}", { updateId: entry.updateId });
    text = "Stopping…";
  }
  const query = update.callback_query;
  if (query !== undefined) {
    try {
      await api.answerCallbackQuery(query.id, { text }, apiSignal(signal));
    } catch (error) {
      log.warn("cannot answer the Stop press {updateId}: {error}", {
        updateId: update.update_id,
        error: describeError(error),
      });
    }
  }
  entryRecord(journal, update.update_id, { log }).finish();
}

function entriesOf(journal: Journal | undefined): JournalEntry[] {
  try {
    return journal?.list() ?? [];
  } catch {
    return [];
  }
}

function messageIdOf(entry: JournalEntry): number | undefined {
  return (entry.update as { message?: { message_id?: number } })?.message?.message_id;
}
