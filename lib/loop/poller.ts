/**
 * `getUpdates` for the poll loop (`poll.ts`): the offset, and the back-off after a failure, so
 * that one failed call is never more than a pause in the loop.
 *
 * @module
 */

import type { Api } from "grammy/web";
import { backoffMs } from "../shared/backoff.ts";
import { getLog } from "../shared/log.ts";
import { apiSignal, classifyFailure, type FailureVerdict } from "../shared/telegram.ts";

/** How much longer than its long-poll timeout a `getUpdates` request may take before it is cut. */
export const POLL_SLACK_S = 10;

/** The token was refused (401) or is not one Telegram knows (404): polling can't go on. */
export class FatalPollError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FatalPollError";
  }
}

/** Options for {@linkcode Poller}. */
export interface PollerOptions {
  api: Api;
  /** Long-poll timeout in seconds. */
  timeoutS: number;
  /**
   * Update kinds asked for. Default: messages, edits, and the two Stop presses (Telegram sends
   * `stopped_message_generation` only when asked).
   */
  allowedUpdates?: readonly string[];
  /** First back-off after a failure. Default: 1000 ms. */
  backoffBaseMs?: number;
  /** Longest back-off. Default: 30 000 ms. */
  backoffMaxMs?: number;
  /** A request that outlives the long-poll timeout by this much is given up. Default: 10 000 ms. */
  requestSlackMs?: number;
  /** Randomness for the jitter, in [0, 1). Default: `Math.random`. */
  random?: () => number;
  /** The first offset (everything below it was confirmed by an earlier run). Default: 0. */
  offset?: number;
  /** Called after each `getUpdates` that Telegram answered. */
  onAnswered?: () => void;
  /** The clock for back-off deadlines. Default: `performance.now`. */
  now?: () => number;
}

/** Fetches updates, keeps the offset, and backs off (capped, with jitter) after failures. */
export class Poller {
  #api: Api;
  #timeoutS: number;
  #allowed: readonly string[];
  #baseMs: number;
  #maxMs: number;
  #slackMs: number;
  #random: () => number;
  #offset = 0;
  #failures = 0;
  #answered = false;
  #trouble?: string;
  #retryAt = 0;
  #onAnswered?: () => void;
  #now: () => number;
  #log = getLog("poll");

  constructor(options: PollerOptions) {
    const {
      api,
      timeoutS,
      allowedUpdates = [
        "message",
        "edited_message",
        "callback_query",
        "stopped_message_generation",
      ],
      backoffBaseMs = 1000,
      backoffMaxMs = 30_000,
      requestSlackMs = POLL_SLACK_S * 1000,
      random = Math.random,
      offset = 0,
      onAnswered,
      now = () => performance.now(),
    } = options;
    this.#offset = offset;
    this.#onAnswered = onAnswered;
    this.#now = now;
    this.#api = api;
    this.#timeoutS = timeoutS;
    this.#allowed = allowedUpdates;
    this.#baseMs = backoffBaseMs;
    this.#maxMs = backoffMaxMs;
    this.#slackMs = requestSlackMs;
    this.#random = random;
  }

  /** The next `getUpdates` offset: every update below it is confirmed. */
  get offset(): number {
    return this.#offset;
  }

  /**
   * Asks for `updateId` again (and everything after it) at the next `getUpdates`, `delayMs` from
   * now: it could not be recorded, so it must not be confirmed.
   */
  rewind(updateId: number, delayMs: number): void {
    if (updateId < this.#offset) this.#offset = updateId;
    this.#retryAt = Math.max(this.#retryAt, this.#now() + delayMs);
  }

  /** Why Telegram can't be reached now (the last failure's summary), while it can't. */
  get trouble(): string | undefined {
    return this.#trouble;
  }

  /**
   * Where the bot stands with Telegram, for systemd's `STATUS=`: "connecting to Telegram" until
   * the first `getUpdates` ends, "waiting for Telegram: <reason>" while it fails, else "polling".
   */
  get standing(): string {
    if (this.#trouble !== undefined) return `waiting for Telegram: ${this.#trouble}`;
    return this.#answered ? "polling" : "connecting to Telegram";
  }

  /** How long the back-off after the last failure still asks to wait, in ms (0: poll now). */
  get waitMs(): number {
    return Math.max(0, this.#retryAt - this.#now());
  }

  /**
   * One `getUpdates` call for at most `limit` updates. After a transient failure it returns no
   * updates and sets {@linkcode waitMs} to the back-off (or Telegram's `retry_after`): the caller
   * waits, so that its loop keeps coming round. After a 401 or a 404 it throws
   * {@linkcode FatalPollError}.
   * Returns at once, with none, when `signal` aborts.
   */
  async next(limit: number, signal: AbortSignal): Promise<unknown[]> {
    const asked = Math.max(1, Math.min(100, limit));
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error("getUpdates outlived its timeout")),
      this.#timeoutS * 1000 + this.#slackMs,
    );
    let updates: unknown[];
    try {
      updates = await this.#api.getUpdates(
        {
          offset: this.#offset,
          limit: asked,
          // The first call is answered at once: it tells that Telegram takes our token (READY
          // waits for it), and a long poll would make that wait for the first message.
          timeout: this.#answered ? this.#timeoutS : 0,
          // Sent every time: Telegram otherwise keeps whatever an earlier run asked for.
          allowed_updates: this.#allowed as never,
        },
        apiSignal(AbortSignal.any([signal, deadline.signal])),
      );
    } catch (error) {
      if (signal.aborted) return [];
      this.#recover(classifyFailure(error));
      return [];
    } finally {
      clearTimeout(timer);
    }
    this.#failures = 0;
    this.#trouble = undefined;
    this.#answered = true;
    this.#onAnswered?.();
    if (!Array.isArray(updates)) {
      this.#log.warn("getUpdates answered with something other than a list; ignoring it");
      return [];
    }
    const taken = this.#take(updates, asked);
    for (const update of taken) {
      const id = idOf(update);
      if (id !== undefined && id >= this.#offset) this.#offset = id + 1;
    }
    return taken;
  }

  /**
   * At most `asked` updates of an answer, whatever the server sent: the lowest update ids (the
   * offset then covers only those), so the rest stay unconfirmed, for the next call.
   */
  #take(updates: unknown[], asked: number): unknown[] {
    if (updates.length <= asked) return updates;
    this.#log.warn(
      "getUpdates answered with {n} updates where at most {asked} were asked for; taking {asked}, the rest come again",
      { n: updates.length, asked },
    );
    const order = (u: unknown) => idOf(u) ?? Number.MAX_SAFE_INTEGER;
    return [...updates].sort((a, b) => order(a) - order(b)).slice(0, asked);
  }

  #recover(verdict: FailureVerdict): void {
    if (verdict.kind === "fatal") {
      throw new FatalPollError(
        verdict.code === 404
          ? `Telegram does not know the bot token (${verdict.summary}): it is mistyped, or COORD_API_ROOT is not a Bot API; giving up`
          : `Telegram refused the bot token (${verdict.summary}); giving up`,
      );
    }
    this.#failures++;
    this.#trouble = verdict.summary;
    const ms = verdict.kind === "wait" ? verdict.ms + this.#jitter(1000) : this.#backoffMs();
    this.#log.warn("getUpdates failed ({summary}); retrying in {seconds} s (failure {n})", {
      summary: verdict.summary,
      seconds: Number((ms / 1000).toFixed(2)),
      n: this.#failures,
    });
    this.#retryAt = this.#now() + ms;
  }

  #backoffMs(): number {
    return backoffMs(this.#failures, {
      baseMs: this.#baseMs,
      maxMs: this.#maxMs,
      random: this.#random,
    });
  }

  #jitter(ms: number): number {
    return this.#random() * ms;
  }
}

/** An update's id, when it has a usable one. */
function idOf(update: unknown): number | undefined {
  const id = (update as { update_id?: unknown } | null)?.update_id;
  return typeof id === "number" && Number.isSafeInteger(id) && id >= 0 ? id : undefined;
}
