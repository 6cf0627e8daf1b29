/**
 * Sending a reply: split under Telegram's limit, formatted where Telegram takes it, plain where it
 * doesn't, and delivered even when the message it answers was deleted meanwhile.
 *
 * @module
 */

import type { Api } from "grammy/web";
import { markdownToHtml } from "./format.ts";
import { apiSignal, isBadRequest } from "../shared/telegram.ts";

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
  const parts = splitMessage(options.text);
  for (const [i, text] of parts.entries()) await sendPart(api, { ...options, text, index: i });
  return parts.length;
}

/**
 * Sends part `index` of a reply: the first is linked to the message it answers (and still sent
 * if that message is gone); formatted, or plain when Telegram rejects the formatting.
 */
export async function sendPart(
  api: Api,
  options: ReplyOptions & { index: number },
): Promise<void> {
  const { chatId, replyTo, text, index, formatted = true, signal, onPlainFallback } = options;
  // Message 0 is none (a send from the box): no reply link.
  const reply_parameters = index === 0 && replyTo > 0
    ? { message_id: replyTo, allow_sending_without_reply: true }
    : undefined;
  if (formatted) {
    try {
      await api.sendMessage(
        chatId,
        markdownToHtml(text),
        { parse_mode: "HTML", reply_parameters },
        apiSignal(signal),
      );
      return;
    } catch (error) {
      if (!isBadRequest(error, /can't parse entities|message is too long/i)) throw error;
      onPlainFallback?.(index + 1, error instanceof Error ? error.message : String(error));
    }
  }
  await api.sendMessage(chatId, text, { reply_parameters }, apiSignal(signal));
}

/** How a final reply goes out: its messages, and whether the whole answer follows as a file. */
export interface ReplyPlan {
  messages: string[];
  /** The answer as a document (`.md`), when it would take more than the allowed messages. */
  document?: { name: string; text: string };
}

/**
 * Plans a final reply: `head` (our notes, may be empty) above the brain's `body`, in messages
 * under the limit. When that takes more than `maxParts` messages, the first one carries the head
 * and the start of the answer, and the whole answer (exactly `body`) follows as one document named
 * after the message: dozens of messages would run into Telegram's flood limits.
 */
export function planReply(
  head: string,
  body: string,
  options: { maxParts: number; messageId: number },
): ReplyPlan {
  const text = head === "" ? body : `${head}\n${body}`;
  const messages = splitMessage(text);
  if (messages.length <= options.maxParts) return { messages };
  const name = `answer-${options.messageId}.md`;
  const note = `\n\n(The whole answer, ${body.length} characters, is in ${name}.)`;
  const [first] = splitMessage(text, MESSAGE_LIMIT - note.length);
  return { messages: [first + note], document: { name, text: body } };
}
