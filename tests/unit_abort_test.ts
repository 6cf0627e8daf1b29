/**
 * Unit tests for `lib/shared/abort.ts`: `sleep()` and `within()`. A wait that ends early must
 * leave no timer pending; Deno's sanitizers don't see a pending timer, so the tests count them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sleep, within } from "../lib/shared/abort.ts";

/** Long enough that a test would time out, or the sanitizer complain, if it were waited for. */
const LONG_MS = 60_000;

/** Counts the timers set and not yet cleared (or fired) while it is in use. */
function trackTimers(): { readonly pending: number } & Disposable {
  const { setTimeout: set, clearTimeout: clear } = globalThis;
  const pending = new Set<ReturnType<typeof setTimeout>>();
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    const id = set(() => {
      pending.delete(id);
      fn();
    }, ms);
    pending.add(id);
    return id;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((id?: ReturnType<typeof setTimeout>) => {
    if (id !== undefined) pending.delete(id);
    clear(id);
  }) as typeof clearTimeout;
  return {
    get pending() {
      return pending.size;
    },
    [Symbol.dispose]() {
      globalThis.setTimeout = set;
      globalThis.clearTimeout = clear;
      // A test that failed must not leave its long timers running.
      for (const id of pending) clear(id);
    },
  };
}

Deno.test("sleep() resolves true once the full time has passed", async () => {
  const startedAt = performance.now();
  assert.equal(await sleep(50), true);
  assert.ok(performance.now() - startedAt >= 45, "not before its time");
});

Deno.test("sleep() resolves false on abort and leaves no timer behind", async (t) => {
  await t.step("a signal that aborts during the sleep", async () => {
    using timers = trackTimers();
    const controller = new AbortController();
    const pending = sleep(LONG_MS, controller.signal);
    assert.equal(timers.pending, 1);
    controller.abort();
    assert.equal(await pending, false);
    assert.equal(timers.pending, 0, "the timer was cleared");
  });
  await t.step("a signal already aborted", async () => {
    assert.equal(await sleep(LONG_MS, AbortSignal.abort()), false);
  });
});

Deno.test("within() gives the value when the promise settles in time, and clears its timer", async () => {
  using timers = trackTimers();
  assert.deepEqual(await within(Promise.resolve(42), LONG_MS), { settled: true, value: 42 });
  const controller = new AbortController();
  assert.deepEqual(await within(Promise.resolve("x"), LONG_MS, controller.signal), {
    settled: true,
    value: "x",
  });
  assert.equal(timers.pending, 0, "no timer left pending");
});

Deno.test("within() gives up at its deadline", async () => {
  const never = new Promise<number>(() => {});
  const startedAt = performance.now();
  assert.deepEqual(await within(never, 50), { settled: false });
  assert.ok(performance.now() - startedAt >= 45, "not before its deadline");
});

Deno.test("within() gives up as soon as the signal aborts, and clears its timer", async (t) => {
  await t.step("during the wait", async () => {
    using timers = trackTimers();
    const controller = new AbortController();
    const pending = within(new Promise<number>(() => {}), LONG_MS, controller.signal);
    controller.abort();
    assert.deepEqual(await pending, { settled: false });
    assert.equal(timers.pending, 0, "no timer left pending");
  });
  // A signal that aborted before the wait fires no more events: within() must see it at once.
  await t.step({
    name: "before the wait",
    async fn() {
      const startedAt = performance.now();
      const pending = within(new Promise<number>(() => {}), 2000, AbortSignal.abort());
      assert.deepEqual(await pending, { settled: false });
      assert.ok(performance.now() - startedAt < 1000, "it did not wait for its deadline");
    },
  });
});

Deno.test("within() passes on the promise's rejection", async () => {
  await assert.rejects(within(Promise.reject(new Error("boom")), LONG_MS), /boom/);
});
