/**
 * What becomes of an update: the poll loop's {@linkcode routeUpdate} (a handler, or logged and
 * skipped), {@linkcode takesTurn} (a brain's turn in its chat, or the desk at once), and which
 * message a Stop press is for ({@linkcode stopTarget}, with {@linkcode draftIdOf} its inverse for a
 * draft). Reading an update's shape is `update.ts`; this module only decides.
 *
 * @module
 */

import { parseCommand } from "./command.ts";
import { inspectUpdate, isInteger, isRecord } from "./update.ts";

/** What the poll loop does with one update. */
export type Route =
  /** An authorized user's message, or an edit of one: hand it to a handler. */
  | { kind: "dispatch"; updateId: number; chatId: number; messageId: number; userId: number }
  /**
   * A message from someone else, or from a group not in `COORD_ALLOWED_CHAT_IDS` (`reason`
   * "chat"): logged with the user id, otherwise ignored.
   */
  | {
    kind: "unauthorized";
    updateId: number;
    chatId: number;
    userId: number | undefined;
    reason?: "user" | "chat";
  }
  /** Anything else (another kind of update, a malformed one): confirmed and skipped. */
  | { kind: "skip"; updateId: number | undefined; reason: string };

/** Options for {@linkcode routeUpdate}. */
export interface RouteOptions {
  /**
   * `COORD_ALLOWED_CHAT_IDS`: the groups (and other chats that are not private) whose authorized
   * members' messages are taken. An authorized user's private chat is always taken. Default: none.
   */
  allowedChats?: ReadonlySet<number>;
  /**
   * The bot's own username (from `getMe`), without the `@`. When known, a command addressed to
   * another bot (`/status@OtherBot`) is skipped. Default: unknown (every command is taken).
   */
  botUsername?: string;
}

/** Decides what the poll loop does with an update. */
export function routeUpdate(
  update: unknown,
  authorized: ReadonlySet<number>,
  options: RouteOptions = {},
): Route {
  const { allowedChats, botUsername } = options;
  const shape = inspectUpdate(update);
  if (!shape.ok) return { kind: "skip", updateId: shape.updateId, reason: shape.reason };
  const { updateId, chatId, messageId, userId, privateChat } = shape;
  if (userId === undefined || !authorized.has(userId)) {
    return { kind: "unauthorized", updateId, chatId, userId, reason: "user" };
  }
  // Groups are opt-in: what is posted there, answers and ⚠️ texts included, its members read.
  const ownChat = privateChat && chatId === userId;
  if (!ownChat && !allowedChats?.has(chatId)) {
    return { kind: "unauthorized", updateId, chatId, userId, reason: "chat" };
  }
  const target = commandTarget(messageText(update));
  if (target !== undefined && botUsername !== undefined && !sameName(target, botUsername)) {
    return { kind: "skip", updateId, reason: `a command for @${target}` };
  }
  return { kind: "dispatch", updateId, chatId, messageId, userId };
}

/** The bot a command is addressed to (`/status@OtherBot` → "OtherBot"), if any. */
export function commandTarget(text: string | undefined): string | undefined {
  return typeof text === "string"
    ? text.trimStart().match(/^\/[A-Za-z0-9_]+@([A-Za-z0-9_]+)(?:\s|$)/)?.[1]
    : undefined;
}

function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.replace(/^@/, "").toLowerCase();
}

function messageText(update: unknown): string | undefined {
  if (!isRecord(update)) return undefined;
  const message = update.message ?? update.edited_message;
  return isRecord(message) && typeof message.text === "string" ? message.text : undefined;
}

/** The message a Stop press asks to stop (its update id), or `undefined` when it names none. */
export function stopTarget(update: unknown): number | undefined {
  if (!isRecord(update)) return undefined;
  const query = update.callback_query;
  if (isRecord(query) && typeof query.data === "string") {
    const match = query.data.match(/^stop:(\d+)$/);
    return match ? Number(match[1]) : undefined;
  }
  const stopped = update.stopped_message_generation;
  if (isRecord(stopped) && isInteger(stopped.draft_id) && stopped.draft_id > 0) {
    return stopped.draft_id - DRAFT_ID_OFFSET;
  }
  return undefined;
}

/** A message's draft id: non-zero, and its update id can be told from it. */
export function draftIdOf(updateId: number): number {
  return updateId + DRAFT_ID_OFFSET;
}

const DRAFT_ID_OFFSET = 1;

/**
 * Whether an update is a message that waits for its chat's turn and goes to a brain. Everything
 * else the bot takes (its own commands, edits, Stop presses) is answered at once by the desk.
 * The one place this is decided.
 */
export function takesTurn(update: unknown): boolean {
  if (!isRecord(update) || !isRecord(update.message)) return false;
  return parseCommand(update.message.text as string | undefined) === undefined;
}
