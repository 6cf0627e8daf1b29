/**
 * The one back-off rule of the bot: after `failures` failures in a row, wait `baseMs` doubling
 * with each, at most `maxMs`. With `random`, "equal jitter": somewhere between half and all of it,
 * so that retries spread out and a flapping peer is still never hammered.
 *
 * @module
 */

/** The shape of a back-off. */
export interface Backoff {
  baseMs: number;
  maxMs: number;
  /** Randomness in [0, 1) for the jitter; none when left out. */
  random?: () => number;
}

/** The wait after `failures` failures in a row (0 after none), in ms. */
export function backoffMs(failures: number, backoff: Backoff): number {
  if (failures <= 0) return 0;
  const full = Math.min(backoff.maxMs, backoff.baseMs * 2 ** (failures - 1));
  return backoff.random ? full / 2 + backoff.random() * full / 2 : full;
}
