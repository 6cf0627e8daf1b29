/**
 * Sending a reply: split under Telegram's limit, formatted where Telegram takes it, plain where it
 * doesn't, and delivered even when the message it answers was deleted meanwhile.
 *
 * @module
 */

import type { Api } from "grammy/web";
import { markdownToHtml } from "./format.ts";
import { apiSignal, isBadRequest } from "./telegram.ts";

/** Telegram's limit on one message's text, in characters. */
export const MESSAGE_LIMIT = 4096;

/**
 * Splits `text` into parts of at most `limit` UTF-16 units (Telegram's counting is no stricter),
 * cutting at a paragraph, then a line, then a word boundary where one lies in the latter half of
 * the window, and never inside a surrogate pair. Parts are trimmed and never empty.
 */
export function splitMessage(text: string, limit: number = MESSAGE_LIMIT): string[] {
  if (!Number.isInteger(limit) || limit < 2) {
    throw new RangeError(`Cannot split at a limit of ${limit}: expected an integer >= 2`);
  }
  const parts: string[] = [];
  let rest = text.trim();
  while (rest.length > limit) {
    const cut = findCut(rest, limit);
    const part = rest.slice(0, cut).trimEnd();
    if (part !== "") parts.push(part);
    rest = rest.slice(cut).trimStart();
  }
  if (rest !== "") parts.push(rest);
  return parts;
}

function findCut(text: string, limit: number): number {
  const window = text.slice(0, limit + 1);
  for (const separator of ["\n\n", "\n", " "]) {
    const at = window.lastIndexOf(separator, limit - 1);
    if (at >= limit / 2) return at + separator.length <= limit ? at + separator.length : at;
  }
  // No boundary: a hard cut, moved back one unit if it would split a surrogate pair.
  const code = text.charCodeAt(limit - 1);
  return code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit;
}

/** Options for {@linkcode sendReply}. */
export interface ReplyOptions {
  chatId: number;
  /** The message this answers. */
  replyTo: number;
  text: string;
  /** Convert the brain's Markdown to Telegram HTML. Default: true. */
  formatted?: boolean;
  signal?: AbortSignal;
  /** Told when Telegram rejected the formatting of a part and it went out as plain text. */
  onPlainFallback?: (part: number, description: string) => void;
}

/**
 * Sends `text` as a reply, in as many messages as it takes. The first part is linked to the
 * message it answers, and is still sent if that message is gone. A part whose formatting Telegram
 * rejects goes out as plain text. Returns how many messages were sent.
 */
export async function sendReply(api: Api, options: ReplyOptions): Promise<number> {
  const { chatId, replyTo, text, formatted = true, signal, onPlainFallback } = options;
  const parts = splitMessage(text);
  for (const [i, part] of parts.entries()) {
    const reply_parameters = i === 0
      ? { message_id: replyTo, allow_sending_without_reply: true }
      : undefined;
    if (formatted) {
      try {
        await api.sendMessage(
          chatId,
          markdownToHtml(part),
          { parse_mode: "HTML", reply_parameters },
          apiSignal(signal),
        );
        continue;
      } catch (error) {
        if (!isBadRequest(error, /can't parse entities|message is too long/i)) throw error;
        onPlainFallback?.(i + 1, error instanceof Error ? error.message : String(error));
      }
    }
    await api.sendMessage(chatId, part, { reply_parameters }, apiSignal(signal));
  }
  return parts.length;
}
