/**
 * The poll loop: long-poll `getUpdates`, hand each update on, and never stop for anything but a
 * revoked token or the stop signal.
 *
 * @module
 */

import type { Api } from "grammy/web";
import { sleep, within } from "../shared/abort.ts";
import { getLog } from "../shared/log.ts";
import { apiSignal, classifyFailure, type FailureVerdict } from "../shared/telegram.ts";

/** The longest the loop lets a batch's 👀 jobs take to reach the desk before it journals. */
const ACKS_OUT_MS = 100;

/** How much longer than its long-poll timeout a `getUpdates` request may take before it is cut. */
export const POLL_SLACK_S = 10;

/** The token was refused (401): polling can't go on. */
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

  /** How long the back-off after the last failure still asks to wait, in ms (0: poll now). */
  get waitMs(): number {
    return Math.max(0, this.#retryAt - this.#now());
  }

  /**
   * One `getUpdates` call for at most `limit` updates. After a transient failure it returns no
   * updates and sets {@linkcode waitMs} to the back-off (or Telegram's `retry_after`): the caller
   * waits, so that its loop keeps coming round. After a 401 it throws {@linkcode FatalPollError}.
   * Returns at once, with none, when `signal` aborts.
   */
  async next(limit: number, signal: AbortSignal): Promise<unknown[]> {
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
          limit: Math.max(1, Math.min(100, limit)),
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
    this.#answered = true;
    this.#onAnswered?.();
    if (!Array.isArray(updates)) {
      this.#log.warn("getUpdates answered with something other than a list; ignoring it");
      return [];
    }
    for (const update of updates) {
      const id = (update as { update_id?: unknown })?.update_id;
      if (typeof id === "number" && Number.isSafeInteger(id) && id >= this.#offset) {
        this.#offset = id + 1;
      }
    }
    return updates;
  }

  #recover(verdict: FailureVerdict): void {
    if (verdict.kind === "fatal") {
      throw new FatalPollError(`Telegram refused the bot token (${verdict.summary}); giving up`);
    }
    this.#failures++;
    const ms = verdict.kind === "wait" ? verdict.ms + this.#jitter(1000) : this.#backoffMs();
    this.#log.warn("getUpdates failed ({summary}); retrying in {seconds} s (failure {n})", {
      summary: verdict.summary,
      seconds: Number((ms / 1000).toFixed(2)),
      n: this.#failures,
    });
    this.#retryAt = this.#now() + ms;
  }

  #backoffMs(): number {
    const full = Math.min(this.#maxMs, this.#baseMs * 2 ** (this.#failures - 1));
    // "Equal jitter": at least half the back-off, so a flapping server is never hammered.
    return full / 2 + this.#jitter(full / 2);
  }

  #jitter(ms: number): number {
    return this.#random() * ms;
  }
}

/** The dispatcher as the loop needs it. */
export interface LoopDispatcher {
  reap(): unknown;
  waitForExit(ms: number, signal: AbortSignal): Promise<boolean>;
}

/** Where updates go, as the loop needs it (see `Intake`). */
export interface LoopIntake {
  /** Journaled messages not yet finished (waiting, running, or with the desk). */
  readonly size: number;
  /** Takes one update (acknowledge, journal, or skip). Throws when the journal can't be written. */
  route(update: unknown): void;
  /** Sorts an update and asks for its 👀 at once, before any disk (then `route` journals it). */
  acknowledge?(update: unknown): void;
  /** Resolves once the acknowledgements asked for are on their way. */
  acksOut?(): Promise<void>;
  /** Hands on what was routed since the last call (the batch is confirmed durable by then). */
  release(): void;
}

/** Options for {@linkcode runPollLoop}. */
export interface PollLoopOptions {
  poller: Pick<Poller, "next" | "waitMs" | "rewind">;
  dispatcher: LoopDispatcher;
  intake: LoopIntake;
  /** Records that the loop came round. */
  heartbeat(): void;
  /**
   * Called after each batch of updates has been routed, to make it durable (the offset); throws
   * when it can't, and is then called again after a back-off before anything else happens.
   */
  afterBatch?(): void;
  /** Stops the loop. */
  signal: AbortSignal;
  /** Journaled messages not yet finished beyond which the loop stops fetching. Default: 1000. */
  maxBacklog?: number;
  /** Longest single wait, in a back-off or at the backlog limit: the loop comes round at least this
   * often (unless a long poll is under way). Default: 10 000 ms. */
  capWaitMs?: number;
  /** Back-off after a failed journal or offset write. Default: 1000 ms, doubling to 30 s. */
  diskBackoffMs?: number;
}

/**
 * Runs the poll loop until `signal` aborts (resolves) or the token is refused (rejects with
 * {@linkcode FatalPollError}). Each iteration: reap finished handlers, beat, then fetch up to 100
 * updates, route them (each message is acknowledged and journaled), make the batch durable, and
 * hand it on. Busy brains never hold it up: messages wait in the journal, not at Telegram. Only a
 * backlog of `maxBacklog` unfinished messages makes it stop fetching until some finish.
 */
export async function runPollLoop(options: PollLoopOptions): Promise<void> {
  const {
    poller,
    dispatcher,
    intake,
    heartbeat,
    afterBatch,
    signal,
    maxBacklog = 1000,
    capWaitMs = 10_000,
    diskBackoffMs = 1000,
  } = options;
  const log = getLog("poll");
  let warnedBacklog = false;
  let diskFailures = 0;
  const diskBackoff = () => Math.min(30_000, diskBackoffMs * 2 ** (diskFailures - 1));
  while (!signal.aborted) {
    dispatcher.reap();
    // The heartbeat is written here, once per iteration, and nowhere else: it shows that this
    // loop comes round, so a stuck brain in some handler process can never make a stalled loop
    // look alive.
    try {
      heartbeat();
    } catch (error) {
      log.warn("cannot write the heartbeat: {error}", { error: String(error) });
    }
    const room = maxBacklog - intake.size;
    if (room <= 0) {
      if (!warnedBacklog) {
        log.warn(
          "backlog of {size} unfinished messages reached COORD_MAX_BACKLOG ({max}): not fetching more until some finish (Telegram keeps them for 24 h)",
          { size: intake.size, max: maxBacklog },
        );
      }
      warnedBacklog = true;
      await dispatcher.waitForExit(capWaitMs, signal);
      continue;
    }
    warnedBacklog = false;
    const backoff = poller.waitMs;
    if (backoff > 0) {
      await sleep(Math.min(backoff, capWaitMs), signal);
      continue;
    }
    const updates = await poller.next(Math.min(100, room), signal);
    if (updates.length === 0) continue;
    // The 👀 of the whole batch first, out of this process before the journal's fsyncs.
    for (const update of updates) {
      try {
        intake.acknowledge?.(update);
      } catch (error) {
        log.error("cannot acknowledge update: {error}", { error: String(error) });
      }
    }
    // Bounded: a desk that stopped reading (its pipe full) must not stall the loop; its jobs wait
    // in the desk link, and the message starts anyway after the ack's grace.
    if (intake.acksOut) await within(intake.acksOut(), ACKS_OUT_MS, signal);
    for (const update of updates) {
      try {
        intake.route(update);
      } catch (error) {
        // Not journaled: it must not be confirmed. Telegram delivers it (and those after it,
        // which the journal then recognizes) again after the back-off.
        diskFailures++;
        const id = (update as { update_id?: unknown })?.update_id;
        log.error(
          "cannot journal update {updateId} ({error}); not confirming it, retrying in {seconds} s",
          { updateId: String(id), error: String(error), seconds: diskBackoff() / 1000 },
        );
        if (typeof id === "number") poller.rewind(id, diskBackoff());
        break;
      }
    }
    while (afterBatch !== undefined && !signal.aborted) {
      try {
        afterBatch();
        break;
      } catch (error) {
        diskFailures++;
        log.error(
          "cannot record the batch as received ({error}); retrying in {seconds} s before polling again",
          { error: String(error), seconds: diskBackoff() / 1000 },
        );
        await sleep(diskBackoff(), signal);
      }
    }
    if (signal.aborted) break;
    if (poller.waitMs === 0) diskFailures = 0;
    intake.release();
  }
}
