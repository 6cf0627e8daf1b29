/**
 * The poll loop: long-poll `getUpdates` (`poller.ts`), hand each batch to the scheduler, and never
 * stop for anything but a refused token or the stop signal. One iteration:
 *
 * 1. reap the handlers that ended, and beat (the heartbeat shows that this loop comes round);
 * 2. fetch up to 100 updates, unless the backlog is full or a back-off is under way;
 * 3. hand them to the scheduler (`scheduler.ts`), which acknowledges, journals and queues them;
 * 4. what the scheduler could not journal is not confirmed: the next `getUpdates` starts at it,
 *    a second later, so that the loop goes on acknowledging new messages while the disk fails.
 *
 * @module
 */

import { delay, isAbortOf } from "../shared/abort.ts";
import { getLog, type Logger } from "../shared/log.ts";
import type { Poller } from "./poller.ts";

/** The dispatcher as the loop needs it. */
export interface LoopDispatcher {
  reap(): unknown;
  /** Waits until some handler exits, at most `ms`; rejects with `signal.reason` on abort. */
  waitForExit(ms: number, signal: AbortSignal): Promise<boolean>;
}

/** The scheduler as the loop needs it: the seam the loop hands its batches over. */
export interface LoopScheduler {
  /** Updates taken and not finished (waiting, running, or with the desk). */
  readonly size: number;
  /** Takes a batch; resolves to the first update id that must not be confirmed yet, if any. */
  take(updates: readonly unknown[]): Promise<number | undefined>;
}

/** Options for {@linkcode runPollLoop}. */
export interface PollLoopOptions {
  poller: Pick<Poller, "next" | "waitMs" | "rewind" | "offset">;
  dispatcher: LoopDispatcher;
  scheduler: LoopScheduler;
  /** Records that the loop came round. */
  heartbeat(): void;
  /** Told the offset after each batch that was taken whole (to remember it for a restart). */
  afterBatch?(offset: number): void;
  /** Stops the loop. */
  signal: AbortSignal;
  /** Updates taken and not finished beyond which the loop stops fetching. Default: 1000. */
  maxBacklog?: number;
  /** Longest single wait at the backlog limit: the loop comes round at least this often (unless a
   * long poll is under way). Default: 10 000 ms. */
  capWaitMs?: number;
  /** How long the loop waits before asking again for updates the disk did not take. Default:
   * 1000 ms. */
  unconfirmedWaitMs?: number;
}

/**
 * Runs the poll loop until `signal` aborts (resolves) or the token is refused (rejects with
 * `FatalPollError`). Busy brains never hold it up: messages wait in the scheduler, not at
 * Telegram. Only a backlog of `maxBacklog` unfinished messages makes it stop fetching until some
 * finish.
 */
export async function runPollLoop(options: PollLoopOptions): Promise<void> {
  const { poller, dispatcher, scheduler, signal, maxBacklog = 1000, capWaitMs = 10_000 } = options;
  const { unconfirmedWaitMs = 1000 } = options;
  const log = getLog("poll");
  const beat = beater(options.heartbeat, log);
  let warnedBacklog = false;
  try {
    while (!signal.aborted) {
      dispatcher.reap();
      beat();
      const room = maxBacklog - scheduler.size;
      if (room <= 0) {
        if (!warnedBacklog) warnBacklog(log, { size: scheduler.size, max: maxBacklog });
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
      const unconfirmed = await scheduler.take(updates);
      if (unconfirmed !== undefined) poller.rewind(unconfirmed, unconfirmedWaitMs);
      else options.afterBatch?.(poller.offset);
    }
  } catch (error) {
    if (!isAbortOf(signal, error)) throw error;
  }
}

/**
 * The heartbeat is written here, once per iteration, and nowhere else: a stuck brain in some
 * handler process can then never make a stalled loop look alive. A failure to write it is logged
 * once, until it works again.
 */
function beater(heartbeat: () => void, log: Logger): () => void {
  let failing = false;
  return () => {
    try {
      heartbeat();
      failing = false;
    } catch (error) {
      if (!failing) log.warn("cannot write the heartbeat: {error}", { error: String(error) });
      failing = true;
    }
  };
}

function warnBacklog(log: Logger, backlog: { size: number; max: number }) {
  log.warn(
    "backlog of {size} unfinished messages reached COORD_MAX_BACKLOG ({max}): not fetching more until some finish (Telegram keeps them for 24 h)",
    backlog,
  );
}
