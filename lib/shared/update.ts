/**
 * Reading updates: their shape, the update a handler takes, and what a message asks of the brain.
 *
 * Updates come from the network: nothing here trusts their shape. A malformed one is skipped with
 * a reason, never thrown on. What the bot does with an update (route it, give it a turn, stop a
 * message) is decided in `update_route.ts`. The type each field must have is the table of
 * `update_shape.ts`; whose words a message holds, and their fence, is `quote.ts`.
 *
 * @module
 */

import type { CallbackQuery, Chat, Message, Update } from "grammy/types";
import { safeFileName } from "./attachments.ts";
import { fence, quoteOrigin } from "./quote.ts";
import { checkFields, isId, isRecord, UPDATE_KINDS } from "./update_shape.ts";

export { isInteger, isRecord } from "./update_shape.ts";

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
  | {
    ok: true;
    updateId: number;
    chatId: number;
    messageId: number;
    userId?: number;
    /** The chat is a private one (a person's own chat with the bot). */
    privateChat: boolean;
  }
  | { ok: false; updateId?: number; reason: string };

/**
 * Checks an update's shape (a message, an edit or a Stop press, every field the bot reads of the
 * type it should have, and one kind only) and finds its ids; never throws.
 */
export function inspectUpdate(update: unknown): UpdateShape {
  if (!isRecord(update) || !isId(update.update_id)) return { ok: false, reason: "no update_id" };
  const updateId = update.update_id;
  const kinds = Object.keys(update).filter((k) => k !== "update_id" && update[k] !== undefined);
  const read = kinds.filter((k) => Object.hasOwn(UPDATE_KINDS, k));
  if (read.length === 0) {
    return { ok: false, updateId, reason: `not a message (${kinds.join(", ") || "empty"})` };
  }
  // Authorized by one kind and run as another (an owner's press, a stranger's message): never.
  if (read.length > 1) {
    return { ok: false, updateId, reason: `more than one kind (${read.join(", ")})` };
  }
  const kind = read[0];
  const problem = checkFields(update[kind], { type: UPDATE_KINDS[kind], path: kind });
  if (problem !== undefined) return { ok: false, updateId, reason: `malformed: ${problem}` };
  const press = inspectPress(update);
  if (press !== undefined) return { ok: true, ...press, updateId };
  // An edit goes to a handler too: it may change what a waiting message asks of the brain.
  const message = (update.message ?? update.edited_message) as Message;
  return {
    ok: true,
    updateId,
    chatId: message.chat.id,
    messageId: message.message_id,
    userId: message.from?.id,
    privateChat: isPrivate(message.chat),
  };
}

/** A person's own chat with the bot (its id is theirs, so positive). */
function isPrivate(chat: Chat): boolean {
  return chat.type === "private" && chat.id > 0;
}

/**
 * A Stop press (its fields already checked): the 🛑 button of a progress message
 * (`callback_query`, from its presser) or the Stop of a draft (`stopped_message_generation`, in a
 * private chat: the chat is the person).
 */
function inspectPress(
  update: Record<string, unknown>,
): { chatId: number; messageId: number; userId?: number; privateChat: boolean } | undefined {
  const query = update.callback_query as CallbackQuery | undefined;
  if (query !== undefined) {
    const message = query.message;
    if (message === undefined) {
      // Too old to be sent along: the press is the presser's own, in their chat with the bot.
      return { chatId: query.from.id, messageId: 0, userId: query.from.id, privateChat: true };
    }
    return {
      chatId: message.chat.id,
      messageId: message.message_id,
      userId: query.from.id,
      privateChat: isPrivate(message.chat),
    };
  }
  const stopped = update.stopped_message_generation as { chat: Chat } | undefined;
  if (stopped !== undefined) {
    const chatId = stopped.chat.id;
    const privateChat = chatId > 0;
    return { chatId, messageId: 0, userId: privateChat ? chatId : undefined, privateChat };
  }
  return undefined;
}

/** What a message gives the brain. */
export type MessageInput =
  /** Text (a text message, or a caption). */
  | { kind: "text"; text: string; origin?: string }
  /**
   * A photo (its largest size) or a document, to save for the brain; the caption, if any, is the
   * text. `name` is the local file name (a document's own, made safe); `originalName` the name as
   * sent, when making it safe changed it.
   */
  | {
    kind: "file";
    fileId: string;
    fileSize?: number;
    name: string;
    originalName?: string;
    caption?: string;
    origin?: string;
  }
  /** A voice note or an audio file to transcribe first. */
  | { kind: "audio"; fileId: string; fileSize?: number; origin?: string }
  /** Nothing the brain can take: the reply says what is supported. */
  | { kind: "unsupported"; what: string };

/**
 * Extracts the brain's input from a message (its fields checked by {@linkcode inspectUpdate}). An
 * empty text is `unsupported`, never sent on. `origin` says whose words they are when they are not
 * the person's own (a forward, an inline bot's message: `quote.ts`): the brain gets them fenced
 * ({@linkcode quotedText}), never as the person's.
 */
export function messageInput(message: Message): MessageInput {
  const input = ownInput(message);
  const origin = quoteOrigin(message as unknown as Record<string, unknown>);
  return origin === undefined || input.kind === "unsupported" ? input : { ...input, origin };
}

/** `text` as the brain gets it: fenced when it is someone else's words (`origin` set). */
export function quotedText(text: string, origin: string | undefined): string {
  return origin === undefined ? text : fence(origin, text);
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
    const name = safeFileName(document.file_name, "document");
    const sent = document.file_name;
    return {
      kind: "file",
      fileId: document.file_id,
      fileSize: document.file_size,
      name,
      ...(typeof sent === "string" && sent !== "" && sent !== name ? { originalName: sent } : {}),
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
