/**
 * A Telegram Bot API simulator: a real HTTP server on 127.0.0.1 that answers the methods the bot
 * uses the way Telegram does (see shared/telegram-bot-api-facts.md), plays the person's phone,
 * records every call, and injects the faults seen in the wild.
 *
 * ```ts
 * await using sim = await BotApiSimulator.start();
 * sim.sendText(42, "hello");
 * const call = await sim.waitForCall((c) => c.method === "sendMessage");
 * ```
 *
 * Clients connect to a small TCP front ({@linkcode TcpFront}) that pipes each connection to the
 * HTTP server, so that a fault can close a connection without any HTTP answer, as a dead network
 * does.
 *
 * @module
 */

import type {
  Chat,
  File,
  InlineKeyboardButton,
  InlineKeyboardMarkup,
  Message,
  Update,
  User,
} from "grammy/types";
import { TcpFront } from "./_front.ts";
import { ALLOWED_REACTIONS } from "./emoji.ts";
import { isSupportedParseMode, parseFormattedText } from "./markdown.ts";

/** Options for {@linkcode BotApiSimulator.start}. */
export interface SimulatorOptions {
  /** The bot token the server accepts. Default: `"123456:TEST-sim-token-abcdefghijklmnopqrstuvwxyz"`. */
  token?: string;
  /** The port to listen on. Default: `0`, a free port chosen by the system. */
  port?: number;
  /** The bot's user id. Default: the number before the colon in `token`. */
  botId?: number;
}

/** One HTTP request the simulator received, and what it answered. */
export interface RecordedCall {
  /** 1, 2, 3 ... in arrival order. */
  seq: number;
  /** Arrival time in ms (`performance.timeOrigin + performance.now()`). */
  at: number;
  /** When the response was handed to the server (or the request was dropped). */
  endedAt?: number;
  /** Canonical camelCase name, e.g. `setMessageReaction`; `file/download` for file downloads. */
  method: string;
  /**
   * Parameters from the query, urlencoded, JSON or multipart body; JSON-typed fields parsed; an
   * uploaded file as an {@linkcode UploadedFile} under its part's name (grammY names the part at
   * random and sends `document: "attach://<name>"`).
   */
  params: Record<string, unknown>;
  /** HTTP status sent (0 while pending, and for a dropped request). */
  status: number;
  /** `result` of a successful answer. */
  result?: unknown;
  /** `description` of a failed answer. */
  description?: string;
  /** The injected fault that answered this call, if any. */
  fault?: Fault["kind"];
  /** True when no answer was sent: the client went away, or the connection was cut. */
  dropped?: boolean;
}

/** A file uploaded in a multipart body, as recorded in {@linkcode RecordedCall.params}. */
export interface UploadedFile {
  /** The part's file name. */
  filename: string;
  /** The part's content type (`""` when absent). */
  type: string;
  /** Byte count. */
  size: number;
  /** The file's content. */
  bytes: Uint8Array;
}

/** The descriptions of Telegram's permanent 403 errors (shared/telegram-bot-api-facts.md). */
export type ForbiddenDescription =
  | "Forbidden: bot was blocked by the user"
  | "Forbidden: bot was kicked from the group chat"
  | "Forbidden: bot is not a member of the supergroup chat"
  | "Forbidden: user is deactivated";

/** A failure the simulator can inject in place of a normal answer. */
export type Fault =
  /** 429 `Too Many Requests: retry after N`, with `parameters.retry_after` and `Retry-After`. */
  | { kind: "retryAfter"; seconds: number }
  /** 500 `Internal Server Error: restart`. */
  | { kind: "internal" }
  /** 502 as nginx's HTML page (`text/html`), not JSON. */
  | { kind: "badGateway" }
  /** 200 with a truncated body that is not JSON. */
  | { kind: "malformed" }
  /** 400 with Telegram's `description`, e.g. an entity error its parser finds and ours doesn't. */
  | { kind: "badRequest"; description: string }
  /** 409 `Conflict: terminated by other getUpdates request; ...`. */
  | { kind: "conflict" }
  /** 401 `Unauthorized`: a well-formed token Telegram doesn't take (revoked). */
  | { kind: "unauthorized" }
  /**
   * 404 `Not Found`: what the hosted API answers to every call with a malformed or mistyped token
   * (and to an unknown method). With no `method` and `times: Infinity`, a bot whose token Telegram
   * doesn't know.
   */
  | { kind: "notFound" }
  /** 403 with a permanent `Forbidden: ...` description. Default: `bot was blocked by the user`. */
  | { kind: "forbidden"; description?: ForbiddenDescription }
  /**
   * No HTTP answer: the connection is closed once the request has been read, so the client's
   * `fetch` rejects with a `TypeError`, the same kind of network error as a refused connection.
   * The call is recorded, `dropped`.
   */
  | { kind: "refused" }
  /** The normal answer after `ms`; dropped if the client leaves or the simulator closes first. */
  | { kind: "delay"; ms: number }
  /**
   * The call takes effect at once (a message is delivered to the chat), but its answer comes only
   * after `ms`, and is lost if the client leaves first: the request received, the answer late.
   */
  | { kind: "slowAnswer"; ms: number }
  /** No answer until the client leaves or the simulator closes (which cuts the connection). */
  | { kind: "hang" }
  /**
   * `getUpdates` only, a misbehaving server: the normal answer, but with every deliverable update
   * instead of at most `limit` (a bot must take no more than it asked for).
   */
  | { kind: "ignoreLimit" }
  /**
   * `getUpdates` only, a misbehaving server: answers with `updates` as they are, whatever the
   * offset (an update delivered again after it was confirmed, or an id that goes backwards).
   */
  | { kind: "redeliver"; updates: readonly unknown[] };

/** Which calls a fault applies to, and for how many calls or how long. */
export interface FaultRule {
  /** Method the rule matches, case-insensitively. Default: any method, file downloads included. */
  method?: string;
  /** Only calls whose `chat_id` is this. Default: any call, with or without a `chat_id`. */
  chatId?: number;
  /**
   * How many matching calls it answers (`Infinity`: all of them, until `clearFaults()`).
   * Default: `1`; with `forMs` or `until`, every matching call while the rule lasts.
   */
  times?: number;
  /** The rule lasts this many ms from now, then expires. Default: no time limit. */
  forMs?: number;
  /** The rule lasts until this time, in ms on the simulator's clock (as `RecordedCall.at`). */
  until?: number;
  /** What those calls get. */
  fault: Fault;
}

/** Options for {@linkcode BotApiSimulator.waitForCall} and {@linkcode BotApiSimulator.waitForCalls}. */
export interface WaitOptions {
  /** Deadline in ms. Default: `20_000`. */
  timeoutMs?: number;
  /** Abort the wait early. Default: none. */
  signal?: AbortSignal;
  /** What is awaited, for the timeout message. Default: `"a matching call"`. */
  description?: string;
  /** Also match calls that have not been answered yet. Default: `false` (answered or dropped only). */
  includePending?: boolean;
}

/** Options shared by the phone's methods. */
export interface FromOptions {
  /** Sender's user id. Default: the chat id (a private chat). */
  fromId?: number;
}

/** Options for {@linkcode BotApiSimulator.sendText}. */
export interface SendTextOptions extends FromOptions {
  /** `entities` of the message. Default: none. */
  entities?: unknown[];
  /** The id of a message of the chat this one replies to (`reply_to_message`). Default: none. */
  replyTo?: number;
}

/** Options for {@linkcode BotApiSimulator.sendVoice}. */
export interface SendVoiceOptions extends FromOptions {
  /** Duration in seconds. Default: `2`. */
  duration?: number;
  /** Caption. Default: none. */
  caption?: string;
}

/** Options for {@linkcode BotApiSimulator.sendPhoto}. */
export interface SendPhotoOptions extends FromOptions {
  /** Caption. Default: none. */
  caption?: string;
}

/** Options for {@linkcode BotApiSimulator.sendDocument}. */
export interface SendDocumentOptions extends FromOptions {
  /** File name. Default: `"document.bin"`. */
  fileName?: string;
  /** Caption. Default: none. */
  caption?: string;
  /** Size in the message and in `getFile`, checked against the 20 MiB limit. Default: the byte count. */
  size?: number;
}

/** Options for {@linkcode BotApiSimulator.pressStop}. */
export interface PressStopOptions {
  /** `message_thread_id` of the update. Default: the draft's, if it had one. */
  messageThreadId?: number;
}

/** Options for {@linkcode BotApiSimulator.addFile}. */
export interface AddFileOptions {
  /** Size reported by `getFile` and checked against the 20 MiB limit. Default: the byte count. */
  size?: number;
}

/** A message the bot sent, as the person sees it. */
export interface BotMessage {
  /** The message's id in its chat. */
  message_id: number;
  /** The text a person sees (after `parse_mode` parsing). */
  text: string;
  /** The `text` parameter exactly as the bot sent it. */
  rawText: string;
  /** The message it replies to, when the reply link was made. */
  reply_to?: number;
  /** The `parse_mode` parameter, when given. */
  parse_mode?: string;
  /** When it was sent, in ms on the simulator's clock. */
  at: number;
  /** The inline keyboard it shows now, if any (edits and `editMessageReplyMarkup` included). */
  reply_markup?: InlineKeyboardMarkup;
  /** The document of a `sendDocument` message, with the uploaded bytes. */
  document?: SentDocument;
  /** The photo of a `sendPhoto` message (its largest size), with the uploaded bytes. */
  photo?: SentPhoto;
  /** How many times the bot edited it (text or keyboard). Default: `0`. */
  edits: number;
  /** When it was last edited, in ms on the simulator's clock. */
  editedAt?: number;
  /** When it was deleted (by the bot or the person); it stays in the list, marked. */
  deletedAt?: number;
}

/** A document the bot sent: Telegram's fields and the bytes the bot uploaded. */
export interface SentDocument {
  file_id: string;
  file_unique_id: string;
  file_name?: string;
  mime_type?: string;
  file_size: number;
  /** The content. */
  bytes: Uint8Array;
}

/** A photo the bot sent: its largest size as Telegram lists it, and the bytes the bot uploaded. */
export interface SentPhoto {
  file_id: string;
  file_unique_id: string;
  file_size: number;
  width: number;
  height: number;
  /** The upload's file name (Telegram keeps none for a photo; recorded for tests). */
  file_name: string;
  /** The content. */
  bytes: Uint8Array;
}

/** One `sendMessageDraft` the bot made in a chat. */
export interface BotDraft {
  /** The draft's id (updates with the same id animate one draft). */
  draft_id: number;
  /** The text a person sees (after `parse_mode` parsing); `""` shows a placeholder. */
  text: string;
  /** The `text` parameter exactly as the bot sent it. */
  rawText: string;
  /** The `parse_mode` parameter, when given. */
  parse_mode?: string;
  /** `message_thread_id`, when given. */
  message_thread_id?: number;
  /** Whether it shows a Stop button (`can_stop`). */
  can_stop: boolean;
  /** `keep_on_stop`. */
  keep_on_stop: boolean;
  /** When it was sent, in ms on the simulator's clock. */
  at: number;
}

/** How the bot answered a callback query. */
export interface CallbackAnswer {
  /** `text`, when given. */
  text?: string;
  /** `show_alert`. */
  show_alert: boolean;
  /** When, in ms on the simulator's clock. */
  at: number;
}

const DEFAULT_TOKEN = "123456:TEST-sim-token-abcdefghijklmnopqrstuvwxyz";
const TOKEN_SHAPE = /^\d+:[A-Za-z0-9_-]+$/;
const MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024;
/** The hosted API's upload limit, "50 MB" (taken as MiB, as nginx's `client_max_body_size 50m`). */
const MAX_UPLOAD_SIZE = 50 * 1024 * 1024;
/** `sendPhoto`: "The photo must be at most 10 MB in size" (taken as 10^7 bytes, the strictest). */
const MAX_PHOTO_SIZE = 10_000_000;
/** A draft is an ephemeral preview that lasts about 30 seconds. */
const DRAFT_LIFETIME_MS = 30_000;
/** A callback query must be answered within about 15 s (the exact window is unpublished). */
const CALLBACK_ANSWER_WINDOW_MS = 15_000;
const NOT_MODIFIED = "message is not modified: specified new message content and reply markup " +
  "are exactly the same as a current content and reply markup of the message";
const QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid";
const CONFLICT_TEXT =
  "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
const BAD_GATEWAY_PAGE = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
  "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n";
/** Kinds an empty or never-set `allowed_updates` leaves out; newer kinds must be asked for. */
const DEFAULT_EXCLUDED_UPDATES = [
  "chat_member",
  "message_reaction",
  "message_reaction_count",
  "stopped_message_generation",
];
const CHAT_ACTIONS = new Set([
  "typing",
  "upload_photo",
  "record_video",
  "upload_video",
  "record_voice",
  "upload_voice",
  "record_audio",
  "upload_audio",
  "upload_document",
  "choose_sticker",
  "find_location",
  "record_video_note",
  "upload_video_note",
]);
const METHODS = [
  "getMe",
  "deleteWebhook",
  "getWebhookInfo",
  "getUpdates",
  "sendMessage",
  "setMessageReaction",
  "sendChatAction",
  "getFile",
  "sendDocument",
  "sendPhoto",
  "sendMessageDraft",
  "answerCallbackQuery",
  "editMessageText",
  "editMessageReplyMarkup",
  "deleteMessage",
];
const CANONICAL = new Map(METHODS.map((name) => [name.toLowerCase(), name]));
/** Fields that travel JSON-encoded in query strings and forms. */
const JSON_FIELDS = new Set([
  "reaction",
  "reply_parameters",
  "allowed_updates",
  "entities",
  "reply_markup",
  "link_preview_options",
]);
const INTEGER_FIELDS = new Set([
  "chat_id",
  "message_id",
  "offset",
  "limit",
  "timeout",
  "reply_to_message_id",
  "message_thread_id",
  "draft_id",
]);
const BOOLEAN_FIELDS = new Set([
  "allow_sending_without_reply",
  "disable_notification",
  "protect_content",
  "is_big",
  "drop_pending_updates",
  "can_stop",
  "keep_on_stop",
  "show_alert",
]);

type Reply =
  | { kind: "ok"; result: unknown }
  | {
    kind: "error";
    code: number;
    description: string;
    parameters?: Record<string, unknown>;
    headers?: Record<string, string>;
  }
  | { kind: "raw"; status: number; body: BodyInit; contentType: string; description?: string }
  | { kind: "drop" };

type PollOutcome = "update" | "timeout" | "conflict" | "close" | "drop";

interface Poll {
  wake(outcome: PollOutcome): void;
}

interface Waiter {
  check(): void;
  fail(error: Error): void;
}

interface StoredFile {
  bytes: Uint8Array;
  size: number;
  fileId: string;
  fileUniqueId: string;
  filePath: string;
}

interface ChatState {
  chat: Chat;
  nextMessageId: number;
  messages: Map<number, { message: Message; deleted: boolean }>;
  botMessages: BotMessage[];
  reactions: Map<number, string>;
  drafts: BotDraft[];
  /** When the bot's last message was sent: it dismisses any earlier draft. */
  lastBotMessageAt: number;
}

interface StoredRule {
  method?: string;
  chatId?: number;
  remaining: number;
  until: number;
  fault: Fault;
}

interface CallbackQueryState {
  at: number;
  answer?: CallbackAnswer;
}

class UploadTooLarge extends Error {
  override name = "UploadTooLarge";
}

function ok(result: unknown): Reply {
  return { kind: "ok", result };
}

function fail(code: number, description: string): Reply {
  return { kind: "error", code, description };
}

function badRequest(detail: string): Reply {
  return fail(400, `Bad Request: ${detail}`);
}

function toInteger(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (typeof value === "string" && /^-?\d+$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

function toBoolean(value: unknown): boolean {
  return value === true || value === "true" || value === "1" || value === 1;
}

/** Whether two inline keyboards are the same (absent and empty count as the same). */
function sameMarkup(a: InlineKeyboardMarkup | undefined, b: InlineKeyboardMarkup | undefined) {
  const rows = (markup: InlineKeyboardMarkup | undefined) =>
    markup === undefined || markup.inline_keyboard.every((row) => row.length === 0)
      ? "[]"
      : JSON.stringify(markup.inline_keyboard);
  return rows(a) === rows(b);
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** Normalises one parameter: JSON fields parsed, integer and boolean fields coerced. */
function normaliseParam(name: string, value: unknown): unknown {
  if (typeof value !== "string") return value;
  if (JSON_FIELDS.has(name)) {
    try {
      return JSON.parse(value);
    } catch {
      return value; // left for the method to refuse, as the server does
    }
  }
  if (INTEGER_FIELDS.has(name)) return toInteger(value) ?? value;
  if (BOOLEAN_FIELDS.has(name) && (value === "true" || value === "false")) return value === "true";
  return value;
}

async function readParams(request: Request, url: URL): Promise<Record<string, unknown>> {
  const params: Record<string, unknown> = {};
  for (const [name, value] of url.searchParams) params[name] = value;
  const contentType = request.headers.get("content-type") ?? "";
  const type = contentType.toLowerCase();
  if (request.body === null) return normalise(params);
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(await request.arrayBuffer());
  } catch {
    return normalise(params); // the client went away mid-body
  }
  // Telegram's front proxy refuses the whole request, whatever the method
  if (bytes.length > MAX_UPLOAD_SIZE) throw new UploadTooLarge();
  try {
    if (type.includes("application/json")) {
      const body = JSON.parse(new TextDecoder().decode(bytes));
      if (body !== null && typeof body === "object" && !Array.isArray(body)) {
        Object.assign(params, body);
      }
    } else if (type.includes("application/x-www-form-urlencoded")) {
      for (const [name, value] of new URLSearchParams(new TextDecoder().decode(bytes))) {
        params[name] = value;
      }
    } else if (type.includes("multipart/form-data")) {
      const form = await new Response(bytes, { headers: { "content-type": contentType } })
        .formData();
      for (const [name, value] of form) {
        if (typeof value === "string") {
          params[name] = value;
        } else {
          const file: UploadedFile = {
            filename: value.name,
            type: value.type,
            size: value.size,
            bytes: new Uint8Array(await value.arrayBuffer()),
          };
          params[name] = file;
        }
      }
    }
  } catch {
    // an unreadable body carries no parameters, as with the real server
  }
  return normalise(params);
}

/**
 * The width and height of a JPEG, PNG or WebP image (a PNG's read from its header, the others
 * taken as 800×600), or `undefined` for anything else.
 */
function imageDimensions(bytes: Uint8Array): [number, number] | undefined {
  const starts = (magic: number[], at = 0) => magic.every((b, i) => bytes[at + i] === b);
  const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));
  if (starts([0x89, ...ascii("PNG"), 0x0d, 0x0a, 0x1a, 0x0a]) && bytes.length >= 24) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return [view.getUint32(16), view.getUint32(20)];
  }
  if (starts([0xff, 0xd8, 0xff]) || (starts(ascii("RIFF")) && starts(ascii("WEBP"), 8))) {
    return [800, 600];
  }
  return undefined;
}

function isUploadedFile(value: unknown): value is UploadedFile {
  return value !== null && typeof value === "object" &&
    (value as UploadedFile).bytes instanceof Uint8Array;
}

function normalise(params: Record<string, unknown>): Record<string, unknown> {
  for (const name of Object.keys(params)) params[name] = normaliseParam(name, params[name]);
  return params;
}

/** The update's kind: its one key besides `update_id`. */
function updateKind(update: Record<string, unknown>): string | undefined {
  return Object.keys(update).find((key) => key !== "update_id");
}

function summarise(call: RecordedCall): string {
  const keys = [
    "chat_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "action",
    "file_id",
    "file_path",
    "parse_mode",
    "reaction",
    "text",
  ];
  const parts = keys.filter((key) => call.params[key] !== undefined).map((key) => {
    let value = JSON.stringify(call.params[key]) ?? "";
    if (value.length > 40) value = `${value.slice(0, 37)}...`;
    return `${key}=${value}`;
  });
  const outcome = call.dropped
    ? "dropped"
    : call.status === 0
    ? "pending"
    : `${call.status}${call.description ? ` ${call.description}` : ""}`;
  return `  #${call.seq} ${call.method} ${parts.join(" ")} -> ${outcome}`;
}

/** Resolves after `ms`, or on abort; reports which happened. The timer never outlives the wait. */
function sleep(ms: number, signal: AbortSignal): Promise<"elapsed" | "aborted"> {
  if (signal.aborted) return Promise.resolve("aborted");
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve("elapsed");
    }, ms);
    function onAbort() {
      clearTimeout(timer);
      resolve("aborted");
    }
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** A response whose body fails at once: the client sees the connection cut. */
function cutConnection(): Response {
  const body = new ReadableStream({
    start(controller) {
      controller.error(new Error("Connection cut by BotApiSimulator.close()"));
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
}

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

/** A fake Telegram Bot API server for tests; see the module documentation. */
export class BotApiSimulator implements AsyncDisposable {
  /** The token the server accepts. */
  readonly token: string;
  readonly #botUser: User;
  #port: number;
  /** The HTTP server, on a port of its own; clients reach it through #front. */
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  /** The listener clients connect to; undefined while connections are refused. */
  #front: TcpFront | undefined;
  /** Ends a refusal of connections made with `forMs`. */
  #refusalTimer: ReturnType<typeof setTimeout> | undefined;
  #closing: Promise<void> | undefined;
  #closed = false;

  readonly #calls: RecordedCall[] = [];
  readonly #waiters = new Set<Waiter>();
  /** Aborted by close(): ends hangs, delays and waits that would otherwise outlive the server. */
  readonly #lifetime = new AbortController();
  #faults: StoredRule[] = [];
  readonly #callbackQueries = new Map<string, CallbackQueryState>();
  #nextCallbackQuery = 1;

  #updates: Record<string, unknown>[] = [];
  #nextUpdateId = 1;
  #allowedUpdates: string[] | undefined;
  #poll: Poll | undefined;
  #lastConflictAt = -Infinity;
  #previousPoll: { offset: number; at: number } | undefined;

  readonly #chats = new Map<number, ChatState>();
  readonly #files = new Map<string, StoredFile>();
  readonly #filesByPath = new Map<string, StoredFile>();
  #nextFile = 1;

  private constructor(token: string, botId: number, port: number) {
    this.token = token;
    this.#port = port;
    this.#botUser = {
      id: botId,
      is_bot: true,
      first_name: "Forge Sim",
      username: "forge_sim_bot",
    };
  }

  /** Starts a simulator listening on 127.0.0.1. */
  static async start(options: SimulatorOptions = {}): Promise<BotApiSimulator> {
    const { token = DEFAULT_TOKEN, port = 0, botId = Number(token.split(":")[0]) || 1 } = options;
    const simulator = new BotApiSimulator(token, botId, port);
    simulator.#serve();
    await simulator.#listen();
    return simulator;
  }

  /** Base URL of the API, e.g. `http://127.0.0.1:4711` (no trailing slash). */
  get apiRoot(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** The port the simulator listens on (kept while connections are refused). */
  get port(): number {
    return this.#port;
  }

  /** Every call received so far, in arrival order; entries fill in as answers go out. */
  get calls(): readonly RecordedCall[] {
    return this.#calls;
  }

  // ---- the phone -------------------------------------------------------------------------------

  /** The person sends a text message; returns the queued update. */
  sendText(
    chatId: number,
    text: string,
    options: SendTextOptions = {},
  ): Update {
    const { fromId = chatId, entities, replyTo } = options;
    const target = replyTo === undefined
      ? undefined
      : this.#chats.get(chatId)?.messages.get(replyTo)?.message;
    if (replyTo !== undefined && target === undefined) {
      throw new RangeError(
        `Cannot reply to message ${replyTo}: chat ${chatId} has no such message`,
      );
    }
    return this.#personSends(chatId, fromId, {
      text,
      ...(entities ? { entities } : {}),
      // Telegram nests the replied message without its own reply_to_message.
      ...(target ? { reply_to_message: { ...target, reply_to_message: undefined } } : {}),
    });
  }

  /** The person sends a voice note (registered as `voice/file_N.oga`); returns the queued update. */
  sendVoice(
    chatId: number,
    audio: Uint8Array,
    options: SendVoiceOptions = {},
  ): Update {
    const { fromId = chatId, duration = 2, caption } = options;
    const file = this.#registerFile(audio, "voice", "oga");
    const voice = {
      duration,
      mime_type: "audio/ogg",
      file_id: file.fileId,
      file_unique_id: file.fileUniqueId,
      file_size: file.size,
    };
    return this.#personSends(chatId, fromId, { voice, ...(caption ? { caption } : {}) });
  }

  /** The person sends a music file (registered as `music/file_N.mp3`); returns the queued update. */
  sendAudio(chatId: number, audio: Uint8Array, options: FromOptions = {}): Update {
    const { fromId = chatId } = options;
    const file = this.#registerFile(audio, "music", "mp3");
    return this.#personSends(chatId, fromId, {
      audio: {
        duration: 180,
        performer: "Sim Band",
        title: "Sim Song",
        file_name: "song.mp3",
        mime_type: "audio/mpeg",
        file_id: file.fileId,
        file_unique_id: file.fileUniqueId,
        file_size: file.size,
      },
    });
  }

  /** The person sends a sticker; returns the queued update. */
  sendSticker(chatId: number, options: FromOptions = {}): Update {
    const { fromId = chatId } = options;
    const file = this.#registerFile(new Uint8Array(64), "stickers", "webp");
    return this.#personSends(chatId, fromId, {
      sticker: {
        file_id: file.fileId,
        file_unique_id: file.fileUniqueId,
        type: "regular",
        width: 512,
        height: 512,
        is_animated: false,
        is_video: false,
        emoji: "\u{1F44D}",
        set_name: "SimStickers",
        file_size: file.size,
      },
    });
  }

  /** The person sends a photo (two sizes, smallest first); returns the queued update. */
  sendPhoto(chatId: number, options: SendPhotoOptions = {}): Update {
    const { fromId = chatId, caption } = options;
    const photo = [[90, 67, 1024], [800, 600, 48_000]].map(([width, height, size]) => {
      const file = this.#registerFile(new Uint8Array(size), "photos", "jpg");
      return {
        file_id: file.fileId,
        file_unique_id: file.fileUniqueId,
        file_size: file.size,
        width,
        height,
      };
    });
    return this.#personSends(chatId, fromId, { photo, ...(caption ? { caption } : {}) });
  }

  /** The person sends a document (registered as `documents/file_N`); returns the queued update. */
  sendDocument(
    chatId: number,
    bytes: Uint8Array,
    options: SendDocumentOptions = {},
  ): Update {
    const { fromId = chatId, fileName = "document.bin", caption, size } = options;
    const extension = /\.([A-Za-z0-9]+)$/.exec(fileName)?.[1];
    const file = this.#registerFile(bytes, "documents", extension, size);
    const document = {
      file_name: fileName,
      mime_type: "application/octet-stream",
      file_id: file.fileId,
      file_unique_id: file.fileUniqueId,
      file_size: file.size,
    };
    return this.#personSends(chatId, fromId, { document, ...(caption ? { caption } : {}) });
  }

  /** Queues a raw, possibly malformed, update; assigns `update_id` when absent. */
  enqueueUpdate(update: Record<string, unknown>): Update {
    let updateId = update.update_id;
    if (typeof updateId === "number") {
      this.#nextUpdateId = Math.max(this.#nextUpdateId, updateId + 1);
    } else if (updateId === undefined) {
      updateId = this.#nextUpdateId++;
    }
    const queued = { update_id: updateId, ...update };
    queued.update_id = updateId; // first, as Telegram sends it
    this.#updates.push(queued);
    // woken after the current task, so that updates queued together arrive together
    queueMicrotask(() => this.#poll?.wake("update"));
    return queued as unknown as Update;
  }

  /**
   * The person edits one of their messages: its text, or the caption of a photo, document or
   * voice note. Queues an `edited_message` update (the whole message as it now is, with
   * `edit_date`), delivered only when `allowed_updates` lets it through.
   */
  editText(chatId: number, messageId: number, text: string): Update {
    const stored = this.#chats.get(chatId)?.messages.get(messageId);
    if (stored === undefined || stored.deleted) {
      throw new RangeError(`Cannot edit message ${messageId}: chat ${chatId} has no such message`);
    }
    if (stored.message.from?.id === this.#botUser.id) {
      throw new RangeError(`Cannot edit message ${messageId}: the bot sent it, not the person`);
    }
    const { entities: _e, caption_entities: _c, ...rest } = stored.message;
    const hasText = typeof stored.message.text === "string";
    const message = {
      ...rest,
      ...(hasText ? { text } : { caption: text }),
      edit_date: Math.floor(this.#now() / 1000),
    } as Message;
    stored.message = message;
    return this.enqueueUpdate({ edited_message: message });
  }

  /** The person deletes one of the chat's messages (the bot's too, in a private chat). */
  deleteMessage(chatId: number, messageId: number): void {
    const stored = this.#chats.get(chatId)?.messages.get(messageId);
    if (stored === undefined || stored.deleted) return;
    stored.deleted = true;
    const view = this.botMessage(chatId, messageId);
    if (view) view.deletedAt = this.#now();
  }

  /**
   * The person presses Stop on the draft the chat shows now: queues a
   * `stopped_message_generation` update (delivered only when `allowed_updates` asks for it).
   * Throws `RangeError` unless the chat shows draft `draftId` with `can_stop` (no button, no press).
   */
  pressStop(chatId: number, draftId: number, options: PressStopOptions = {}): Update {
    const state = this.#chats.get(chatId);
    const draft = this.currentDraft(chatId);
    if (state === undefined || draft?.draft_id !== draftId || !draft.can_stop) {
      throw new RangeError(
        `Cannot press Stop on draft ${draftId}: chat ${chatId} shows ` +
          (draft ? `draft ${draft.draft_id}${draft.can_stop ? "" : " without can_stop"}` : "none"),
      );
    }
    const { messageThreadId = draft.message_thread_id } = options;
    return this.enqueueUpdate({
      stopped_message_generation: {
        chat: state.chat,
        ...(messageThreadId !== undefined ? { message_thread_id: messageThreadId } : {}),
        draft_id: draftId,
      },
    });
  }

  /**
   * The person presses the inline button with `callbackData` on the bot's message: queues a
   * `callback_query` update (`id`, `from`, `message` as it is now, `chat_instance`, `data`).
   * Throws `RangeError` unless the message is there and shows such a button.
   */
  pressButton(
    chatId: number,
    messageId: number,
    callbackData: string,
    options: FromOptions = {},
  ): Update {
    const { fromId = chatId } = options;
    const stored = this.#chats.get(chatId)?.messages.get(messageId);
    const buttons = stored?.deleted ? [] : stored?.message.reply_markup?.inline_keyboard.flat();
    if (!buttons?.some((b) => "callback_data" in b && b.callback_data === callbackData)) {
      throw new RangeError(
        `Cannot press button "${callbackData}": message ${messageId} of chat ${chatId} shows ` +
          `no such button`,
      );
    }
    const id = `${4_000_000_000_000 + this.#nextCallbackQuery++}`;
    this.#callbackQueries.set(id, { at: this.#now() });
    return this.enqueueUpdate({
      callback_query: {
        id,
        from: this.#person(fromId),
        message: stored!.message,
        chat_instance: `${-chatId * 7 - 3}`,
        data: callbackData,
      },
    });
  }

  /** Registers a downloadable file and returns its `file_id`; `size` pretends another size. */
  addFile(bytes: Uint8Array, options: AddFileOptions = {}): string {
    return this.#registerFile(bytes, "documents", undefined, options.size).fileId;
  }

  // ---- what the bot did ------------------------------------------------------------------------

  /** The messages the bot sent to a chat, oldest first. */
  botMessages(chatId: number): readonly BotMessage[] {
    return this.#chats.get(chatId)?.botMessages ?? [];
  }

  /** The bot's message `messageId` as the chat shows it now, or `undefined`. */
  botMessage(chatId: number, messageId: number): BotMessage | undefined {
    return this.botMessages(chatId).find((message) => message.message_id === messageId);
  }

  /** Every `sendMessageDraft` the bot made in a chat, oldest first. */
  drafts(chatId: number): readonly BotDraft[] {
    return this.#chats.get(chatId)?.drafts ?? [];
  }

  /**
   * The draft the chat shows now: the last one, unless a message from the bot came after it
   * or it is older than 30 s.
   */
  currentDraft(chatId: number): BotDraft | undefined {
    const state = this.#chats.get(chatId);
    const draft = state?.drafts.at(-1);
    if (draft === undefined || state!.lastBotMessageAt >= draft.at) return undefined;
    return this.#now() - draft.at > DRAFT_LIFETIME_MS ? undefined : draft;
  }

  /** How the bot answered callback query `queryId`, or `undefined` while unanswered. */
  callbackAnswer(queryId: string): CallbackAnswer | undefined {
    return this.#callbackQueries.get(queryId)?.answer;
  }

  /** The emoji the bot currently shows on a message, or `undefined` if none. */
  reaction(chatId: number, messageId: number): string | undefined {
    return this.#chats.get(chatId)?.reactions.get(messageId);
  }

  // ---- faults ----------------------------------------------------------------------------------

  /**
   * Queues a fault rule; a call takes the first rule, in the order injected, whose method and
   * chat match and which has neither run out nor expired.
   *
   * ```ts
   * sim.injectFault({ method: "sendMessage", forMs: 15_000, fault: { kind: "badGateway" } });
   * sim.injectFault({ method: "sendMessage", chatId: 7, times: Infinity, fault: { kind: "forbidden" } });
   * ```
   */
  injectFault(rule: FaultRule): void {
    const { method, chatId, forMs, until, fault } = rule;
    const timed = forMs !== undefined || until !== undefined;
    const { times = timed ? Infinity : 1 } = rule;
    if (!(times === Infinity || Number.isInteger(times)) || times < 1) {
      throw new RangeError(
        `Cannot inject fault: expected times to be a positive integer or Infinity, got ${times}`,
      );
    }
    if (forMs !== undefined && !(Number.isFinite(forMs) && forMs > 0)) {
      throw new RangeError(
        `Cannot inject fault: expected forMs to be a positive number, got ${forMs}`,
      );
    }
    if (forMs !== undefined && until !== undefined) {
      throw new TypeError("Cannot inject fault: give forMs or until, not both");
    }
    if (until !== undefined && !Number.isFinite(until)) {
      throw new RangeError(`Cannot inject fault: expected until to be a time in ms, got ${until}`);
    }
    this.#faults.push({
      method: method?.toLowerCase(),
      chatId,
      remaining: times,
      until: forMs !== undefined ? this.#now() + forMs : until ?? Infinity,
      fault,
    });
  }

  /** The simulator's clock in ms (the scale of `RecordedCall.at` and `FaultRule.until`). */
  now(): number {
    return this.#now();
  }

  /** Forgets every queued fault rule. */
  clearFaults(): void {
    this.#faults = [];
  }

  /**
   * Stops listening: new connections are refused, open ones (and waiting long polls) are cut;
   * resolves once the cut calls are recorded as dropped. With `forMs`, listens again by itself on
   * the same port that long after (a network that is down at the bot's start, then back).
   */
  async refuseConnections(options: { forMs?: number } = {}): Promise<void> {
    const { forMs } = options;
    if (forMs !== undefined && !(Number.isFinite(forMs) && forMs > 0)) {
      throw new RangeError(`Cannot refuse connections: expected forMs > 0, got ${forMs}`);
    }
    const front = this.#front;
    if (forMs !== undefined) {
      clearTimeout(this.#refusalTimer);
      this.#refusalTimer = setTimeout(() => {
        if (!this.#closed) this.acceptConnections().catch(() => {});
      }, forMs);
    }
    if (front === undefined) return;
    this.#front = undefined;
    await front.close();
    // each cut call is recorded once its handler hears the client is gone
    const bound = new AbortController();
    await Promise.race([this.#settled(), sleep(5_000, bound.signal)]);
    bound.abort();
  }

  /** Listens again on the same port (at once: a refusal's `forMs` is then forgotten). */
  async acceptConnections(): Promise<void> {
    if (this.#closed) throw new Error("Cannot accept connections: the simulator is closed");
    clearTimeout(this.#refusalTimer);
    if (this.#front !== undefined) return;
    await this.#listen();
  }

  // ---- waiting ---------------------------------------------------------------------------------

  /** Resolves with the first call matching `predicate`, waiting for it with a deadline. */
  async waitForCall(
    predicate: (call: RecordedCall) => boolean,
    options: WaitOptions = {},
  ): Promise<RecordedCall> {
    const [call] = await this.waitForCalls(predicate, 1, options);
    return call;
  }

  /** Resolves with the first `count` calls matching `predicate`, waiting for them with a deadline. */
  waitForCalls(
    predicate: (call: RecordedCall) => boolean,
    count: number,
    options: WaitOptions = {},
  ): Promise<RecordedCall[]> {
    const {
      timeoutMs = 20_000,
      signal,
      description = "a matching call",
      includePending = false,
    } = options;
    const matching = () =>
      this.#calls.filter((call) =>
        (includePending || call.endedAt !== undefined) && predicate(call)
      );
    return new Promise((resolve, reject) => {
      const initial = matching();
      if (initial.length >= count) return resolve(initial.slice(0, count));
      if (signal?.aborted) return reject(signal.reason);
      if (this.#closed) {
        return reject(new Error(`Simulator closed while waiting for ${description}`));
      }
      const finish = (error: unknown, calls?: RecordedCall[]) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#waiters.delete(waiter);
        if (calls) resolve(calls);
        else reject(error);
      };
      const waiter: Waiter = {
        check: () => {
          try {
            const found = matching();
            if (found.length >= count) finish(undefined, found.slice(0, count));
          } catch (error) {
            finish(error);
          }
        },
        fail: (error) => finish(error),
      };
      const onAbort = () => finish(signal!.reason);
      const timer = setTimeout(() => {
        let found = "?";
        try {
          found = String(matching().length);
        } catch {
          // a throwing predicate has already rejected the wait
        }
        const recent = this.#calls.slice(-20).map(summarise).join("\n") || "  (none)";
        const error = new Error(
          `Timed out after ${timeoutMs} ms waiting for ${description} (${found} of ${count} ` +
            `found); the last ${Math.min(20, this.#calls.length)} calls:\n${recent}`,
        );
        finish(error);
      }, timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /** Answers waiting long polls, cuts hanging requests, stops the server; idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Same as {@linkcode BotApiSimulator.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#refusalTimer);
    this.#poll?.wake("close");
    this.#lifetime.abort();
    const server = this.#server!;
    // graceful, so that answers on their way (the long polls just woken) reach their clients
    const grace = new AbortController();
    const outcome = await Promise.race([
      server.shutdown().then(() => "done" as const, () => "done" as const),
      sleep(5_000, grace.signal),
    ]);
    grace.abort();
    if (outcome !== "done") {
      console.error("BotApiSimulator: graceful shutdown timed out; cutting connections");
    }
    // the server closes its side of each connection after its last answer; the front forwards
    // what is left, then closes the client's side
    const front = this.#front;
    this.#front = undefined;
    await front?.close(outcome === "done" ? 2_000 : 0);
    await server.finished;
    for (const waiter of [...this.#waiters]) {
      waiter.fail(new Error("Simulator closed while waiting for calls"));
    }
  }

  /** Starts the HTTP server on a free port of its own. */
  #serve(): void {
    this.#server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
      onError: (error) => {
        // unreachable unless the simulator itself has a bug: make it visible in the test
        console.error("BotApiSimulator handler failed:", error);
        return new Response("Internal Server Error", { status: 500 });
      },
    }, (request, info) => this.#handle(request, info.remoteAddr.port));
  }

  /** Resolves once no call is pending (each answered or dropped). */
  #settled(): Promise<void> {
    const pending = () => this.#calls.some((call) => call.endedAt === undefined);
    if (!pending()) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter: Waiter = {
        check: () => {
          if (pending()) return;
          this.#waiters.delete(waiter);
          resolve();
        },
        fail: () => {
          this.#waiters.delete(waiter);
          resolve();
        },
      };
      this.#waiters.add(waiter);
    });
  }

  /** Opens the front door on `#port` (a free port the first time). */
  async #listen(): Promise<void> {
    for (let attempt = 0;; attempt++) {
      try {
        this.#front = TcpFront.listen(this.#port, this.#server!.addr.port);
        this.#port = this.#front.port;
        return;
      } catch (error) {
        // the port of a server just stopped can be busy for a moment
        if (!(error instanceof Deno.errors.AddrInUse) || attempt >= 50) throw error;
        const pause = new AbortController();
        await sleep(20, pause.signal);
      }
    }
  }

  #now(): number {
    return performance.timeOrigin + performance.now();
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter.check();
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  async #handle(request: Request, peerPort: number): Promise<Response> {
    const call: RecordedCall = {
      seq: this.#calls.length + 1,
      at: this.#now(),
      method: "",
      params: {},
      status: 0,
    };
    this.#calls.push(call);
    let reply: Reply;
    try {
      reply = await this.#route(request, call, peerPort);
    } catch (error) {
      reply = fail(500, `Internal Server Error: simulator bug: ${error}`);
    }
    if (reply.kind === "drop") {
      // no answer: wait for the client to go away, or for close() to cut the connection
      await aborted(AbortSignal.any([request.signal, this.#lifetime.signal]));
      call.dropped = true;
      call.endedAt = this.#now();
      this.#notify();
      return request.signal.aborted ? new Response(null, { status: 499 }) : cutConnection();
    }
    const response = this.#respond(call, reply);
    call.endedAt = this.#now();
    this.#notify();
    return response;
  }

  #respond(call: RecordedCall, reply: Exclude<Reply, { kind: "drop" }>): Response {
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      new Response(JSON.stringify(body), {
        status,
        headers: { "content-type": "application/json", ...headers },
      });
    switch (reply.kind) {
      case "ok":
        call.status = 200;
        call.result = reply.result;
        return json(200, { ok: true, result: reply.result });
      case "error": {
        call.status = reply.code;
        call.description = reply.description;
        const body: Record<string, unknown> = {
          ok: false,
          error_code: reply.code,
          description: reply.description,
        };
        if (reply.parameters) body.parameters = reply.parameters;
        return json(reply.code, body, reply.headers);
      }
      case "raw":
        call.status = reply.status;
        call.description = reply.description;
        return new Response(reply.body, {
          status: reply.status,
          headers: { "content-type": reply.contentType },
        });
    }
  }

  async #route(request: Request, call: RecordedCall, peerPort: number): Promise<Reply> {
    const url = new URL(request.url);
    const file = /^\/file\/bot([^/]*)\/(.+)$/.exec(url.pathname);
    const method = file ? undefined : /^\/bot([^/]*)\/([^/]*)$/.exec(url.pathname);
    if (file) {
      call.method = "file/download";
      call.params = { file_path: decodeURIComponent(file[2]) };
      await request.body?.cancel();
    } else if (method) {
      call.method = CANONICAL.get(method[2].toLowerCase()) ?? method[2];
      try {
        call.params = await readParams(request, url);
      } catch (error) {
        if (!(error instanceof UploadTooLarge)) throw error;
        this.#notify();
        return fail(413, "Request Entity Too Large");
      }
    } else {
      call.method = "(unknown path)";
      await request.body?.cancel();
      this.#notify();
      return fail(404, "Not Found");
    }
    this.#notify();
    const token = (file ?? method)![1];
    if (token !== this.token) {
      return TOKEN_SHAPE.test(token) ? fail(401, "Unauthorized") : fail(404, "Not Found");
    }
    const fault = this.#takeFault(call.method, call.params);
    if (fault) {
      call.fault = fault.kind;
      this.#notify();
      if (fault.kind === "refused") {
        this.#front?.cut(peerPort);
        return { kind: "drop" };
      }
      if (fault.kind === "slowAnswer") {
        return await this.#slowAnswer(call, fault.ms, request.signal);
      }
      if (fault.kind === "ignoreLimit") {
        return await this.#getUpdates(call.params, request.signal, true);
      }
      if (fault.kind === "redeliver") return ok(structuredClone(fault.updates));
      const faulted = await this.#applyFault(fault, request.signal);
      if (faulted) return faulted;
    }
    if (file) return this.#download(call.params.file_path as string);
    return await this.#dispatch(call, request.signal);
  }

  #takeFault(method: string, params: Record<string, unknown>): Fault | undefined {
    const name = method.toLowerCase();
    const now = this.#now();
    this.#faults = this.#faults.filter((rule) => rule.until > now);
    const chatId = toInteger(params.chat_id);
    const index = this.#faults.findIndex((rule) =>
      (rule.method === undefined || rule.method === name) &&
      (rule.chatId === undefined || rule.chatId === chatId)
    );
    if (index === -1) return undefined;
    const rule = this.#faults[index];
    if (--rule.remaining === 0) this.#faults.splice(index, 1);
    return rule.fault;
  }

  /** Carries the call out now and answers it after `ms` (nobody hears it if the client left). */
  async #slowAnswer(call: RecordedCall, ms: number, signal: AbortSignal): Promise<Reply> {
    const reply = await this.#dispatch(call, this.#lifetime.signal);
    const outcome = await sleep(ms, AbortSignal.any([signal, this.#lifetime.signal]));
    return outcome === "aborted" ? { kind: "drop" } : reply;
  }

  /** Answers with the fault, or returns undefined to go on normally (after a delay). */
  async #applyFault(
    fault: Fault,
    signal: AbortSignal,
  ): Promise<Reply | undefined> {
    switch (fault.kind) {
      case "retryAfter":
        return {
          kind: "error",
          code: 429,
          description: `Too Many Requests: retry after ${fault.seconds}`,
          parameters: { retry_after: fault.seconds },
          headers: { "retry-after": String(fault.seconds) },
        };
      case "internal":
        return fail(500, "Internal Server Error: restart");
      case "badRequest":
        return fail(400, fault.description);
      case "badGateway":
        return {
          kind: "raw",
          status: 502,
          body: BAD_GATEWAY_PAGE,
          contentType: "text/html",
          description: "Bad Gateway (HTML page)",
        };
      case "malformed":
        return {
          kind: "raw",
          status: 200,
          body: '{"ok":true,"result":[{"update_id":',
          contentType: "application/json",
          description: "Malformed body (truncated JSON)",
        };
      case "conflict":
        return fail(409, CONFLICT_TEXT);
      case "unauthorized":
        return fail(401, "Unauthorized");
      case "notFound":
        return fail(404, "Not Found");
      case "forbidden":
        return fail(403, fault.description ?? "Forbidden: bot was blocked by the user");
      case "refused":
        return { kind: "drop" }; // handled in #route, which knows the connection
      case "delay": {
        const outcome = await sleep(fault.ms, AbortSignal.any([signal, this.#lifetime.signal]));
        return outcome === "aborted" ? { kind: "drop" } : undefined;
      }
      case "hang":
      case "slowAnswer": // carried out by #route
        return { kind: "drop" };
      case "ignoreLimit":
      case "redeliver":
        return undefined; // handled in #route, which knows the call
    }
  }

  #download(filePath: string): Reply {
    const file = this.#filesByPath.get(filePath);
    if (file === undefined) return fail(404, "Not Found");
    return {
      kind: "raw",
      status: 200,
      body: file.bytes.slice(),
      contentType: "application/octet-stream",
    };
  }

  #dispatch(call: RecordedCall, signal: AbortSignal): Promise<Reply> | Reply {
    const params = call.params;
    switch (call.method) {
      case "getMe":
        return ok({
          ...this.#botUser,
          can_join_groups: true,
          can_read_all_group_messages: false,
          supports_inline_queries: false,
        });
      case "deleteWebhook":
        if (toBoolean(params.drop_pending_updates)) this.#updates = [];
        return ok(true);
      case "getWebhookInfo":
        return ok({
          url: "",
          has_custom_certificate: false,
          pending_update_count: this.#updates.length,
        });
      case "getUpdates":
        return this.#getUpdates(params, signal);
      case "sendMessage":
        return this.#sendMessage(params);
      case "setMessageReaction":
        return this.#setMessageReaction(params);
      case "sendChatAction":
        return this.#sendChatAction(params);
      case "getFile":
        return this.#getFile(params);
      case "sendDocument":
        return this.#sendDocument(params);
      case "sendPhoto":
        return this.#sendPhoto(params);
      case "sendMessageDraft":
        return this.#sendMessageDraft(params);
      case "answerCallbackQuery":
        return this.#answerCallbackQuery(params);
      case "editMessageText":
        return this.#editMessageText(params);
      case "editMessageReplyMarkup":
        return this.#editMessageReplyMarkup(params);
      case "deleteMessage":
        return this.#deleteMessage(params);
      default:
        return fail(404, "Not Found: method not found");
    }
  }

  // ---- getUpdates ------------------------------------------------------------------------------

  async #getUpdates(
    params: Record<string, unknown>,
    signal: AbortSignal,
    ignoreLimit = false,
  ): Promise<Reply> {
    const offset = toInteger(params.offset) ?? 0;
    let limit = ignoreLimit ? Infinity : clamp(toInteger(params.limit) ?? 100, 1, 100);
    let timeout = clamp(toInteger(params.timeout) ?? 0, 0, 50);
    if (params.allowed_updates !== undefined) {
      const allowed = params.allowed_updates;
      if (!Array.isArray(allowed)) {
        return badRequest("can't parse allowed updates JSON object");
      }
      this.#allowedUpdates = allowed.length === 0 ? undefined : allowed.map(String);
    }
    // anti-flood, as the server does it: the same offset again soon gets a smaller, slower answer
    const now = this.#now();
    const previous = this.#previousPoll;
    if (previous?.offset === offset && timeout < 3 && now < previous.at + 3_000) timeout = 3;
    if (previous?.offset === offset && now < previous.at + 500 && !ignoreLimit) limit = 1;
    this.#previousPoll = { offset, at: now };

    this.#confirm(offset);
    const ready = this.#deliverable(limit);
    if (ready.length > 0 || timeout === 0 || this.#closed) return ok(ready);

    // this request would wait: it takes over from any older waiting one
    this.#poll?.wake("conflict");
    const outcome = await new Promise<PollOutcome>((resolve) => {
      const poll: Poll = {
        wake: (outcome) => {
          if (outcome === "update" && this.#deliverable(limit).length === 0) return;
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          if (this.#poll === poll) this.#poll = undefined;
          resolve(outcome);
        },
      };
      const onAbort = () => poll.wake("drop");
      const timer = setTimeout(() => poll.wake("timeout"), timeout * 1000);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#poll = poll;
    });
    switch (outcome) {
      case "drop":
        return { kind: "drop" };
      case "conflict": {
        // further conflicts within 3 s are answered 3 s late
        const at = this.#now();
        const delayed = at < this.#lastConflictAt + 3_000;
        this.#lastConflictAt = at;
        if (delayed) {
          const slept = await sleep(3_000, AbortSignal.any([signal, this.#lifetime.signal]));
          if (slept === "aborted") return { kind: "drop" };
        }
        return fail(409, CONFLICT_TEXT);
      }
      default:
        return ok(this.#deliverable(limit));
    }
  }

  /** Forgets confirmed updates: below `offset`, or all but the last `-offset` when negative. */
  #confirm(offset: number): void {
    if (offset > 0) this.#updates = this.#updates.filter((u) => (u.update_id as number) >= offset);
    else if (offset < 0) this.#updates = this.#updates.slice(offset);
  }

  /** Drops updates of kinds not allowed, and returns the first `limit` of the rest. */
  #deliverable(limit: number): Record<string, unknown>[] {
    const allowed = this.#allowedUpdates;
    this.#updates = this.#updates.filter((update) => {
      const kind = updateKind(update);
      if (kind === undefined) return true;
      return allowed ? allowed.includes(kind) : !DEFAULT_EXCLUDED_UPDATES.includes(kind);
    });
    return this.#updates.slice(0, limit);
  }

  // ---- messages --------------------------------------------------------------------------------

  #chat(chatId: number, fromId: number): ChatState {
    let state = this.#chats.get(chatId);
    if (state === undefined) {
      const chat: Chat = chatId < 0
        ? { id: chatId, type: "group", title: "Sim Group" }
        : { id: chatId, type: "private", first_name: "Tester", username: `tester${fromId}` };
      state = {
        chat,
        nextMessageId: 1,
        messages: new Map(),
        botMessages: [],
        reactions: new Map(),
        drafts: [],
        lastBotMessageAt: -Infinity,
      };
      this.#chats.set(chatId, state);
    }
    return state;
  }

  #person(fromId: number): User {
    return {
      id: fromId,
      is_bot: false,
      first_name: "Tester",
      username: `tester${fromId}`,
      language_code: "en",
    };
  }

  #personSends(chatId: number, fromId: number, content: Record<string, unknown>): Update {
    const state = this.#chat(chatId, fromId);
    const from = this.#person(fromId);
    const message = {
      message_id: state.nextMessageId++,
      from,
      chat: state.chat,
      date: Math.floor(this.#now() / 1000),
      ...content,
    } as unknown as Message;
    state.messages.set(message.message_id, { message, deleted: false });
    return this.#enqueueMessage(message);
  }

  #enqueueMessage(message: Message): Update {
    return this.enqueueUpdate({ message });
  }

  #lookupChat(chatId: unknown): ChatState | Reply {
    if (chatId === undefined || chatId === "") return badRequest("chat_id is empty");
    const id = toInteger(chatId);
    const state = id === undefined ? undefined : this.#chats.get(id);
    return state ?? badRequest("chat not found");
  }

  /**
   * Parses a message text, a caption or a draft's text the way Telegram does; the limits
   * (4096, 1024, 4096 characters) count after entity parsing. Only a message text can't be empty.
   */
  #formatted(
    params: Record<string, unknown>,
    kind: "text" | "caption" | "draft",
  ): { text: string; raw: string; parseMode: string } | Reply {
    const field = kind === "caption" ? "caption" : "text";
    const raw = params[field] === undefined ? "" : String(params[field]);
    const isText = kind !== "caption";
    if (raw === "" && kind === "text") return badRequest("message text is empty");
    if (new TextEncoder().encode(raw).length > 32_768) return badRequest("text is too long");
    const parseMode = params.parse_mode === undefined ? "" : String(params.parse_mode);
    if (!isSupportedParseMode(parseMode)) return badRequest("unsupported parse_mode");
    const parsed = parseFormattedText(raw, parseMode);
    if (parsed.error !== undefined) return badRequest(`can't parse entities: ${parsed.error}`);
    // Telegram strips surrounding white space, then counts UTF-16 code units
    const text = parsed.text.trim();
    if (kind === "text" && text === "") return badRequest("message text is empty");
    if (isText && text.length > 4096) return badRequest("message is too long");
    if (!isText && text.length > 1024) return badRequest("message caption is too long");
    return { text, raw, parseMode };
  }

  /** Checks `reply_markup`: an inline keyboard (or absent); `callback_data` is 1-64 bytes. */
  #inlineKeyboard(value: unknown): InlineKeyboardMarkup | undefined | Reply {
    if (value === undefined || value === "") return undefined;
    const unparseable = badRequest("can't parse reply keyboard markup JSON object");
    if (value === null || typeof value !== "object" || Array.isArray(value)) return unparseable;
    const rows = (value as Record<string, unknown>).inline_keyboard;
    if (rows === undefined) return undefined; // another keyboard kind: shown, not simulated
    if (!Array.isArray(rows) || !rows.every(Array.isArray)) {
      return badRequest('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array');
    }
    for (const row of rows as unknown[][]) {
      for (const button of row) {
        if (button === null || typeof button !== "object") return unparseable;
        const { text, callback_data: data, ...others } = button as Record<string, unknown>;
        if (typeof text !== "string") return badRequest('can\'t find field "text"');
        if (data !== undefined) {
          const size = new TextEncoder().encode(String(data)).length;
          if (size < 1 || size > 64) return badRequest("BUTTON_DATA_INVALID");
        } else if (Object.keys(others).length === 0) {
          return badRequest("text buttons are unallowed in the inline keyboard");
        }
      }
    }
    return { inline_keyboard: rows as InlineKeyboardButton[][] };
  }

  /** The message a reply links to, `null` for none, or the error. */
  #replyTarget(params: Record<string, unknown>, state: ChatState): Message | null | Reply {
    let reply = params.reply_parameters;
    if (reply === undefined && params.reply_to_message_id !== undefined) {
      reply = {
        message_id: params.reply_to_message_id,
        allow_sending_without_reply: params.allow_sending_without_reply,
      };
    }
    if (reply === undefined) return null;
    if (reply === null || typeof reply !== "object" || Array.isArray(reply)) {
      return badRequest("can't parse reply parameters JSON object");
    }
    const { message_id, chat_id, allow_sending_without_reply } = reply as Record<string, unknown>;
    const targetChat = chat_id === undefined ? state : this.#chats.get(toInteger(chat_id) ?? NaN);
    const target = targetChat?.messages.get(toInteger(message_id) ?? 0);
    if (target && !target.deleted) return target.message;
    if (!toBoolean(allow_sending_without_reply) && !toBoolean(params.allow_sending_without_reply)) {
      return badRequest("message to be replied not found");
    }
    return null;
  }

  /** Stores a message from the bot and its view; a message from the bot dismisses any draft. */
  #botSends(
    state: ChatState,
    content: Record<string, unknown>,
    view: Omit<BotMessage, "message_id" | "at" | "edits">,
  ): Message {
    const message = {
      message_id: state.nextMessageId++,
      from: this.#botUser,
      chat: state.chat,
      date: Math.floor(this.#now() / 1000),
      ...content,
    } as unknown as Message;
    state.messages.set(message.message_id, { message, deleted: false });
    state.botMessages.push({ message_id: message.message_id, ...view, at: this.#now(), edits: 0 });
    state.lastBotMessageAt = this.#now();
    return message;
  }

  #sendMessage(params: Record<string, unknown>): Reply {
    const formatted = this.#formatted(params, "text");
    if ("kind" in formatted) return formatted;
    const { text, raw, parseMode } = formatted;
    const found = this.#lookupChat(params.chat_id);
    if ("kind" in found) return found;
    const keyboard = this.#inlineKeyboard(params.reply_markup);
    if (keyboard !== undefined && "kind" in keyboard) return keyboard;
    const replyTarget = this.#replyTarget(params, found);
    if (replyTarget !== null && "kind" in replyTarget) return replyTarget;

    const message = this.#botSends(found, {
      text,
      ...(replyTarget ? { reply_to_message: replyTarget } : {}),
      ...(keyboard ? { reply_markup: keyboard } : {}),
    }, {
      text,
      rawText: raw,
      ...(replyTarget ? { reply_to: replyTarget.message_id } : {}),
      ...(parseMode ? { parse_mode: parseMode } : {}),
      ...(keyboard ? { reply_markup: keyboard } : {}),
    });
    return ok(message);
  }

  #sendDocument(params: Record<string, unknown>): Reply {
    const found = this.#lookupChat(params.chat_id);
    if ("kind" in found) return found;
    let document = params.document;
    if (typeof document === "string" && document.startsWith("attach://")) {
      document = params[document.slice("attach://".length)];
    }
    let stored: StoredFile;
    let fileName: string | undefined;
    let mimeType: string | undefined;
    if (isUploadedFile(document)) {
      fileName = document.filename;
      mimeType = document.type === "" ? "application/octet-stream" : document.type;
      const extension = /\.([A-Za-z0-9]+)$/.exec(fileName)?.[1];
      stored = this.#registerFile(document.bytes, "documents", extension);
    } else if (typeof document === "string" && document !== "") {
      const known = this.#files.get(document);
      if (known === undefined) return badRequest("wrong file identifier/HTTP URL specified");
      stored = known;
    } else {
      return badRequest("there is no document in the request");
    }
    const caption = this.#formatted(params, "caption");
    if ("kind" in caption) return caption;
    const keyboard = this.#inlineKeyboard(params.reply_markup);
    if (keyboard !== undefined && "kind" in keyboard) return keyboard;
    const replyTarget = this.#replyTarget(params, found);
    if (replyTarget !== null && "kind" in replyTarget) return replyTarget;

    const sent: Omit<SentDocument, "bytes"> = {
      ...(fileName !== undefined ? { file_name: fileName } : {}),
      ...(mimeType !== undefined ? { mime_type: mimeType } : {}),
      file_id: stored.fileId,
      file_unique_id: stored.fileUniqueId,
      file_size: stored.size,
    };
    const message = this.#botSends(found, {
      document: sent,
      ...(caption.text !== "" ? { caption: caption.text } : {}),
      ...(replyTarget ? { reply_to_message: replyTarget } : {}),
      ...(keyboard ? { reply_markup: keyboard } : {}),
    }, {
      text: caption.text,
      rawText: caption.raw,
      document: { ...sent, bytes: stored.bytes },
      ...(replyTarget ? { reply_to: replyTarget.message_id } : {}),
      ...(caption.parseMode ? { parse_mode: caption.parseMode } : {}),
      ...(keyboard ? { reply_markup: keyboard } : {}),
    });
    return ok(message);
  }

  /**
   * `sendPhoto` of an upload (or a known `file_id`, as a new copy here): Telegram processes the
   * image, so what is not
   * a JPEG, PNG or WebP fails (`IMAGE_PROCESS_FAILED`), as does one over 10 MB
   * (`PHOTO_SAVE_FILE_INVALID`) or whose width and height add up to more than 10000 or differ by
   * a ratio over 20 (`PHOTO_INVALID_DIMENSIONS`; only a PNG's are read, others count as 800×600).
   * The three texts are those reported by client libraries, unconfirmed for the Bot API.
   */
  #sendPhoto(params: Record<string, unknown>): Reply {
    const found = this.#lookupChat(params.chat_id);
    if ("kind" in found) return found;
    let photo = params.photo;
    if (typeof photo === "string" && photo.startsWith("attach://")) {
      photo = params[photo.slice("attach://".length)];
    }
    if (typeof photo === "string" && photo !== "") {
      // A photo Telegram has: sent again as it is.
      const known = this.#files.get(photo);
      if (known === undefined) return badRequest("wrong file identifier/HTTP URL specified");
      photo = { filename: "", type: "", size: known.size, bytes: known.bytes };
    }
    if (!isUploadedFile(photo)) return badRequest("there is no photo in the request");
    const dimensions = imageDimensions(photo.bytes);
    if (dimensions === undefined) return badRequest("IMAGE_PROCESS_FAILED");
    if (photo.size > MAX_PHOTO_SIZE) return badRequest("PHOTO_SAVE_FILE_INVALID");
    const [width, height] = dimensions;
    if (width + height > 10_000 || Math.max(width / height, height / width) > 20) {
      return badRequest("PHOTO_INVALID_DIMENSIONS");
    }
    const caption = this.#formatted(params, "caption");
    if ("kind" in caption) return caption;
    const replyTarget = this.#replyTarget(params, found);
    if (replyTarget !== null && "kind" in replyTarget) return replyTarget;
    const stored = this.#registerFile(photo.bytes, "photos", "jpg");
    const size = {
      file_id: stored.fileId,
      file_unique_id: stored.fileUniqueId,
      file_size: stored.size,
      width,
      height,
    };
    const message = this.#botSends(found, {
      photo: [size],
      ...(caption.text !== "" ? { caption: caption.text } : {}),
      ...(replyTarget ? { reply_to_message: replyTarget } : {}),
    }, {
      text: caption.text,
      rawText: caption.raw,
      photo: { ...size, file_name: photo.filename, bytes: stored.bytes },
      ...(replyTarget ? { reply_to: replyTarget.message_id } : {}),
    });
    return ok(message);
  }

  #sendMessageDraft(params: Record<string, unknown>): Reply {
    const found = this.#lookupChat(params.chat_id);
    if ("kind" in found) return found;
    // the texts of these two errors are unconfirmed (shared/telegram-bot-api-facts.md)
    if (found.chat.type !== "private") {
      return badRequest("drafts can be sent only to private chats");
    }
    const draftId = toInteger(params.draft_id) ?? 0;
    if (draftId === 0) return badRequest("draft_id must be non-zero");
    const formatted = this.#formatted(params, "draft");
    if ("kind" in formatted) return formatted;
    const threadId = toInteger(params.message_thread_id);
    found.drafts.push({
      draft_id: draftId,
      text: formatted.text,
      rawText: formatted.raw,
      ...(formatted.parseMode ? { parse_mode: formatted.parseMode } : {}),
      ...(threadId !== undefined ? { message_thread_id: threadId } : {}),
      can_stop: toBoolean(params.can_stop),
      keep_on_stop: toBoolean(params.keep_on_stop),
      at: this.#now(),
    });
    return ok(true);
  }

  #answerCallbackQuery(params: Record<string, unknown>): Reply {
    const id = params.callback_query_id === undefined ? "" : String(params.callback_query_id);
    const query = this.#callbackQueries.get(id);
    const now = this.#now();
    if (query === undefined || query.answer || now > query.at + CALLBACK_ANSWER_WINDOW_MS) {
      return badRequest(QUERY_INVALID);
    }
    query.answer = {
      ...(params.text !== undefined ? { text: String(params.text) } : {}),
      show_alert: toBoolean(params.show_alert),
      at: now,
    };
    return ok(true);
  }

  /** The bot's own message `message_id` in the chat, or the error with `what` ("message to edit"). */
  #ownMessage(
    params: Record<string, unknown>,
    what: string,
  ):
    | { state: ChatState; stored: { message: Message; deleted: boolean }; view?: BotMessage }
    | Reply {
    const found = this.#lookupChat(params.chat_id);
    if ("kind" in found) return found;
    const messageId = toInteger(params.message_id) ?? 0;
    const stored = found.messages.get(messageId);
    if (messageId <= 0 || stored === undefined || stored.deleted) {
      return badRequest(`${what} not found`);
    }
    const view = found.botMessages.find((m) => m.message_id === messageId);
    return { state: found, stored, view };
  }

  #editMessageText(params: Record<string, unknown>): Reply {
    const formatted = this.#formatted(params, "text");
    if ("kind" in formatted) return formatted;
    const keyboard = this.#inlineKeyboard(params.reply_markup);
    if (keyboard !== undefined && "kind" in keyboard) return keyboard;
    const found = this.#ownMessage(params, "message to edit");
    if ("kind" in found) return found;
    const { stored, view } = found;
    if (view === undefined) return badRequest("message can't be edited");
    if (typeof stored.message.text !== "string") {
      return badRequest("there is no text in the message to edit");
    }
    // Telegram compares the formatted text and the markup; the simulator has no entities, so the
    // same visible text counts as the same when the parse mode and raw text match too
    const sameText = view.text === formatted.text &&
      (view.parse_mode ?? "") === formatted.parseMode &&
      (formatted.parseMode === "" || view.rawText === formatted.raw);
    if (sameText && sameMarkup(view.reply_markup, keyboard)) return badRequest(NOT_MODIFIED);
    return ok(this.#edited(found.stored, view, {
      text: formatted.text,
      rawText: formatted.raw,
      parseMode: formatted.parseMode,
      keyboard,
    }));
  }

  #editMessageReplyMarkup(params: Record<string, unknown>): Reply {
    const keyboard = this.#inlineKeyboard(params.reply_markup);
    if (keyboard !== undefined && "kind" in keyboard) return keyboard;
    const found = this.#ownMessage(params, "message to edit");
    if ("kind" in found) return found;
    const { stored, view } = found;
    if (view === undefined) return badRequest("message can't be edited");
    if (sameMarkup(view.reply_markup, keyboard)) return badRequest(NOT_MODIFIED);
    return ok(this.#edited(stored, view, { keyboard }));
  }

  /** Applies an edit to the stored message and the bot's view of it; returns the new Message. */
  #edited(
    stored: { message: Message },
    view: BotMessage,
    change: {
      text?: string;
      rawText?: string;
      parseMode?: string;
      keyboard: InlineKeyboardMarkup | undefined;
    },
  ): Message {
    const { reply_markup: _old, ...rest } = stored.message;
    const message = {
      ...rest,
      ...(change.text !== undefined ? { text: change.text } : {}),
      ...(change.keyboard ? { reply_markup: change.keyboard } : {}),
      edit_date: Math.floor(this.#now() / 1000),
    } as Message;
    stored.message = message;
    if (change.text !== undefined) {
      view.text = change.text;
      view.rawText = change.rawText!;
      if (change.parseMode) view.parse_mode = change.parseMode;
      else delete view.parse_mode;
    }
    if (change.keyboard) view.reply_markup = change.keyboard;
    else delete view.reply_markup;
    view.edits++;
    view.editedAt = this.#now();
    return message;
  }

  #deleteMessage(params: Record<string, unknown>): Reply {
    const found = this.#ownMessage(params, "message to delete");
    if ("kind" in found) return found;
    const { state, stored, view } = found;
    const age = this.#now() - stored.message.date * 1000;
    // in groups a bot without admin rights deletes only its own messages, within 48 hours
    if (state.chat.type !== "private" && (view === undefined || age > 48 * 3_600_000)) {
      return badRequest("message can't be deleted");
    }
    stored.deleted = true;
    if (view) view.deletedAt = this.#now();
    return ok(true);
  }

  #setMessageReaction(params: Record<string, unknown>): Reply {
    let reaction = params.reaction ?? [];
    if (typeof reaction === "string") {
      if (reaction.trim() !== "") return badRequest("can't parse reaction types JSON object");
      reaction = [];
    }
    if (!Array.isArray(reaction)) return badRequest("can't parse reaction types JSON object");
    const emoji: string[] = [];
    for (const item of reaction) {
      if (item === null || typeof item !== "object") {
        return badRequest("can't parse reaction types JSON object");
      }
      const { type, emoji: value } = item as Record<string, unknown>;
      if (type !== "emoji" || typeof value !== "string") return badRequest("REACTION_INVALID");
      emoji.push(value);
    }

    const found = this.#lookupChat(params.chat_id);
    if ("kind" in found) return found;
    const messageId = toInteger(params.message_id) ?? 0;
    const target = found.messages.get(messageId);
    if (messageId <= 0 || target === undefined || target.deleted) {
      return badRequest("message to react not found");
    }
    if (emoji.length > 1) return badRequest("REACTIONS_TOO_MANY");
    if (emoji.length === 1 && !ALLOWED_REACTIONS.has(emoji[0])) {
      return badRequest("REACTION_INVALID");
    }
    if (emoji.length === 0) found.reactions.delete(messageId);
    else found.reactions.set(messageId, emoji[0]);
    return ok(true);
  }

  #sendChatAction(params: Record<string, unknown>): Reply {
    if (!CHAT_ACTIONS.has(String(params.action ?? ""))) {
      return badRequest("wrong parameter action in request");
    }
    const found = this.#lookupChat(params.chat_id);
    return "kind" in found ? found : ok(true);
  }

  // ---- files -----------------------------------------------------------------------------------

  #registerFile(bytes: Uint8Array, folder: string, extension?: string, size?: number): StoredFile {
    const n = this.#nextFile++;
    const file: StoredFile = {
      bytes: bytes.slice(),
      size: size ?? bytes.length,
      fileId: `AwACAgQAAxkBAAIB${String(n).padStart(4, "0")}SimFileId`,
      fileUniqueId: `AgAD${String(n).padStart(4, "0")}`,
      filePath: `${folder}/file_${n}${extension ? `.${extension}` : ""}`,
    };
    this.#files.set(file.fileId, file);
    this.#filesByPath.set(file.filePath, file);
    return file;
  }

  #getFile(params: Record<string, unknown>): Reply {
    const fileId = params.file_id === undefined ? "" : String(params.file_id);
    if (fileId === "") return badRequest("file_id not specified");
    const file = this.#files.get(fileId);
    if (file === undefined) return badRequest("invalid file_id");
    if (file.size > MAX_DOWNLOAD_SIZE) return badRequest("file is too big");
    const result: File = {
      file_id: file.fileId,
      file_unique_id: file.fileUniqueId,
      file_size: file.size,
      file_path: file.filePath,
    };
    return ok(result);
  }
}
