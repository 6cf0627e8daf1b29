/**
 * Answering the bot's own commands (see `command.ts`): at once, without the chat's turn, and
 * without a brain.
 *
 * @module
 */

import type { Api } from "grammy/web";
import type { Message, Update } from "grammy/types";
import { sleep } from "./abort.ts";
import { CancelBox } from "./cancel.ts";
import type { Command } from "./command.ts";
import type { Config } from "./config.ts";
import { readHeartbeatFile } from "./heartbeat.ts";
import { entryRecord, type Journal, type JournalEntry } from "./journal.ts";
import type { Logger } from "./log.ts";
import { killGroup } from "./process_tree.ts";
import { sendReply } from "./reply.ts";
import { SessionStore } from "./session.ts";
import { chatStanding, statusText } from "./status.ts";

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
  /** The clock, ms since the epoch. Default: `Date.now`. */
  now?: () => number;
}

/** How long `/status` waits for the poll loop to record its own handler. */
const STATUS_BEAT_WAIT_MS = 2000;

/** Between SIGTERM and SIGKILL to a cancelled brain's process group. */
const CANCEL_GRACE_MS = 2000;

/** Answers a command; returns once its reply is sent. */
export async function handleCommand(options: CommandOptions): Promise<void> {
  const { api, config, update, command, journal, log, signal, now = Date.now } = options;
  const message = update.message;
  const chatId = message.chat.id;
  let text: string;
  if (command === "status") {
    text = await status(options);
  } else if (command === "cancel") {
    text = await cancel(options);
  } else {
    new SessionStore(config.stateDir, chatId).markNew(update.update_id);
    text = config.claudeSessions
      ? "🆕 The next message starts a new conversation."
      : "🆕 The next message starts a new conversation (the brain is told with COORD_NEW_CONVERSATION=1).";
  }
  await sendReply(api, { chatId, replyTo: message.message_id, text, formatted: false, signal });
  entryRecord(journal, update.update_id, log).finish();
  log.info("/{command} answered in chat {chatId} at {at}", {
    command,
    chatId,
    at: new Date(now()).toISOString(),
  });
}

async function status(options: CommandOptions): Promise<string> {
  const { config, update, journal, signal, now = Date.now } = options;
  const path = `${config.stateDir}/heartbeat`;
  // The poll loop beats right after it starts a handler: wait (briefly) for the beat that counts us.
  const deadline = performance.now() + STATUS_BEAT_WAIT_MS;
  let beat = readHeartbeatFile(path);
  while (
    !beat?.status?.updateIds.includes(update.update_id) && performance.now() < deadline &&
    !signal.aborted
  ) {
    await sleep(25, signal);
    beat = readHeartbeatFile(path);
  }
  const cancels = new CancelBox(config.stateDir);
  return statusText({
    beatAt: beat?.at,
    poll: beat?.status,
    standing: chatStanding(
      entriesOf(journal),
      update.message.chat.id,
      (id) => cancels.requested(id),
    ),
    maxAttempts: config.brainMaxAttempts,
    now: now(),
  });
}

async function cancel(options: CommandOptions): Promise<string> {
  const { config, update, journal, log, signal } = options;
  const chatId = update.message.chat.id;
  const entries = entriesOf(journal).filter((e) =>
    e.chatId === chatId && e.updateId !== update.update_id && e.stage !== "replied"
  );
  const replyTo = update.message.reply_to_message?.message_id;
  const target = replyTo === undefined
    ? entries.find((e) => e.stage === "brain")
    : entries.find((e) => messageIdOf(e) === replyTo);
  if (target === undefined) {
    return replyTo === undefined
      ? "Nothing is running in this chat: nothing to cancel."
      : "That message is not waiting or running (already answered?): nothing to cancel.";
  }
  const cancels = new CancelBox(config.stateDir);
  cancels.request(target.updateId);
  // Read again after the marker is down: a handler that started its brain meanwhile either saw the
  // marker itself, or has recorded the brain's process group by now.
  const current = journal?.read(target.updateId);
  if (current === undefined || current.stage === "replied") {
    cancels.clear(target.updateId);
    return "That message was answered meanwhile: nothing to cancel.";
  }
  const id = messageIdOf(current);
  if (current.stage !== "brain") {
    return `Withdrawn: message ${id} won't go to the brain.`;
  }
  if (current.brainPid !== undefined) await stopGroup(current.brainPid, signal);
  log.info("/cancel stopped the brain of update {updateId} (process group {pid})", {
    updateId: current.updateId,
    pid: current.brainPid ?? "not yet recorded",
  });
  return `Stopped the brain working on message ${id}.`;
}

/** SIGTERM to a process group, then SIGKILL to whatever is left of it after a grace period. */
async function stopGroup(pid: number, signal: AbortSignal): Promise<void> {
  if (!killGroup(pid, "SIGTERM")) return;
  const deadline = performance.now() + CANCEL_GRACE_MS;
  // SIGCONT harms no process and tells whether the group still has members.
  while (performance.now() < deadline && killGroup(pid, "SIGCONT")) {
    if (!(await sleep(25, signal))) break;
  }
  killGroup(pid, "SIGKILL");
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
