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
 * @module
 */

import type { Chat, File, Message, Update, User } from "grammy/types";
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
  /** Parameters from the query, urlencoded, JSON or multipart body; JSON-typed fields parsed. */
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
  /** 401 `Unauthorized`. */
  | { kind: "unauthorized" }
  /** The normal answer after `ms`; dropped if the client leaves or the simulator closes first. */
  | { kind: "delay"; ms: number }
  /** No answer until the client leaves or the simulator closes (which cuts the connection). */
  | { kind: "hang" };

/** Which calls a fault applies to, and how many times. */
export interface FaultRule {
  /** Method the rule matches, case-insensitively. Default: any method, file downloads included. */
  method?: string;
  /** How many matching calls it answers. Default: `1`. */
  times?: number;
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
}

const DEFAULT_TOKEN = "123456:TEST-sim-token-abcdefghijklmnopqrstuvwxyz";
const TOKEN_SHAPE = /^\d+:[A-Za-z0-9_-]+$/;
const MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024;
const CONFLICT_TEXT =
  "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
const BAD_GATEWAY_PAGE = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
  "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n";
const DEFAULT_EXCLUDED_UPDATES = ["chat_member", "message_reaction", "message_reaction_count"];
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
]);
const BOOLEAN_FIELDS = new Set([
  "allow_sending_without_reply",
  "disable_notification",
  "protect_content",
  "is_big",
  "drop_pending_updates",
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
  const type = (request.headers.get("content-type") ?? "").toLowerCase();
  if (request.body === null) return normalise(params);
  try {
    if (type.includes("application/json")) {
      const body = await request.json();
      if (body !== null && typeof body === "object" && !Array.isArray(body)) {
        Object.assign(params, body);
      }
    } else if (type.includes("application/x-www-form-urlencoded")) {
      for (const [name, value] of new URLSearchParams(await request.text())) params[name] = value;
    } else if (type.includes("multipart/form-data")) {
      for (const [name, value] of await request.formData()) {
        params[name] = typeof value === "string"
          ? value
          : { filename: value.name, size: value.size, type: value.type };
      }
    } else {
      await request.body.cancel();
    }
  } catch {
    // an unreadable body carries no parameters, as with the real server
  }
  return normalise(params);
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
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #serverAbort: AbortController | undefined;
  #closing: Promise<void> | undefined;
  #closed = false;

  readonly #calls: RecordedCall[] = [];
  readonly #waiters = new Set<Waiter>();
  /** Aborted by close(): ends hangs, delays and waits that would otherwise outlive the server. */
  readonly #lifetime = new AbortController();
  #faults: { method?: string; remaining: number; fault: Fault }[] = [];

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

  /** The person deletes one of the chat's messages. */
  deleteMessage(chatId: number, messageId: number): void {
    const stored = this.#chats.get(chatId)?.messages.get(messageId);
    if (stored) stored.deleted = true;
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

  /** The emoji the bot currently shows on a message, or `undefined` if none. */
  reaction(chatId: number, messageId: number): string | undefined {
    return this.#chats.get(chatId)?.reactions.get(messageId);
  }

  // ---- faults ----------------------------------------------------------------------------------

  /** Queues a fault rule; matching calls consume rules in the order they were injected. */
  injectFault(rule: FaultRule): void {
    const { method, times = 1, fault } = rule;
    if (!Number.isInteger(times) || times < 1) {
      throw new RangeError(
        `Cannot inject fault: expected times to be a positive integer, got ${times}`,
      );
    }
    this.#faults.push({ method: method?.toLowerCase(), remaining: times, fault });
  }

  /** Forgets every queued fault rule. */
  clearFaults(): void {
    this.#faults = [];
  }

  /** Stops listening: new connections are refused, open ones (and waiting long polls) are cut. */
  async refuseConnections(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    this.#serverAbort!.abort();
    this.#serverAbort = undefined;
    await server.finished;
  }

  /** Listens again on the same port. */
  async acceptConnections(): Promise<void> {
    if (this.#closed) throw new Error("Cannot accept connections: the simulator is closed");
    if (this.#server !== undefined) return;
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
    this.#poll?.wake("close");
    this.#lifetime.abort();
    const server = this.#server;
    if (server !== undefined) {
      // graceful, so that answers on their way (the long polls just woken) reach their clients
      const grace = new AbortController();
      const outcome = await Promise.race([
        server.shutdown().then(() => "done" as const, () => "done" as const),
        sleep(5_000, grace.signal),
      ]);
      grace.abort();
      if (outcome === "done") {
        this.#server = undefined;
        this.#serverAbort = undefined;
        await server.finished;
      } else {
        console.error("BotApiSimulator: graceful shutdown timed out; cutting connections");
        await this.refuseConnections();
      }
    }
    for (const waiter of [...this.#waiters]) {
      waiter.fail(new Error("Simulator closed while waiting for calls"));
    }
  }

  async #listen(): Promise<void> {
    for (let attempt = 0;; attempt++) {
      const abort = new AbortController();
      try {
        const server = Deno.serve({
          hostname: "127.0.0.1",
          port: this.#port,
          signal: abort.signal,
          onListen: () => {},
          onError: (error) => {
            // unreachable unless the simulator itself has a bug: make it visible in the test
            console.error("BotApiSimulator handler failed:", error);
            return new Response("Internal Server Error", { status: 500 });
          },
        }, (request) => this.#handle(request));
        this.#server = server;
        this.#serverAbort = abort;
        this.#port = server.addr.port;
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

  async #handle(request: Request): Promise<Response> {
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
      reply = await this.#route(request, call);
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

  async #route(request: Request, call: RecordedCall): Promise<Reply> {
    const url = new URL(request.url);
    const file = /^\/file\/bot([^/]*)\/(.+)$/.exec(url.pathname);
    const method = file ? undefined : /^\/bot([^/]*)\/([^/]*)$/.exec(url.pathname);
    if (file) {
      call.method = "file/download";
      call.params = { file_path: decodeURIComponent(file[2]) };
      await request.body?.cancel();
    } else if (method) {
      call.method = CANONICAL.get(method[2].toLowerCase()) ?? method[2];
      call.params = await readParams(request, url);
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
    const fault = this.#takeFault(call.method);
    if (fault) {
      call.fault = fault.kind;
      this.#notify();
      const faulted = await this.#applyFault(fault, request.signal);
      if (faulted) return faulted;
    }
    if (file) return this.#download(call.params.file_path as string);
    return await this.#dispatch(call, request.signal);
  }

  #takeFault(method: string): Fault | undefined {
    const name = method.toLowerCase();
    const index = this.#faults.findIndex((rule) =>
      rule.method === undefined || rule.method === name
    );
    if (index === -1) return undefined;
    const rule = this.#faults[index];
    if (--rule.remaining === 0) this.#faults.splice(index, 1);
    return rule.fault;
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
      case "delay": {
        const outcome = await sleep(fault.ms, AbortSignal.any([signal, this.#lifetime.signal]));
        return outcome === "aborted" ? { kind: "drop" } : undefined;
      }
      case "hang":
        return { kind: "drop" };
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
      default:
        return fail(404, "Not Found: method not found");
    }
  }

  // ---- getUpdates ------------------------------------------------------------------------------

  async #getUpdates(
    params: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<Reply> {
    const offset = toInteger(params.offset) ?? 0;
    let limit = clamp(toInteger(params.limit) ?? 100, 1, 100);
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
    if (previous?.offset === offset && now < previous.at + 500) limit = 1;
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
      };
      this.#chats.set(chatId, state);
    }
    return state;
  }

  #personSends(chatId: number, fromId: number, content: Record<string, unknown>): Update {
    const state = this.#chat(chatId, fromId);
    const from: User = {
      id: fromId,
      is_bot: false,
      first_name: "Tester",
      username: `tester${fromId}`,
      language_code: "en",
    };
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

  #sendMessage(params: Record<string, unknown>): Reply {
    const raw = params.text === undefined ? "" : String(params.text);
    if (raw === "") return badRequest("message text is empty");
    if (new TextEncoder().encode(raw).length > 32_768) return badRequest("text is too long");
    const parseMode = params.parse_mode === undefined ? "" : String(params.parse_mode);
    if (!isSupportedParseMode(parseMode)) return badRequest("unsupported parse_mode");
    const parsed = parseFormattedText(raw, parseMode);
    if (parsed.error !== undefined) return badRequest(`can't parse entities: ${parsed.error}`);
    // Telegram strips surrounding white space, then counts UTF-16 code units
    const text = parsed.text.trim();
    if (text === "") return badRequest("message text is empty");
    if (text.length > 4096) return badRequest("message is too long");

    const found = this.#lookupChat(params.chat_id);
    if ("kind" in found) return found;
    const state = found;

    let replyTarget: Message | undefined;
    let reply = params.reply_parameters;
    if (reply === undefined && params.reply_to_message_id !== undefined) {
      reply = {
        message_id: params.reply_to_message_id,
        allow_sending_without_reply: params.allow_sending_without_reply,
      };
    }
    if (reply !== undefined) {
      if (reply === null || typeof reply !== "object" || Array.isArray(reply)) {
        return badRequest("can't parse reply parameters JSON object");
      }
      const { message_id, chat_id, allow_sending_without_reply } = reply as Record<string, unknown>;
      const targetChat = chat_id === undefined ? state : this.#chats.get(toInteger(chat_id) ?? NaN);
      const target = targetChat?.messages.get(toInteger(message_id) ?? 0);
      if (target && !target.deleted) {
        replyTarget = target.message;
      } else if (
        !toBoolean(allow_sending_without_reply) && !toBoolean(params.allow_sending_without_reply)
      ) {
        return badRequest("message to be replied not found");
      }
    }

    const message = {
      message_id: state.nextMessageId++,
      from: this.#botUser,
      chat: state.chat,
      date: Math.floor(this.#now() / 1000),
      text,
      ...(replyTarget ? { reply_to_message: replyTarget } : {}),
    } as Message;
    state.messages.set(message.message_id, { message, deleted: false });
    state.botMessages.push({
      message_id: message.message_id,
      text,
      rawText: raw,
      ...(replyTarget ? { reply_to: replyTarget.message_id } : {}),
      ...(parseMode ? { parse_mode: parseMode } : {}),
      at: this.#now(),
    });
    return ok(message);
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
