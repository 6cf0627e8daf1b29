/**
 * The desk's part in an ask from the box (`forge-coordinator ask`): where a person's message gets
 * its 👀, an ask gets its prompt shown in the chat as the bot's own message ("⏰ Scheduled: …",
 * worded by the poll process), whose id the poll process then records as the ask's, so that the
 * answer replies to it. Sent with the reply client's patience: a prompt that can't be shown is
 * reported as such, and the ask still runs (its answer then comes without a reply link).
 *
 * @module
 */

import type { Api } from "grammy/web";
import { apiSignal } from "../shared/telegram.ts";

/** Options for {@linkcode showPrompt}. */
export interface ShowPromptOptions {
  /** The reply client (it waits out what is transient). Required. */
  api: Api;
  signal?: AbortSignal;
}

/** Shows `text` in chat `chatId`; resolves to the message's id. */
export async function showPrompt(
  chatId: number,
  text: string,
  options: ShowPromptOptions,
): Promise<number> {
  const { api, signal } = options;
  const message = await api.sendMessage(chatId, text, {}, apiSignal(signal));
  return message.message_id;
}
