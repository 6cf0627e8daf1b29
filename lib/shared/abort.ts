/**
 * Waiting that honours an `AbortSignal` and never leaves a timer behind, in the style of Deno std's
 * `delay` and `deadline`: a wait that is aborted rejects with the signal's `reason`, so that a stop
 * travels up like any other exception until it reaches the code that owns the signal, which ends
 * quietly with {@linkcode isAbortOf}:
 *
 * ```ts
 * try {
 *   await work(signal);
 * } catch (error) {
 *   if (!isAbortOf(signal, error)) throw error;
 * }
 * ```
 *
 * Running out of time is not a failure here: {@linkcode within} says whether the promise settled.
 *
 * @module
 */

/** The options of a wait. */
export interface WaitOptions {
  /** Ends the wait early: it then rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Resolves after `ms` milliseconds; rejects with `signal.reason` as soon as `signal` aborts (at
 * once if it has already), clearing its timer.
 */
export function delay(ms: number, options: WaitOptions = {}): Promise<void> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** What {@linkcode within} saw first. */
export type Within<T> = { settled: true; value: T } | { settled: false };

/**
 * Waits for `promise` at most `ms` milliseconds. Resolves with its value, or `{ settled: false }`
 * at the deadline; rejects with the promise's rejection, or with `signal.reason` when `signal`
 * aborts first. The timer is cleared either way, so a won race leaves nothing pending.
 */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  options: WaitOptions = {},
): Promise<Within<T>> {
  const { signal } = options;
  const timeUp = new AbortController();
  try {
    return await Promise.race([
      promise.then((value): Within<T> => ({ settled: true, value })),
      delay(ms, { signal: AbortSignal.any([timeUp.signal, ...(signal ? [signal] : [])]) }).then(
        (): Within<T> => ({ settled: false }),
      ),
    ]);
  } finally {
    // Clears the timer of a race the promise won; the losing delay's rejection is nobody's.
    timeUp.abort();
  }
}

/**
 * True when `error` is the reason `signal` was aborted with: the stop its owner asked for, not a
 * failure. Anything else (including a different error thrown during the stop) is a failure.
 */
export function isAbortOf(signal: AbortSignal | undefined, error: unknown): boolean {
  return signal?.aborted === true && error === signal.reason;
}
