/**
 * The desk's answers to the bot's own commands (`command.ts`) and to Stop presses: at once,
 * whatever the brains do, and without a brain. What `/status` and `/cancel` say is decided by the
 * poll process, which holds every message (`lib/loop/scheduler.ts`), and comes with the job: the
 * desk only words it and sends it.
 *
 * @module
 */

import type { Api } from "grammy/web";
import type { Message, Update } from "grammy/types";
import type { Command } from "../shared/command.ts";
import type { Config } from "../shared/config.ts";
import type { CancelVerdict, PressAnswer, StatusView, StopVerdict } from "../shared/line.ts";
import { readBrainReport } from "../shared/brain_report.ts";
import { alwaysAllowed } from "./approvals.ts";
import type { Logger } from "../shared/log.ts";
import { sendReply } from "./reply.ts";
import { SessionStore } from "./session.ts";
import { costsToday } from "./costs.ts";
import { statusText } from "./status.ts";
import { listSchedules } from "./schedules.ts";
import { jobsInSpool } from "../shared/spool_job.ts";
import { apiSignal, describeError } from "../shared/telegram.ts";

/** Options for {@linkcode handleCommand}. */
export interface CommandOptions {
  /** For the reply (retries 429 and 5xx). */
  api: Api;
  config: Config;
  update: Update & { message: Message };
  command: Command;
  /** For `/status`: where the bot and the chat stand. */
  status?: StatusView;
  /** For `/cancel`: what it came to. */
  cancel?: CancelVerdict;
  /** For `/stop`: what it came to. */
  stop?: StopVerdict;
  log: Logger;
  signal: AbortSignal;
  /** The clock, ms since the epoch. Default: `Date.now`. */
  now?: () => number;
}

/** Answers a command; returns once its reply is sent. */
export async function handleCommand(options: CommandOptions): Promise<void> {
  const { api, config, update, command, log, signal, now = Date.now } = options;
  const chatId = update.message.chat.id;
  let text: string;
  if (command === "status") {
    text = options.status === undefined
      ? "⚠️ No status to give."
      : await status(options.status, options);
  } else if (command === "cancel") {
    text = cancelText(options.cancel ?? { kind: "nothing" });
  } else if (command === "stop") {
    text = stopText(options.stop ?? { kind: "nothing" });
  } else {
    new SessionStore(config.stateDir, chatId).markNew(update.update_id);
    text = config.brainKind === "claude"
      ? "🆕 The next message starts a new conversation."
      : "🆕 The next message starts a new conversation (the brain is told with COORD_NEW_CONVERSATION=1).";
  }
  await sendReply(api, {
    chatId,
    replyTo: update.message.message_id,
    text,
    formatted: false,
    signal,
  });
  log.info("/{command} answered in chat {chatId} at {at}", {
    command,
    chatId,
    at: new Date(now()).toISOString(),
  });
}

async function status(view: StatusView, options: CommandOptions): Promise<string> {
  const { config, update, now = Date.now, signal } = options;
  const today = costsToday(config.stateDir, now());
  return statusText({
    view,
    brain: readBrainReport(config.stateDir),
    allowed: alwaysAllowed(config.stateDir, update.message.chat.id),
    costs: { chat: today.byChat.get(update.message.chat.id) ?? 0, total: today.total },
    maxAttempts: config.brainMaxAttempts,
    now: now(),
    schedules: await listSchedules({ signal }),
    spooled: jobsInSpool(config.stateDir),
  });
}

/** What the person reads after `/cancel`. */
export function cancelText(verdict: CancelVerdict): string {
  switch (verdict.kind) {
    case "nothing":
      return "Nothing is running in this chat: nothing to cancel.";
    case "not-found":
      return "That message is not waiting or running (already answered?): nothing to cancel.";
    case "delivering":
      return `Message ${verdict.messageId} is answered; its answer is being delivered: nothing to cancel.`;
    case "withdrawn":
      return `Withdrawn: message ${verdict.messageId} won't go to the brain.`;
    case "stopping":
      return verdict.brain
        ? `Stopped the brain working on message ${verdict.messageId}.`
        : `Stopped message ${verdict.messageId} before its brain started.`;
  }
}

/** What the person reads after `/stop`. */
export function stopText(verdict: StopVerdict): string {
  return verdict.kind === "nothing"
    ? "Nothing is running in this chat: nothing to stop."
    : `Stopping the brain working on message ${verdict.messageId}; it keeps what it did so far (/cancel ends it outright).`;
}

/** What a button press is answered with (the small notice on the phone). */
const PRESS_TEXTS: Record<PressAnswer, string> = {
  stopping: "Stopping…",
  nothing: "Nothing to stop: it has finished.",
  allowed: "Allowed.",
  always: "Allowed, and from now on without asking in this chat.",
  denied: "Denied.",
  stale: "This is no longer asked.",
};

/** Options for {@linkcode answerPress}. */
export interface PressOptions {
  api: Api;
  update: Update;
  /** What the press came to. */
  answer: PressAnswer;
  log: Logger;
  signal: AbortSignal;
}

/** Answers a button press (a draft's Stop needs no answer). */
export async function answerPress(options: PressOptions): Promise<void> {
  const { api, update, answer, log, signal } = options;
  const query = update.callback_query;
  if (query === undefined) return;
  const text = PRESS_TEXTS[answer];
  try {
    await api.answerCallbackQuery(query.id, { text }, apiSignal(signal));
  } catch (error) {
    log.warn("cannot answer the press {updateId}: {error}", {
      updateId: update.update_id,
      error: describeError(error),
    });
  }
}
