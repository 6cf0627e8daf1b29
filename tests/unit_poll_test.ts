/**
 * Unit tests for `lib/loop/poll.ts`: `runPollLoop()` with a fake poller, dispatcher and intake
 * that record what the loop asks of them (and, where a real `Poller` is the point, one on the
 * scripted `FakeApi` of `_helpers.ts`). The `Poller` itself is `unit_poller_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type Accepted,
  type LoopDispatcher,
  type LoopIntake,
  runPollLoop,
} from "../lib/loop/poll.ts";
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

/** An intake stand-in: records and releases are recorded; `backlog` is its size. */
class FakeIntake implements LoopIntake {
  readonly events: string[];
  backlog: number;
  /** Update ids whose record() throws, as a journal that can't be written does. */
  failOn = new Set<number>();

  constructor(events: string[], backlog = 0) {
    this.events = events;
    this.backlog = backlog;
  }

  get size(): number {
    return this.backlog;
  }

  accept(updates: readonly unknown[]): Accepted[] {
    return updates.map((u) => ({ updateId: (u as { update_id: number }).update_id }));
  }

  acksOut(): Promise<void> {
    return Promise.resolve();
  }

  record({ updateId }: Accepted): void {
    this.events.push(`record ${updateId}`);
    if (this.failOn.has(updateId)) throw new Error("journal: disk full");
  }

  release(): void {
    this.events.push("release");
  }
}

/**
 * A poller that answers each call from `batches`, then aborts `controller`. A rewind is recorded
 * and asks for its delay as the next back-off.
 */
function scriptedPoller(events: string[], batches: unknown[][], controller: AbortController) {
  let backoff = { ms: 0, reads: 0 };
  return {
    get waitMs(): number {
      if (backoff.reads === 0) return 0;
      backoff.reads--;
      return backoff.ms;
    },
    next(limit: number, _signal: AbortSignal): Promise<unknown[]> {
      events.push(`next ${limit}`);
      const batch = batches.shift();
      if (batch === undefined) controller.abort();
      return Promise.resolve(batch ?? []);
    },
    rewind(updateId: number, delayMs: number): void {
      events.push(`rewind ${updateId} ${delayMs}`);
      // The back-off stands for the loop's check at the end of this iteration and at the start of
      // the next one (which waits it out), as a clock would have it.
      backoff = { ms: delayMs, reads: 2 };
    },
  };
}

Deno.test("runPollLoop() reaps, beats, journals every update in order, then makes it durable and releases it", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  await withDeadline(
    runPollLoop({
      poller: scriptedPoller(
        events,
        [[{ update_id: 1 }, { update_id: 2 }], [], [{ update_id: 3 }]],
        controller,
      ),
      dispatcher: new FakeDispatcher(events),
      intake: new FakeIntake(events),
      heartbeat: () => events.push("beat"),
      afterBatch: () => events.push("after batch"),
      signal: controller.signal,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events, [
    ...["reap", "beat", "next 100", "record 1", "record 2", "after batch", "release"],
    ...["reap", "beat", "next 100"],
    ...["reap", "beat", "next 100", "record 3", "after batch", "release"],
    ...["reap", "beat", "next 100"],
  ]);
});

Deno.test("runPollLoop() goes on fetching while every handler is busy", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  // 900 unfinished messages: brains at their cap, hundreds waiting in the journal.
  const intake = new FakeIntake(events, 900);
  await withDeadline(
    runPollLoop({
      poller: scriptedPoller(events, [[{ update_id: 1 }], [{ update_id: 2 }]], controller),
      dispatcher: new FakeDispatcher(events),
      intake,
      heartbeat: () => events.push("beat"),
      signal: controller.signal,
      maxBacklog: 1000,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events, [
    ...["reap", "beat", "next 100", "record 1", "release"],
    ...["reap", "beat", "next 100", "record 2", "release"],
    ...["reap", "beat", "next 100"],
  ]);
  assert.ok(!events.some((e) => e.startsWith("wait")), "it never waits for a handler");
});

Deno.test("runPollLoop() asks for no more updates than the backlog has room for", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  await withDeadline(
    runPollLoop({
      poller: scriptedPoller(events, [], controller),
      dispatcher: new FakeDispatcher(events),
      intake: new FakeIntake(events, 970),
      heartbeat: () => events.push("beat"),
      signal: controller.signal,
      maxBacklog: 1000,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events, ["reap", "beat", "next 30"]);
});

Deno.test("runPollLoop() stops fetching at maxBacklog with one warning, and resumes", async () => {
  await using log = await captureLog();
  const { lines } = log;
  const events: string[] = [];
  const controller = new AbortController();
  const intake = new FakeIntake(events);
  const dispatcher = new FakeDispatcher(events);
  // The backlog at each iteration: full three times, room again, full again, room again.
  const sizes = [10, 10, 12, 9, 10, 0];
  dispatcher.onReap = () => intake.backlog = sizes.shift() ?? 0;
  await withDeadline(
    runPollLoop({
      poller: scriptedPoller(events, [[{ update_id: 1 }]], controller),
      dispatcher,
      intake,
      heartbeat: () => events.push("beat"),
      signal: controller.signal,
      maxBacklog: 10,
      capWaitMs: 1234,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events, [
    ...["reap", "beat", "wait 1234"],
    ...["reap", "beat", "wait 1234"],
    ...["reap", "beat", "wait 1234"],
    ...["reap", "beat", "next 1", "record 1", "release"],
    ...["reap", "beat", "wait 1234"],
    ...["reap", "beat", "next 10"],
  ]);
  const warnings = lines.filter((l) => /COORD_MAX_BACKLOG/.test(l));
  assert.equal(warnings.length, 2, "one warning each time the limit is reached:\n" + lines);
  assert.match(warnings[0], /backlog of 10 unfinished messages reached COORD_MAX_BACKLOG \(10\)/);
});

Deno.test("runPollLoop() rewinds the poller to an update it can't journal, and stops that batch", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  const intake = new FakeIntake(events);
  intake.failOn = new Set([2, 12, 22]);
  await withDeadline(
    runPollLoop({
      poller: scriptedPoller(
        events,
        [
          [{ update_id: 1 }, { update_id: 2 }, { update_id: 3 }],
          [{ update_id: 12 }],
          [{ update_id: 13 }],
          [{ update_id: 22 }],
        ],
        controller,
      ),
      dispatcher: new FakeDispatcher(events),
      intake,
      heartbeat: () => events.push("beat"),
      afterBatch: () => events.push("after batch"),
      signal: controller.signal,
      capWaitMs: 1,
      diskBackoffMs: 100,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events, [
    // Update 3 is not journaled: it comes again with 2, after the back-off.
    ...["reap", "beat", "next 100", "record 1", "record 2", "rewind 2 100"],
    ...["after batch", "release"],
    ...["reap", "beat"], // the back-off
    ...["reap", "beat", "next 100", "record 12", "rewind 12 200", "after batch", "release"],
    ...["reap", "beat"],
    ...["reap", "beat", "next 100", "record 13", "after batch", "release"],
    // A success in between: the back-off starts over.
    ...["reap", "beat", "next 100", "record 22", "rewind 22 100", "after batch", "release"],
    ...["reap", "beat"],
    ...["reap", "beat", "next 100"],
  ]);
});

Deno.test("runPollLoop() retries a failed afterBatch after a back-off, before polling again", async (t) => {
  await t.step("it fails twice, then succeeds", async () => {
    const events: string[] = [];
    const controller = new AbortController();
    let failures = 2;
    await withDeadline(
      runPollLoop({
        poller: scriptedPoller(events, [[{ update_id: 1 }]], controller),
        dispatcher: new FakeDispatcher(events),
        intake: new FakeIntake(events),
        heartbeat: () => events.push("beat"),
        afterBatch() {
          events.push("after batch");
          if (failures-- > 0) throw new Error("offset: disk full");
        },
        signal: controller.signal,
        diskBackoffMs: 1,
      }),
      "the loop to stop",
    );
    assert.deepEqual(events, [
      ...["reap", "beat", "next 100", "record 1"],
      ...["after batch", "after batch", "after batch", "release"],
      ...["reap", "beat", "next 100"],
    ]);
  });

  await t.step("the stop signal ends its back-off, and nothing is released", async () => {
    const events: string[] = [];
    const controller = new AbortController();
    const { promise: failed, resolve } = Promise.withResolvers<void>();
    const loop = runPollLoop({
      poller: scriptedPoller(events, [[{ update_id: 1 }]], controller),
      dispatcher: new FakeDispatcher(events),
      intake: new FakeIntake(events),
      heartbeat: () => events.push("beat"),
      afterBatch() {
        events.push("after batch");
        resolve();
        throw new Error("offset: disk full");
      },
      signal: controller.signal,
      diskBackoffMs: 3_600_000,
    });
    await withDeadline(failed, "afterBatch to fail");
    assert.equal(await stillPendingAfter(loop, 50), true, "the loop is in its back-off");
    controller.abort();
    await withDeadline(loop, "the loop to stop", 2000);
    assert.deepEqual(events, ["reap", "beat", "next 100", "record 1", "after batch"]);
  });
});

/** A poller whose `waitMs` follows `waits` (then 0), and that aborts `controller` when polled. */
function backingOffPoller(events: string[], waits: number[], controller: AbortController) {
  return {
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
    runPollLoop({
      poller: backingOffPoller(events, [3_600_000, 3_600_000], controller),
      dispatcher: new FakeDispatcher(events),
      intake: new FakeIntake(events),
      heartbeat: () => events.push("beat"),
      signal: controller.signal,
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
  const loop = runPollLoop({
    poller: backingOffPoller(events, Array(10).fill(3_600_000), controller),
    dispatcher: new FakeDispatcher(events),
    intake: new FakeIntake(events),
    heartbeat: () => {
      events.push("beat");
      resolve();
    },
    signal: controller.signal,
    capWaitMs: 3_600_000,
  });
  await withDeadline(beat, "the first heartbeat");
  assert.equal(await stillPendingAfter(loop, 50), true, "the loop is in its back-off");
  controller.abort();
  await withDeadline(loop, "the loop to stop");
  assert.deepEqual(events, ["reap", "beat"]);
});

Deno.test("runPollLoop() goes on when the heartbeat throws", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  let beats = 0;
  await withDeadline(
    runPollLoop({
      poller: scriptedPoller(
        events,
        [[{ update_id: 1 }, { update_id: 2 }], [{ update_id: 3 }]],
        controller,
      ),
      dispatcher: new FakeDispatcher(events),
      intake: new FakeIntake(events),
      heartbeat() {
        beats++;
        throw new Error("disk full");
      },
      signal: controller.signal,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events.filter((e) => e.startsWith("record")), [
    "record 1",
    "record 2",
    "record 3",
  ]);
  assert.equal(beats, 3);
});

Deno.test("runPollLoop() stops when the signal aborts", async (t) => {
  await t.step("before it starts", async () => {
    const events: string[] = [];
    const controller = new AbortController();
    controller.abort();
    await runPollLoop({
      poller: scriptedPoller(events, [], controller),
      dispatcher: new FakeDispatcher(events),
      intake: new FakeIntake(events),
      heartbeat: () => events.push("beat"),
      signal: controller.signal,
    });
    assert.deepEqual(events, []);
  });

  await t.step("while polling a real Poller", async () => {
    const api = new FakeApi(["hang"]);
    const controller = new AbortController();
    const events: string[] = [];
    const loop = runPollLoop({
      poller: poller(api),
      dispatcher: new FakeDispatcher(events),
      intake: new FakeIntake(events),
      heartbeat: () => events.push("beat"),
      signal: controller.signal,
    });
    await withDeadline(api.called(1), "the first poll");
    controller.abort();
    await withDeadline(loop, "the loop to stop");
    assert.deepEqual(events, ["reap", "beat"]);
  });
});

Deno.test("runPollLoop() rejects with FatalPollError when the token is refused", async () => {
  const api = new FakeApi([apiError(401, "Unauthorized")]);
  const events: string[] = [];
  await assert.rejects(
    withDeadline(
      runPollLoop({
        poller: poller(api),
        dispatcher: new FakeDispatcher(events),
        intake: new FakeIntake(events),
        heartbeat: () => {},
        signal: new AbortController().signal,
      }),
      "the loop to fail",
    ),
    FatalPollError,
  );
});

/** An intake that also acknowledges: the 👀 of a batch go out before any of it is journaled. */
class AckingIntake extends FakeIntake {
  override accept(updates: readonly unknown[]): Accepted[] {
    const accepted = super.accept(updates);
    for (const { updateId } of accepted) this.events.push(`ack ${updateId}`);
    return accepted;
  }

  override async acksOut(): Promise<void> {
    this.events.push("acks out?");
    await Promise.resolve();
    this.events.push("acks out");
  }
}

Deno.test("runPollLoop() asks for the whole batch's 👀, and waits until they are out, before journaling any of it", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  await withDeadline(
    runPollLoop({
      poller: scriptedPoller(events, [[{ update_id: 1 }, { update_id: 2 }]], controller),
      dispatcher: new FakeDispatcher(events),
      intake: new AckingIntake(events),
      heartbeat: () => events.push("beat"),
      afterBatch: () => events.push("after batch"),
      signal: controller.signal,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events.slice(0, 11), [
    ...["reap", "beat", "next 100", "ack 1", "ack 2", "acks out?", "acks out"],
    ...["record 1", "record 2", "after batch", "release"],
  ]);
});

Deno.test("runPollLoop() goes on when the desk's pipe is full: the wait for the 👀 jobs is bounded", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  const intake = new AckingIntake(events);
  intake.acksOut = () => new Promise<void>(() => {}); // a desk that stopped reading
  await withDeadline(
    runPollLoop({
      poller: scriptedPoller(events, [[{ update_id: 1 }]], controller),
      dispatcher: new FakeDispatcher(events),
      intake,
      heartbeat: () => events.push("beat"),
      afterBatch: () => events.push("after batch"),
      signal: controller.signal,
    }),
    "the loop to stop",
    5000,
  );
  assert.deepEqual(events.slice(0, 7), [
    ...["reap", "beat", "next 100", "ack 1", "record 1", "after batch", "release"],
  ]);
});

Deno.test("runPollLoop() confirms none of a batch it could not accept, and asks for it again", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  const intake = new FakeIntake(events);
  let failures = 1;
  intake.accept = (updates) => {
    if (failures-- > 0) throw new Error("desk link broken");
    return FakeIntake.prototype.accept.call(intake, updates);
  };
  await withDeadline(
    runPollLoop({
      poller: scriptedPoller(
        events,
        [[{ update_id: 7 }, { update_id: 5 }, { update_id: "x" }], [{ update_id: 5 }]],
        controller,
      ),
      dispatcher: new FakeDispatcher(events),
      intake,
      heartbeat: () => events.push("beat"),
      afterBatch: () => events.push("after batch"),
      signal: controller.signal,
      capWaitMs: 1,
      diskBackoffMs: 100,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events.slice(0, 13), [
    // Nothing journaled; the offset written is the rewound one, so Telegram keeps them all.
    ...["reap", "beat", "next 100", "rewind 5 100", "after batch", "release"],
    ...["reap", "beat"], // the back-off
    ...["reap", "beat", "next 100", "record 5", "after batch"],
  ]);
});
