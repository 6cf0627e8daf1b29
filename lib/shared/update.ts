/**
 * Reading updates: their shape, the update a handler takes, and what a message asks of the brain.
 *
 * Updates come from the network: nothing here trusts their shape. A malformed one is skipped with
 * a reason, never thrown on. What the bot does with an update (route it, give it a turn, stop a
 * message) is decided in `update_route.ts`.
 *
 * @module
 */

import type { Message, Update } from "grammy/types";
import { safeFileName } from "./attachments.ts";

/** An update a handler takes: a new message, or an edit of one. */
export type HandlerUpdate =
  | (Update & { message: Message; edited_message?: undefined })
  | (Update & { edited_message: Message; message?: undefined });

/**
 * Parses the update a handler receives on stdin; throws `TypeError` when it is not a message or an
 * edited one.
 */
export function parseHandlerUpdate(text: string): HandlerUpdate {
  let update: unknown;
  try {
    update = JSON.parse(text);
  } catch {
    throw new TypeError(`Cannot parse the update: invalid JSON (${text.length} characters)`);
  }
  const shape = inspectUpdate(update);
  if (!shape.ok) throw new TypeError(`Cannot handle the update: ${shape.reason}`);
  return update as HandlerUpdate;
}

/** An update's shape: the ids that route it, or why it can't be routed. */
export type UpdateShape =
  | { ok: true; updateId: number; chatId: number; messageId: number; userId?: number }
  | { ok: false; updateId?: number; reason: string };

/**
 * Checks an update's shape (a message, an edit or a Stop press) and finds its ids; never throws.
 */
export function inspectUpdate(update: unknown): UpdateShape {
  if (!isRecord(update) || !isId(update.update_id)) return { ok: false, reason: "no update_id" };
  const updateId = update.update_id;
  const press = inspectPress(update);
  if (press !== undefined) return press.ok ? { ...press, updateId } : { ...press, updateId };
  // An edit goes to a handler too: it may change what a waiting message asks of the brain.
  const message = update.message ?? update.edited_message;
  if (message === undefined) {
    const kinds = Object.keys(update).filter((k) => k !== "update_id");
    return { ok: false, updateId, reason: `not a message (${kinds.join(", ") || "empty"})` };
  }
  if (
    !isRecord(message) || !isId(message.message_id) || !isRecord(message.chat) ||
    !isInteger(message.chat.id)
  ) {
    return { ok: false, updateId, reason: "malformed message" };
  }
  const userId = isRecord(message.from) && isId(message.from.id) ? message.from.id : undefined;
  return { ok: true, updateId, chatId: message.chat.id, messageId: message.message_id, userId };
}

/**
 * A Stop press: the 🛑 button of a progress message (`callback_query`, from its presser) or the
 * Stop of a draft (`stopped_message_generation`, in a private chat: the chat is the person).
 */
function inspectPress(
  update: Record<string, unknown>,
):
  | { ok: true; chatId: number; messageId: number; userId?: number }
  | { ok: false; reason: string }
  | undefined {
  const query = update.callback_query;
  if (query !== undefined) {
    if (!isRecord(query) || !isRecord(query.from) || !isId(query.from.id)) {
      return { ok: false, reason: "malformed callback_query" };
    }
    const message = isRecord(query.message) ? query.message : undefined;
    const chatId = isRecord(message?.chat) && isInteger(message.chat.id)
      ? message.chat.id
      : query.from.id;
    const messageId = isId(message?.message_id) ? message.message_id : 0;
    return { ok: true, chatId, messageId, userId: query.from.id };
  }
  const stopped = update.stopped_message_generation;
  if (stopped !== undefined) {
    if (!isRecord(stopped) || !isRecord(stopped.chat) || !isInteger(stopped.chat.id)) {
      return { ok: false, reason: "malformed stopped_message_generation" };
    }
    const chatId = stopped.chat.id;
    return { ok: true, chatId, messageId: 0, userId: chatId > 0 ? chatId : undefined };
  }
  return undefined;
}

/** What a message gives the brain. */
export type MessageInput =
  /** Text (a text message, or a caption). */
  | { kind: "text"; text: string }
  /**
   * A photo (its largest size) or a document, to save for the brain; the caption, if any, is the
   * text. `name` is the local file name (a document's own, made safe).
   */
  | { kind: "file"; fileId: string; fileSize?: number; name: string; caption?: string }
  /**
   * A voice note or an audio file to transcribe first; `forwarded` is the line to put before the
   * transcript when it was forwarded.
   */
  | { kind: "audio"; fileId: string; fileSize?: number; forwarded?: string }
  /** Nothing the brain can take: the reply says what is supported. */
  | { kind: "unsupported"; what: string };

/**
 * Extracts the brain's input from a message. An empty text is `unsupported`, never sent on. A
 * forwarded message's text (or caption) starts with a line saying so ({@linkcode forwardedLine}),
 * so that the brain never takes someone else's words for the person's.
 */
export function messageInput(message: Message): MessageInput {
  const input = ownInput(message);
  const forwarded = forwardedLine(message);
  if (forwarded === undefined) return input;
  if (input.kind === "text") return { ...input, text: `${forwarded}\n${input.text}` };
  if (input.kind === "file") {
    const caption = input.caption === undefined ? forwarded : `${forwarded}\n${input.caption}`;
    return { ...input, caption };
  }
  if (input.kind === "audio") return { ...input, forwarded };
  return input;
}

function ownInput(message: Message): MessageInput {
  if (typeof message.text === "string" && message.text.trim() !== "") {
    return { kind: "text", text: message.text };
  }
  const caption = typeof message.caption === "string" && message.caption.trim() !== ""
    ? message.caption
    : undefined;
  const largest = Array.isArray(message.photo) ? message.photo.at(-1) : undefined;
  if (largest && typeof largest.file_id === "string") {
    return {
      kind: "file",
      fileId: largest.file_id,
      fileSize: largest.file_size,
      name: "photo.jpg",
      caption,
    };
  }
  const document = message.document;
  if (document && typeof document.file_id === "string") {
    return {
      kind: "file",
      fileId: document.file_id,
      fileSize: document.file_size,
      name: safeFileName(document.file_name, "document"),
      caption,
    };
  }
  if (caption !== undefined) return { kind: "text", text: caption };
  const audio = message.voice ?? message.audio;
  if (audio && typeof audio.file_id === "string") {
    return { kind: "audio", fileId: audio.file_id, fileSize: audio.file_size };
  }
  return { kind: "unsupported", what: describeKind(message) };
}

const KIND_NAMES: readonly [keyof Message, string][] = [
  ["sticker", "a sticker"],
  ["photo", "a photo without a caption"],
  ["video", "a video without a caption"],
  ["video_note", "a video note"],
  ["animation", "a GIF"],
  ["document", "a document without a caption"],
  ["location", "a location"],
  ["contact", "a contact"],
  ["poll", "a poll"],
  ["dice", "a dice"],
];

function describeKind(message: Message): string {
  for (const [key, name] of KIND_NAMES) {
    if (message[key] !== undefined) return name;
  }
  if (message.text !== undefined || message.caption !== undefined) return "an empty message";
  return "this kind of message";
}

/**
 * The first line given to the brain for a forwarded message, saying from whom (Telegram's
 * `forward_origin`), or `undefined` for a message that is not forwarded.
 */
export function forwardedLine(message: Message): string | undefined {
  const origin = (message as { forward_origin?: unknown }).forward_origin;
  if (!isRecord(origin)) return undefined;
  const who = describeOrigin(origin);
  return who === undefined ? "[Forwarded message]" : `[Forwarded message, originally from ${who}]`;
}

function describeOrigin(origin: Record<string, unknown>): string | undefined {
  const person = (user: unknown) => {
    if (!isRecord(user)) return undefined;
    const name = [user.first_name, user.last_name].filter((n) => typeof n === "string" && n)
      .join(" ");
    const handle = typeof user.username === "string" ? `@${user.username}` : undefined;
    return [name, handle && `(${handle})`].filter(Boolean).join(" ") || undefined;
  };
  const chat = (value: unknown, signature: unknown) => {
    if (!isRecord(value)) return undefined;
    const title = typeof value.title === "string" ? value.title : undefined;
    const handle = typeof value.username === "string" ? `@${value.username}` : undefined;
    const base = [title, handle && `(${handle})`].filter(Boolean).join(" ") || undefined;
    return base && typeof signature === "string" && signature !== ""
      ? `${base}, signed ${signature}`
      : base;
  };
  switch (origin.type) {
    case "user":
      return person(origin.sender_user);
    case "hidden_user":
      return typeof origin.sender_user_name === "string"
        ? `${origin.sender_user_name} (hidden account)`
        : undefined;
    case "chat":
      return chat(origin.sender_chat, origin.author_signature);
    case "channel":
      return chat(origin.chat, origin.author_signature);
    default:
      return undefined;
  }
}

/** True for a plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** True for a safe integer. */
export function isInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}

function isId(value: unknown): value is number {
  return isInteger(value) && value >= 0;
}
