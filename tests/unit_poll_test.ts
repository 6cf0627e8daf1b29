/**
 * Unit tests for `lib/loop/poll.ts`: `runPollLoop()` with a fake poller, dispatcher and scheduler
 * that record what the loop asks of them (and, where a real `Poller` is the point, one on the
 * scripted `FakeApi` of `_helpers.ts`). The `Poller` itself is `unit_poller_test.ts`; what the
 * scheduler does with a batch, `unit_scheduler_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type LoopDispatcher, type LoopScheduler, runPollLoop } from "../lib/loop/poll.ts";
import { FatalPollError, Poller } from "../lib/loop/poller.ts";
import type { Api } from "../lib/shared/telegram.ts";
import { apiError, captureLog, FakeApi, withDeadline } from "./_helpers.ts";

/** A real `Poller` on the fake `getUpdates`. */
function poller(api: FakeApi): Poller {
  return new Poller({ api: api as unknown as Api, timeoutS: 30 });
}

/** True when `promise` is still pending after `ms`. */
async function stillPendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = Symbol("pending");
  const winner = await Promise.race([
    promise.then(() => null, () => null),
    new Promise((resolve) => timer = setTimeout(() => resolve(pending), ms)),
  ]);
  clearTimeout(timer);
  return winner === pending;
}

/** A dispatcher stand-in recording what the loop asks of it. */
class FakeDispatcher implements LoopDispatcher {
  readonly events: string[];
  /** Called at each reap, i.e. once per iteration of the loop. */
  onReap?: () => void;

  constructor(events: string[]) {
    this.events = events;
  }

  reap(): void {
    this.events.push("reap");
    this.onReap?.();
  }

  waitForExit(ms: number, signal: AbortSignal): Promise<boolean> {
    this.events.push(`wait ${ms}${signal.aborted ? " aborted" : ""}`);
    return Promise.resolve(true);
  }
}

/**
 * A scheduler stand-in: each batch taken is recorded; `unconfirmed` says, by the batch's first
 * update id, which update id it could not journal; `backlog` is its size.
 */
class FakeScheduler implements LoopScheduler {
  readonly events: string[];
  backlog: number;
  unconfirmed = new Map<number, number>();

  constructor(events: string[], backlog = 0) {
    this.events = events;
    this.backlog = backlog;
  }

  get size(): number {
    return this.backlog;
  }

  take(updates: readonly unknown[]): Promise<number | undefined> {
    const ids = updates.map((u) => (u as { update_id: number }).update_id);
    this.events.push(`take ${ids.join(",")}`);
    return Promise.resolve(this.unconfirmed.get(ids[0]));
  }
}

/**
 * A poller that answers each call from `batches`, then aborts `controller`; its offset follows
 * the last update of a batch. A rewind is recorded and asks for its delay as the next back-off.
 */
function scriptedPoller(events: string[], batches: unknown[][], controller: AbortController) {
  let backoff = { ms: 0, reads: 0 };
  let offset = 0;
  return {
    get offset(): number {
      return offset;
    },
    get waitMs(): number {
      if (backoff.reads === 0) return 0;
      backoff.reads--;
      return backoff.ms;
    },
    next(limit: number, _signal: AbortSignal): Promise<unknown[]> {
      events.push(`next ${limit}`);
      const batch = batches.shift();
      if (batch === undefined) controller.abort();
      const last = batch?.at(-1) as { update_id: number } | undefined;
      if (last !== undefined) offset = last.update_id + 1;
      return Promise.resolve(batch ?? []);
    },
    rewind(updateId: number, delayMs: number): void {
      events.push(`rewind ${updateId} ${delayMs}`);
      // The back-off stands for the loop's check at the start of the next iteration, which waits
      // it out, as a clock would have it.
      backoff = { ms: delayMs, reads: 1 };
    },
  };
}

/** The loop's options, its fakes recording into `events`, with `options` on top. */
function loop(
  events: string[],
  controller: AbortController,
  options: Partial<Parameters<typeof runPollLoop>[0]> & { batches?: unknown[][] } = {},
) {
  const { batches = [], ...rest } = options;
  return runPollLoop({
    poller: scriptedPoller(events, batches, controller),
    dispatcher: new FakeDispatcher(events),
    scheduler: new FakeScheduler(events),
    heartbeat: () => events.push("beat"),
    afterBatch: (offset) => events.push(`after batch ${offset}`),
    signal: controller.signal,
    ...rest,
  });
}

Deno.test("runPollLoop() reaps, beats, hands each batch whole to the scheduler, then remembers the offset", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  await withDeadline(
    loop(events, controller, {
      batches: [[{ update_id: 1 }, { update_id: 2 }], [], [{ update_id: 3 }]],
    }),
    "the loop to stop",
  );
  assert.deepEqual(events, [
    ...["reap", "beat", "next 100", "take 1,2", "after batch 3"],
    ...["reap", "beat", "next 100"],
    ...["reap", "beat", "next 100", "take 3", "after batch 4"],
    ...["reap", "beat", "next 100"],
  ]);
});

Deno.test("runPollLoop() goes on fetching while every handler is busy", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  // 900 unfinished messages: brains at their cap, hundreds waiting in the scheduler.
  await withDeadline(
    loop(events, controller, {
      batches: [[{ update_id: 1 }], [{ update_id: 2 }]],
      scheduler: new FakeScheduler(events, 900),
      afterBatch: undefined,
      maxBacklog: 1000,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events, [
    ...["reap", "beat", "next 100", "take 1"],
    ...["reap", "beat", "next 100", "take 2"],
    ...["reap", "beat", "next 100"],
  ]);
  assert.ok(!events.some((e) => e.startsWith("wait")), "it never waits for a handler");
});

Deno.test("runPollLoop() asks for no more updates than the backlog has room for", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  await withDeadline(
    loop(events, controller, { scheduler: new FakeScheduler(events, 970), maxBacklog: 1000 }),
    "the loop to stop",
  );
  assert.deepEqual(events, ["reap", "beat", "next 30"]);
});

Deno.test("runPollLoop() stops fetching at maxBacklog with one warning, and resumes", async () => {
  await using log = await captureLog();
  const { lines } = log;
  const events: string[] = [];
  const controller = new AbortController();
  const scheduler = new FakeScheduler(events);
  const dispatcher = new FakeDispatcher(events);
  // The backlog at each iteration: full three times, room again, full again, room again.
  const sizes = [10, 10, 12, 9, 10, 0];
  dispatcher.onReap = () => scheduler.backlog = sizes.shift() ?? 0;
  await withDeadline(
    loop(events, controller, {
      batches: [[{ update_id: 1 }]],
      scheduler,
      dispatcher,
      afterBatch: undefined,
      maxBacklog: 10,
      capWaitMs: 1234,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events, [
    ...["reap", "beat", "wait 1234"],
    ...["reap", "beat", "wait 1234"],
    ...["reap", "beat", "wait 1234"],
    ...["reap", "beat", "next 1", "take 1"],
    ...["reap", "beat", "wait 1234"],
    ...["reap", "beat", "next 10"],
  ]);
  const warnings = lines.filter((l) => /COORD_MAX_BACKLOG/.test(l));
  assert.equal(warnings.length, 2, "one warning each time the limit is reached:\n" + lines);
  assert.match(warnings[0], /backlog of 10 unfinished messages reached COORD_MAX_BACKLOG \(10\)/);
});

Deno.test("runPollLoop() confirms nothing from an update the scheduler could not journal: it asks again a moment later", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  const scheduler = new FakeScheduler(events);
  // Batch 1: update 2 can't be journaled (nor what follows it); then the disk takes it.
  scheduler.unconfirmed.set(1, 2);
  await withDeadline(
    loop(events, controller, {
      batches: [[{ update_id: 1 }, { update_id: 2 }, { update_id: 3 }], [{ update_id: 2 }]],
      scheduler,
      capWaitMs: 1,
      unconfirmedWaitMs: 250,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events, [
    // No offset is remembered for a batch not taken whole.
    ...["reap", "beat", "next 100", "take 1,2,3", "rewind 2 250"],
    ...["reap", "beat"], // the wait before asking again
    ...["reap", "beat", "next 100", "take 2", "after batch 3"],
    ...["reap", "beat", "next 100"],
  ]);
});

Deno.test("runPollLoop() with a real Poller: the next getUpdates starts at the unconfirmed update, after the wait", async () => {
  const api = new FakeApi([[{ update_id: 5 }, { update_id: 6 }, { update_id: 7 }], "hang"]);
  const events: string[] = [];
  const controller = new AbortController();
  const scheduler = new FakeScheduler(events);
  scheduler.unconfirmed.set(5, 6);
  const running = runPollLoop({
    poller: poller(api),
    dispatcher: new FakeDispatcher(events),
    scheduler,
    heartbeat: () => {},
    afterBatch: (offset) => events.push(`after batch ${offset}`),
    signal: controller.signal,
    capWaitMs: 5,
    unconfirmedWaitMs: 20,
  });
  await withDeadline(api.called(2), "the second poll");
  controller.abort();
  await withDeadline(running, "the loop to stop");
  assert.deepEqual(api.calls.map((c) => c.params.offset), [0, 6]);
  assert.deepEqual(events.filter((e) => !e.startsWith("reap")), ["take 5,6,7"]);
});

/** A poller whose `waitMs` follows `waits` (then 0), and that aborts `controller` when polled. */
function backingOffPoller(events: string[], waits: number[], controller: AbortController) {
  return {
    offset: 0,
    get waitMs(): number {
      return waits.shift() ?? 0;
    },
    next(limit: number, _signal: AbortSignal): Promise<unknown[]> {
      events.push(`next ${limit}`);
      controller.abort();
      return Promise.resolve([]);
    },
    rewind(): void {
      throw new Error("not expected");
    },
  };
}

Deno.test("runPollLoop() waits out a back-off, coming round at least every capWaitMs", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  await withDeadline(
    loop(events, controller, {
      poller: backingOffPoller(events, [3_600_000, 3_600_000], controller),
      capWaitMs: 20,
    }),
    "the loop to come round three times",
  );
  assert.deepEqual(events, ["reap", "beat", "reap", "beat", "reap", "beat", "next 100"]);
});

Deno.test("runPollLoop() stops during a back-off when the signal aborts", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  const { promise: beat, resolve } = Promise.withResolvers<void>();
  const running = loop(events, controller, {
    poller: backingOffPoller(events, Array(10).fill(3_600_000), controller),
    heartbeat: () => {
      events.push("beat");
      resolve();
    },
    capWaitMs: 3_600_000,
  });
  await withDeadline(beat, "the first heartbeat");
  assert.equal(await stillPendingAfter(running, 50), true, "the loop is in its back-off");
  controller.abort();
  await withDeadline(running, "the loop to stop");
  assert.deepEqual(events, ["reap", "beat"]);
});

Deno.test("runPollLoop() goes on when the heartbeat throws, and says so once until it works again", async () => {
  await using log = await captureLog();
  const events: string[] = [];
  const controller = new AbortController();
  const beats = [false, false, true, false];
  await withDeadline(
    loop(events, controller, {
      batches: [[{ update_id: 1 }, { update_id: 2 }], [{ update_id: 3 }], [{ update_id: 4 }]],
      heartbeat() {
        if (!beats.shift()) throw new Error("disk full");
      },
      afterBatch: undefined,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events.filter((e) => e.startsWith("take")), ["take 1,2", "take 3", "take 4"]);
  const warnings = log.lines.filter((l) => /cannot write the heartbeat/.test(l));
  assert.equal(warnings.length, 2, "once per failing spell:\n" + log.lines.join(""));
});

Deno.test("runPollLoop() stops when the signal aborts", async (t) => {
  await t.step("before it starts", async () => {
    const events: string[] = [];
    const controller = new AbortController();
    controller.abort();
    await loop(events, controller);
    assert.deepEqual(events, []);
  });

  await t.step("while polling a real Poller", async () => {
    const api = new FakeApi(["hang"]);
    const controller = new AbortController();
    const events: string[] = [];
    const running = loop(events, controller, { poller: poller(api) });
    await withDeadline(api.called(1), "the first poll");
    controller.abort();
    await withDeadline(running, "the loop to stop");
    assert.deepEqual(events, ["reap", "beat"]);
  });
});

Deno.test("runPollLoop() rejects with FatalPollError when the token is refused", async () => {
  const api = new FakeApi([apiError(401, "Unauthorized")]);
  await assert.rejects(
    withDeadline(
      loop([], new AbortController(), { poller: poller(api), heartbeat: () => {} }),
      "the loop to fail",
    ),
    FatalPollError,
  );
});
