/**
 * Unit tests for `lib/shared/abort.ts`: `delay()`, `within()` and `isAbortOf()`. A wait that ends early must
 * leave no timer pending; Deno's sanitizers don't see a pending timer, so the tests count them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { delay, isAbortOf, within } from "../lib/shared/abort.ts";
import { trackTimers } from "./_helpers.ts";

/** Long enough that a test would time out, or the sanitizer complain, if it were waited for. */
const LONG_MS = 60_000;

Deno.test("delay() resolves once the full time has passed", async () => {
  const startedAt = performance.now();
  await delay(50);
  // What delay() promises is elapsed time: the clock is what this test must read.
  assert.ok(performance.now() - startedAt >= 45, "not before its time");
});

Deno.test("delay() rejects with the signal's reason on abort and leaves no timer behind", async (t) => {
  await t.step("a signal that aborts during the wait", async () => {
    using timers = trackTimers();
    const controller = new AbortController();
    const pending = delay(LONG_MS, { signal: controller.signal });
    assert.equal(timers.pending, 1);
    const reason = new Error("stop");
    controller.abort(reason);
    await assert.rejects(pending, (error) => error === reason);
    assert.equal(timers.pending, 0, "the timer was cleared");
  });
  await t.step("a signal already aborted", async () => {
    using timers = trackTimers();
    const signal = AbortSignal.abort();
    await assert.rejects(delay(LONG_MS, { signal }), (error) => error === signal.reason);
    assert.equal(timers.pending, 0, "no timer was set");
  });
});

Deno.test("within() gives the value when the promise settles in time, and clears its timer", async () => {
  using timers = trackTimers();
  assert.deepEqual(await within(Promise.resolve(42), LONG_MS), { settled: true, value: 42 });
  const controller = new AbortController();
  assert.deepEqual(await within(Promise.resolve("x"), LONG_MS, { signal: controller.signal }), {
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

Deno.test("within() rejects with the signal's reason as soon as it aborts, and clears its timer", async (t) => {
  await t.step("during the wait", async () => {
    using timers = trackTimers();
    const controller = new AbortController();
    const pending = within(new Promise<number>(() => {}), LONG_MS, { signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, (error) => error === controller.signal.reason);
    assert.equal(timers.pending, 0, "no timer left pending");
  });
  // A signal that aborted before the wait fires no more events: within() must see it at once.
  await t.step("before the wait", async () => {
    using timers = trackTimers();
    const signal = AbortSignal.abort();
    const pending = within(new Promise<number>(() => {}), LONG_MS, { signal });
    await assert.rejects(pending, (error) => error === signal.reason);
    assert.equal(timers.pending, 0, "no timer left pending");
  });
});

Deno.test("within() passes on the promise's rejection", async () => {
  await assert.rejects(within(Promise.reject(new Error("boom")), LONG_MS), /boom/);
});

Deno.test("isAbortOf() knows the signal's own reason from any other error", () => {
  const controller = new AbortController();
  const reason = new Error("stop");
  assert.equal(isAbortOf(controller.signal, reason), false, "not aborted yet");
  controller.abort(reason);
  assert.equal(isAbortOf(controller.signal, reason), true);
  assert.equal(isAbortOf(controller.signal, new Error("stop")), false, "another error");
  assert.equal(isAbortOf(undefined, reason), false, "no signal");
});
