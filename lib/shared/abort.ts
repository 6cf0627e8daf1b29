/**
 * Waiting that honours an `AbortSignal` and never leaves a timer behind.
 *
 * @module
 */

/**
 * Resolves after `ms` milliseconds, or as soon as `signal` aborts (without throwing: the caller
 * checks `signal.aborted`). Resolves `true` when the full time passed.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** What {@linkcode within} saw first. */
export type Within<T> = { settled: true; value: T } | { settled: false };

/**
 * Waits for `promise` at most `ms` milliseconds (less if `signal` aborts). The timer is cleared
 * either way, so a won race leaves nothing pending.
 */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  signal?: AbortSignal,
): Promise<Within<T>> {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  // A signal that has aborted already fires no more events: stop at once.
  if (signal?.aborted) stop.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([
      promise.then((value): Within<T> => ({ settled: true, value })),
      sleep(ms, stop.signal).then((): Within<T> => ({ settled: false })),
    ]);
  } finally {
    stop.abort();
    signal?.removeEventListener("abort", onAbort);
  }
}
