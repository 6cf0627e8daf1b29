/**
 * The poll loop: long-poll `getUpdates` (`poller.ts`), hand each batch to the intake, and never
 * stop for anything but a revoked token or the stop signal. One iteration:
 *
 * 1. reap the handlers that ended, and beat (the heartbeat shows that this loop comes round);
 * 2. fetch up to 100 updates, unless the backlog is full or a back-off is under way;
 * 3. accept the batch: the intake sorts it and asks the desk for each message's 👀, no disk yet;
 * 4. journal it, then write the offset: from then on Telegram may forget it;
 * 5. release it: messages join their chats' queues, commands and edits go to the desk.
 *
 * @module
 */

import { delay, isAbortOf, within } from "../shared/abort.ts";
import { backoffMs } from "../shared/backoff.ts";
import { getLog, type Logger } from "../shared/log.ts";
import type { Poller } from "./poller.ts";

/** The longest the loop lets a batch's 👀 jobs take to reach the desk before it journals. */
const ACKS_OUT_MS = 100;

/** The dispatcher as the loop needs it. */
export interface LoopDispatcher {
  reap(): unknown;
  /** Waits until some handler exits, at most `ms`; rejects with `signal.reason` on abort. */
  waitForExit(ms: number, signal: AbortSignal): Promise<boolean>;
}

/** An update of a batch that the intake keeps, to be journaled. */
export interface Accepted {
  readonly updateId: number;
}

/** Where updates go, as the loop needs it (see `Intake`). */
export interface LoopIntake<A extends Accepted = Accepted> {
  /** Journaled messages not yet finished (waiting, running, or with the desk). */
  readonly size: number;
  /**
   * Sorts a batch (logging what it skips) and asks the desk for the 👀 of each new message, with
   * no disk on the way; returns what is to be journaled, in order.
   */
  accept(updates: readonly unknown[]): A[];
  /** Resolves once the acknowledgements asked for are on their way. */
  acksOut(): Promise<void>;
  /** Journals one accepted update. Throws when the journal can't be written. */
  record(accepted: A): void;
  /** Hands on what was recorded since the last call (the batch is confirmed durable by then). */
  release(): void;
}

/** Options for {@linkcode runPollLoop}. */
export interface PollLoopOptions<A extends Accepted = Accepted> {
  poller: Pick<Poller, "next" | "waitMs" | "rewind">;
  dispatcher: LoopDispatcher;
  intake: LoopIntake<A>;
  /** Records that the loop came round. */
  heartbeat(): void;
  /**
   * Called after each batch of updates has been journaled, to make it durable (the offset);
   * throws when it can't, and is then called again after a back-off before anything else happens.
   */
  afterBatch?(): void;
  /** Stops the loop. */
  signal: AbortSignal;
  /** Journaled messages not yet finished beyond which the loop stops fetching. Default: 1000. */
  maxBacklog?: number;
  /** Longest single wait, in a back-off or at the backlog limit: the loop comes round at least this
   * often (unless a long poll is under way). Default: 10 000 ms. */
  capWaitMs?: number;
  /** Back-off after a batch could not be taken in (accepted, journaled, its offset written).
   * Default: 1000 ms, doubling to 30 s. */
  diskBackoffMs?: number;
}

/**
 * Runs the poll loop until `signal` aborts (resolves) or the token is refused (rejects with
 * `FatalPollError`). Busy brains never hold it up: messages wait in the journal, not at
 * Telegram. Only a backlog of `maxBacklog` unfinished messages makes it stop fetching until some
 * finish.
 */
export async function runPollLoop<A extends Accepted>(options: PollLoopOptions<A>): Promise<void> {
  const { poller, dispatcher, intake, signal, maxBacklog = 1000, capWaitMs = 10_000 } = options;
  const log = getLog("poll");
  const trouble = new TakeTrouble(options.diskBackoffMs ?? 1000);
  const batch: Batch<A> = { intake, poller, trouble, log };
  let warnedBacklog = false;
  try {
    while (!signal.aborted) {
      dispatcher.reap();
      beat(options.heartbeat, log);
      const room = maxBacklog - intake.size;
      if (room <= 0) {
        if (!warnedBacklog) warnBacklog(log, { size: intake.size, max: maxBacklog });
        warnedBacklog = true;
        await dispatcher.waitForExit(capWaitMs, signal);
        continue;
      }
      warnedBacklog = false;
      const waitMs = poller.waitMs;
      if (waitMs > 0) {
        await delay(Math.min(waitMs, capWaitMs), { signal });
        continue;
      }
      const updates = await poller.next(Math.min(100, room), signal);
      if (updates.length === 0) continue;
      const accepted = acceptBatch(batch, updates);
      // Bounded: a desk that stopped reading (its pipe full) must not stall the loop; its jobs
      // wait in the desk link, and the message starts anyway after the ack's grace. Not cut short
      // by a stop: the batch is journaled either way.
      await within(intake.acksOut(), ACKS_OUT_MS);
      recordBatch(batch, accepted);
      await makeDurable(batch, { afterBatch: options.afterBatch, signal });
      if (signal.aborted) break;
      if (poller.waitMs === 0) trouble.recovered();
      intake.release();
    }
  } catch (error) {
    if (!isAbortOf(signal, error)) throw error;
  }
}

/** The heartbeat is written here, once per iteration, and nowhere else: a stuck brain in some
 * handler process can then never make a stalled loop look alive. */
function beat(heartbeat: () => void, log: Logger) {
  try {
    heartbeat();
  } catch (error) {
    log.warn("cannot write the heartbeat: {error}", { error: String(error) });
  }
}

function warnBacklog(log: Logger, backlog: { size: number; max: number }) {
  log.warn(
    "backlog of {size} unfinished messages reached COORD_MAX_BACKLOG ({max}): not fetching more until some finish (Telegram keeps them for 24 h)",
    backlog,
  );
}

/** What taking a batch in needs. */
interface Batch<A extends Accepted> {
  intake: LoopIntake<A>;
  poller: Pick<Poller, "rewind">;
  trouble: TakeTrouble;
  log: Logger;
}

/**
 * The 👀 of the whole batch first, out of this process before the journal's fsyncs. Should that
 * fail, none of the batch is confirmed: Telegram is asked for it again after the back-off.
 */
function acceptBatch<A extends Accepted>(batch: Batch<A>, updates: readonly unknown[]): A[] {
  const { intake, poller, trouble, log } = batch;
  try {
    return intake.accept(updates);
  } catch (error) {
    const ms = trouble.failed();
    const ids = updates.map((u) => (u as { update_id?: unknown })?.update_id)
      .filter((id): id is number => Number.isSafeInteger(id));
    log.error("cannot take a batch ({error}); not confirming it, retrying in {seconds} s", {
      error: String(error),
      seconds: ms / 1000,
    });
    if (ids.length > 0) poller.rewind(Math.min(...ids), ms);
    return [];
  }
}

/**
 * Journals the accepted updates in order. At the first that can't be written, stops: it and those
 * after it must not be confirmed, so Telegram is asked for them again after the back-off (the
 * journal then recognizes those it has).
 */
function recordBatch<A extends Accepted>(batch: Batch<A>, accepted: readonly A[]) {
  const { intake, poller, trouble, log } = batch;
  for (const item of accepted) {
    try {
      intake.record(item);
    } catch (error) {
      const ms = trouble.failed();
      log.error(
        "cannot journal update {updateId} ({error}); not confirming it, retrying in {seconds} s",
        { updateId: item.updateId, error: String(error), seconds: ms / 1000 },
      );
      poller.rewind(item.updateId, ms);
      return;
    }
  }
}

/** Calls `afterBatch` until it succeeds, with a back-off; only a stop ends the retries. */
async function makeDurable<A extends Accepted>(
  { trouble, log }: Batch<A>,
  { afterBatch, signal }: Pick<PollLoopOptions<A>, "afterBatch" | "signal">,
) {
  while (afterBatch !== undefined && !signal.aborted) {
    try {
      afterBatch();
      return;
    } catch (error) {
      const ms = trouble.failed();
      log.error(
        "cannot record the batch as received ({error}); retrying in {seconds} s before polling again",
        { error: String(error), seconds: ms / 1000 },
      );
      await delay(ms, { signal });
    }
  }
}

/** Failures to take a batch in (accept it, journal it, write the offset) in a row, and the
 * back-off they ask for. */
class TakeTrouble {
  #baseMs: number;
  #failures = 0;

  constructor(baseMs: number) {
    this.#baseMs = baseMs;
  }

  /** Counts a failure; the back-off it asks for, in ms (doubling, at most 30 s). */
  failed(): number {
    this.#failures++;
    return backoffMs(this.#failures, { baseMs: this.#baseMs, maxMs: 30_000 });
  }

  recovered() {
    this.#failures = 0;
  }
}
