/**
 * What the person sees of a message's progress without a message: its reaction and the typing
 * action. Both are droppable: no retries, each call bounded by a short timeout, a failure logged
 * and never thrown, so that they can't hold up an answer.
 *
 * @module
 */

import type { Api } from "grammy/web";
import type { ReactionTypeEmoji } from "grammy/types";
import type { Logger } from "../shared/log.ts";
import { apiSignal, describeError } from "../shared/telegram.ts";

/** The reactions that tell where a message stands (all in Telegram's fixed set). */
export const REACTIONS = {
  received: "👀",
  // U+270D alone: Telegram's list has no U+FE0F variant.
  working: "✍",
  done: "👌",
  failed: "👎",
  unsupported: "🤷",
} as const satisfies Record<string, ReactionTypeEmoji["emoji"]>;

/** A reaction of {@linkcode REACTIONS}. */
export type Reaction = ReactionTypeEmoji["emoji"];

/** The longest a reaction or typing call may take: they are worth little once late. */
export const DROPPABLE_CALL_MS = 10_000;

/** The message a reaction or typing action is about (`messageId` 0: none, only its chat). */
export type MessageRef = {
  updateId: number;
  chatId: number;
  messageId: number;
};

/** Options for {@linkcode setReaction}, {@linkcode showTyping} and {@linkcode reactionChain}. */
export interface FeedbackOptions {
  /** The Bot API client the call goes out on. Required. */
  api: Api;
  /** Where a call that failed is logged. Required. */
  log: Logger;
  /** The longest a call may take before it is given up. Default: {@linkcode DROPPABLE_CALL_MS}. */
  callMs?: number;
}

/** Sets a message's reaction (replacing the one before); never throws. */
export async function setReaction(
  ref: MessageRef,
  emoji: Reaction,
  options: FeedbackOptions,
): Promise<void> {
  const { api, log, callMs = DROPPABLE_CALL_MS } = options;
  // No message to react to: a send from the box, or an ask whose prompt could not be shown.
  if (ref.messageId <= 0) return;
  try {
    await api.setMessageReaction(
      ref.chatId,
      ref.messageId,
      [{ type: "emoji", emoji }],
      undefined,
      apiSignal(AbortSignal.timeout(callMs)),
    );
  } catch (error) {
    log.warn("reaction {emoji} not set on update {updateId}: {error}", {
      emoji,
      ...ref,
      error: describeError(error),
    });
  }
}

/** Shows "typing…" in the chat (for about 5 s); never throws. */
export async function showTyping(ref: MessageRef, options: FeedbackOptions): Promise<void> {
  const { api, log, callMs = DROPPABLE_CALL_MS } = options;
  try {
    await api.sendChatAction(
      ref.chatId,
      "typing",
      undefined,
      apiSignal(AbortSignal.timeout(callMs)),
    );
  } catch (error) {
    log.warn("typing not shown for update {updateId}: {error}", {
      ...ref,
      error: describeError(error),
    });
  }
}

/**
 * One message's reactions, set one after the other so that the last one set is the last one
 * meant. `set` resolves when that reaction's call has ended.
 */
export function reactionChain(
  ref: MessageRef,
  options: FeedbackOptions,
): (emoji: Reaction) => Promise<void> {
  let chain = Promise.resolve();
  return (emoji) => chain = chain.then(() => setReaction(ref, emoji, options));
}
