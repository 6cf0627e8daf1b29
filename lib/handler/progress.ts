/**
 * Live progress on the phone while a brain works, never holding up the answer.
 *
 * Notes come from the brain, gathered by `brain_watch.ts`: lines it appends to
 * `COORD_PROGRESS_FILE` (any brain), and the events of a Claude brain's stream
 * (`claude_stream.ts`). They are shown
 * - in a private chat as a draft (`sendMessageDraft`, with Telegram's own Stop button): the
 *   elapsed time, the count of tool calls and the last few notes, refreshed when notes arrive and
 *   at least every {@linkcode REFRESH_MS} (a draft lives about 30 s); the answer dismisses it;
 * - in a group (drafts are private-chat only) as one progress message, a reply to the person's
 *   message with a 🛑 Stop button, edited in place and deleted when the answer comes.
 *
 * At most one call per {@linkcode MIN_GAP_MS} (Telegram's per-chat limits); notes that come
 * meanwhile are coalesced. Calls go without retries; a failure is logged and never stops anything.
 *
 * @module
 */

import type { Api } from "grammy/web";
import { formatDuration } from "../shared/duration.ts";
import type { MessageRef } from "./feedback.ts";
import type { Logger } from "../shared/log.ts";
import { apiSignal, describeError, isBadRequest } from "../shared/telegram.ts";
import { draftIdOf } from "../shared/update_route.ts";

/** The least time between two progress calls of one chat. */
export const MIN_GAP_MS = 2000;
/** The longest a shown progress goes without a refresh. */
export const REFRESH_MS = 20_000;
/** The first progress is shown this long after the brain starts, or at its first note. */
export const FIRST_SHOW_MS = 3000;
/** Notes shown at once. */
const NOTES_SHOWN = 4;
/** The longest one progress call may take. */
const CALL_MS = 10_000;

/** Options for {@linkcode Progress}. */
export interface ProgressOptions {
  /** For the droppable calls (no retries). */
  api: Api;
  ids: MessageRef;
  /** A private chat gets a draft; any other a progress message. */
  privateChat: boolean;
  log: Logger;
  /** The clock. Default: `performance.now`. */
  now?: () => number;
  /** Default: {@linkcode MIN_GAP_MS}. */
  minGapMs?: number;
  /** Default: {@linkcode REFRESH_MS}. */
  refreshMs?: number;
  /** Default: {@linkcode FIRST_SHOW_MS}. */
  firstShowMs?: number;
  /** Told the group's progress message id once it is sent (a reply to it steers). */
  onMessage?: (messageId: number) => void;
}

/** One message's progress display; see the module doc. */
export class Progress {
  #options: ProgressOptions;
  #now: () => number;
  #minGapMs: number;
  #refreshMs: number;
  #firstShowMs: number;
  #notes: string[] = [];
  #tools = 0;
  #startedAt = 0;
  #lastCallAt = -Infinity;
  #timer?: ReturnType<typeof setTimeout>;
  #timerAt = Infinity;
  #inFlight?: Promise<void>;
  #dirty = false;
  #shown = false;
  #stopped = false;
  /** The group's progress message, once sent. */
  #messageId?: number;
  /** Messages waiting behind this one; the tool the brain waits for the person to allow. */
  #waiting = 0;
  #asking?: string;
  #lastText = "";

  constructor(options: ProgressOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#minGapMs = options.minGapMs ?? MIN_GAP_MS;
    this.#refreshMs = options.refreshMs ?? REFRESH_MS;
    this.#firstShowMs = options.firstShowMs ?? FIRST_SHOW_MS;
  }

  /** Progress calls made so far (for tests and the log). */
  calls = 0;

  /** The brain started: the clock runs, and the first display comes soon. */
  start(): void {
    this.#startedAt = this.#now();
    this.#schedule(this.#firstShowMs);
  }

  /** A note from the brain. */
  note(text: string): void {
    const line = text.replace(/\s+/g, " ").trim().slice(0, 200);
    if (line === "" || this.#stopped) return;
    this.#notes.push(line);
    if (this.#notes.length > NOTES_SHOWN) this.#notes.shift();
    this.#dirty = true;
    this.#schedule(0);
  }

  /** A tool call of the brain (counted), with its note. */
  tool(note: string): void {
    this.#tools++;
    this.note(note);
  }

  /** What else the display says: how many wait behind, and whether the brain waits for an answer. */
  status(shown: { waiting?: number; asking?: string }): void {
    if ("waiting" in shown) this.#waiting = shown.waiting ?? 0;
    if ("asking" in shown) this.#asking = shown.asking;
    this.#dirty = true;
    this.#schedule(0);
  }

  /** The brain is done: no more calls; a group's progress message goes. Never throws. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#inFlight;
    const { api, ids, log } = this.#options;
    if (this.#messageId === undefined) return;
    try {
      await api.deleteMessage(ids.chatId, this.#messageId, apiSignal(AbortSignal.timeout(CALL_MS)));
    } catch (error) {
      log.warn("progress message of update {updateId} not removed: {error}", {
        ...ids,
        error: describeError(error),
      });
    }
  }

  /** What the progress shows now. */
  render(): string {
    const elapsed = formatDuration(Math.max(0, this.#now() - this.#startedAt));
    const tools = this.#tools === 0
      ? ""
      : this.#tools === 1
      ? " · 1 tool call"
      : ` · ${this.#tools} tool calls`;
    const head = this.#asking === undefined
      ? `✍ Working for ${elapsed}${tools}`
      : `🔐 Waiting for your approval to use ${this.#asking} · ${elapsed}${tools}`;
    const queued = this.#waiting === 0 ? [] : [
      `queued: ${
        this.#waiting === 1 ? "1 message runs" : `${this.#waiting} messages run`
      } after the current task`,
    ];
    return [head, ...this.#notes, ...queued].join("\n");
  }

  /**
   * Makes a call `delayMs` from now at the earliest, and no sooner than the gap allows; a call
   * already planned for sooner stands, one planned for later is brought forward.
   */
  #schedule(delayMs: number) {
    if (this.#stopped) return;
    const gap = this.#lastCallAt + this.#minGapMs - this.#now();
    const wait = Math.max(delayMs, gap, 0);
    const at = this.#now() + wait;
    if (this.#timer !== undefined) {
      if (this.#timerAt <= at) return;
      clearTimeout(this.#timer);
    }
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#show();
    }, wait);
  }

  async #show() {
    if (this.#stopped) return;
    if (this.#inFlight !== undefined) {
      // One call at a time: the next one follows it.
      await this.#inFlight;
      return this.#schedule(0);
    }
    this.#lastCallAt = this.#now();
    this.#dirty = false;
    this.#inFlight = this.#call(this.render()).finally(() => this.#inFlight = undefined);
    await this.#inFlight;
    if (this.#stopped) return;
    this.#shown = true;
    // Notes that came meanwhile go at the next gap; otherwise a refresh keeps it alive.
    this.#schedule(this.#dirty ? 0 : this.#refreshMs);
  }

  async #call(text: string) {
    const { api, ids, privateChat, log } = this.#options;
    const signal = apiSignal(AbortSignal.timeout(CALL_MS));
    const stop = {
      inline_keyboard: [[{ text: "🛑 Stop", callback_data: `stop:${ids.updateId}` }]],
    };
    this.calls++;
    try {
      if (privateChat) {
        await api.sendMessageDraft(
          ids.chatId,
          draftIdOf(ids.updateId),
          text,
          { can_stop: true },
          signal,
        );
      } else if (this.#messageId === undefined) {
        const sent = await api.sendMessage(ids.chatId, text, {
          reply_parameters: { message_id: ids.messageId, allow_sending_without_reply: true },
          reply_markup: stop,
        }, signal);
        this.#messageId = sent.message_id;
        this.#options.onMessage?.(sent.message_id);
      } else if (text !== this.#lastText) {
        // The keyboard goes with every edit: an edit without it removes it.
        await api.editMessageText(
          ids.chatId,
          this.#messageId,
          text,
          { reply_markup: stop },
          signal,
        );
      }
      this.#lastText = text;
    } catch (error) {
      if (isBadRequest(error, /message is not modified/i)) return;
      log.warn("progress of update {updateId} not shown: {error}", {
        ...ids,
        error: describeError(error),
      });
    }
  }

  /** True once something was shown. */
  get shown(): boolean {
    return this.#shown;
  }
}
