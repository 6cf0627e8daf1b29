/**
 * One message, start to finish: acknowledge at once, get its text, wait for the chat's turn, ask
 * the brain, reply.
 *
 * @module
 */

import type { Api } from "grammy/web";
import type { Message, ReactionTypeEmoji, Update } from "grammy/types";
import { type BrainFailure, callBrain } from "./brain.ts";
import { type Config, TOKEN_VARIABLES } from "./config.ts";
import type { Logger } from "./log.ts";
import { sendReply } from "./reply.ts";
import { describeError } from "./telegram.ts";
import { transcribe } from "./transcribe.ts";
import { takeTurn } from "./turn.ts";
import { messageInput } from "./update.ts";

/** The reactions that tell where a message stands (all in Telegram's fixed set). */
export const REACTIONS = {
  received: "👀",
  done: "👌",
  failed: "👎",
  unsupported: "🤷",
} as const satisfies Record<string, ReactionTypeEmoji["emoji"]>;

/** How often the typing action is renewed while the brain works (Telegram shows it about 5 s). */
const TYPING_EVERY_MS = 4000;

/** Options for {@linkcode handleMessage}. */
export interface HandleOptions {
  api: Api;
  config: Config;
  update: Update & { message: Message };
  /** The bot's environment; the brain gets it without the token variables. */
  env: Readonly<Record<string, string>>;
  log: Logger;
  /** Aborted when the handler must stop (SIGTERM, or the poll process is gone). */
  signal: AbortSignal;
  /** Called once the acknowledgement is out: for work that must not delay it (loading plugins). */
  afterAck?: () => Promise<void>;
}

/** Handles one message. Failures the person should know of are replied; the rest is logged. */
export async function handleMessage(options: HandleOptions): Promise<void> {
  const { api, config, update, env, log, signal, afterAck } = options;
  const message = update.message;
  const chatId = message.chat.id;
  const messageId = message.message_id;
  const ids = { updateId: update.update_id, chatId, messageId };

  const react = async (emoji: ReactionTypeEmoji["emoji"]) => {
    try {
      await api.setMessageReaction(chatId, messageId, [{ type: "emoji", emoji }]);
    } catch (error) {
      log.warn("reaction {emoji} not set on update {updateId}: {error}", {
        emoji,
        ...ids,
        error: describeError(error),
      });
    }
  };
  const typing = async () => {
    try {
      await api.sendChatAction(chatId, "typing");
    } catch (error) {
      log.warn("typing not shown for update {updateId}: {error}", {
        ...ids,
        error: describeError(error),
      });
    }
  };
  const reply = (text: string, signal?: AbortSignal) =>
    sendReply(api, {
      chatId,
      replyTo: messageId,
      text,
      signal,
      onPlainFallback: (part, description) =>
        log.info("reply part {part} sent as plain text: {description}", { part, description }),
    });

  // 1. The acknowledgement, before anything slow: it is what the person sees first.
  await Promise.all([react(REACTIONS.received), typing()]);
  await afterAck?.();

  // 2. What the brain gets.
  const input = messageInput(message);
  let text: string;
  if (input.kind === "unsupported") {
    await reply(
      `I can pass on text, captions and voice notes; ${input.what} is not something I can send to the brain.`,
    );
    await react(REACTIONS.unsupported);
    return;
  } else if (input.kind === "audio") {
    if (config.transcribeCommand === undefined) {
      await reply(
        "⚠️ Voice is not set up on this bot (COORD_TRANSCRIBE_CMD is not set). Please send text.",
      );
      await react(REACTIONS.failed);
      return;
    }
    const transcript = await transcribe({
      api,
      token: config.token,
      apiRoot: config.apiRoot,
      fileId: input.fileId,
      command: config.transcribeCommand,
      workDir: `${config.stateDir}/tmp`,
      env: brainEnv(env, ids),
      timeoutMs: config.brainTimeoutMs,
      signal,
    });
    if (signal.aborted) return;
    if (!transcript.ok) {
      log.warn("transcription failed for update {updateId}: {reason}", {
        ...ids,
        reason: transcript.reason,
      });
      await reply(`⚠️ I could not transcribe this voice note: ${transcript.reason}.`);
      await react(REACTIONS.failed);
      return;
    }
    text = transcript.text;
  } else {
    text = input.text;
  }

  // 3. The chat's turn: brain calls of one chat run one at a time, in update_id order.
  await using turn = await takeTurn({
    lockDir: config.lockDir,
    chatId,
    updateId: update.update_id,
    signal,
    onWait: (ahead) =>
      log.info("update {updateId} waits for its turn behind {ahead}", { ...ids, ahead }),
    onUnlocked: (error) =>
      log.warn("lock folder {dir} unusable ({error}); running the brain without the chat lock", {
        dir: config.lockDir,
        error: String(error),
      }),
  });

  // 4. The brain, with the typing action renewed while it works.
  void typing();
  const renew = setInterval(typing, TYPING_EVERY_MS);
  const outcome = await callBrain({
    command: config.brainCommand,
    input: text,
    env: brainEnv(env, ids),
    timeoutMs: config.brainTimeoutMs,
    maxAttempts: config.brainMaxAttempts,
    signal,
    onAttempt: (attempt) =>
      log.info("brain attempt {attempt} of {max} for update {updateId} (waited {waited} s)", {
        attempt,
        max: config.brainMaxAttempts,
        ...ids,
        waited: Number((turn.waitedMs / 1000).toFixed(2)),
      }),
    onFailure: (attempt, failure) =>
      log.warn("brain attempt {attempt} for update {updateId} failed: {reason}", {
        attempt,
        ...ids,
        reason: failure.reason,
      }),
  }).finally(() => clearInterval(renew));

  // 5. The reply, still within the turn so that replies keep the chat's order.
  if (outcome.ok) {
    await reply(outcome.reply);
    await react(REACTIONS.done);
    log.info("update {updateId} answered after {attempts} attempt(s)", {
      ...ids,
      attempts: outcome.attempts,
    });
    return;
  }
  if (outcome.aborted) {
    // The bot is going down. Say so briefly, within the teardown's time, rather than leave 👀.
    await reply(
      "⚠️ The bot was stopped (restart or shutdown) before this message was answered. Please send it again.",
      AbortSignal.timeout(2000),
    ).catch(() => {});
    return;
  }
  await reply(failureText(outcome.failure, outcome.attempts));
  await react(REACTIONS.failed);
}

/** Tells the person that their message could not be handled (the handler itself failed). */
export async function reportCrash(
  api: Api,
  update: Update & { message: Message },
  signal: AbortSignal,
): Promise<void> {
  const { chat, message_id } = update.message;
  await sendReply(api, {
    chatId: chat.id,
    replyTo: message_id,
    text: "⚠️ Something went wrong while handling this message; the bot's log has the details.",
    signal,
  });
  await api.setMessageReaction(chat.id, message_id, [{ type: "emoji", emoji: REACTIONS.failed }]);
}

/** The ⚠️ reply for a brain that failed every attempt. */
export function failureText(failure: BrainFailure, attempts: number): string {
  const tries = attempts === 1 ? "1 attempt" : `${attempts} attempts`;
  const head = `⚠️ The brain failed after ${tries}: ${failure.reason}.`;
  return failure.detail === "" ? head : `${head}\n\nLast output:\n${failure.detail}`;
}

/** The brain's environment: the bot's, minus the token, plus the message's ids. */
export function brainEnv(
  env: Readonly<Record<string, string>>,
  ids: { updateId: number; chatId: number; messageId: number },
): Record<string, string> {
  const out: Record<string, string> = { ...env };
  for (const name of TOKEN_VARIABLES) delete out[name];
  out.COORD_CHAT_ID = String(ids.chatId);
  out.COORD_MESSAGE_ID = String(ids.messageId);
  out.COORD_UPDATE_ID = String(ids.updateId);
  return out;
}
