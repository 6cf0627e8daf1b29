/**
 * Unit tests for `lib/loop/poller.ts` and `lib/loop/poll.ts`: the `Poller` against a scripted fake `Api`, and `runPollLoop()`
 * with a fake poller and dispatcher.
 *
 * @module
 */

import assert from "node:assert/strict";
import { reset } from "@logtape/logtape";
import { setupLogging } from "../lib/shared/log.ts";
import {
  type Accepted,
  type LoopDispatcher,
  type LoopIntake,
  runPollLoop,
} from "../lib/loop/poll.ts";
import { FatalPollError, Poller, type PollerOptions } from "../lib/loop/poller.ts";
import { type Api, GrammyError, HttpError } from "../lib/shared/telegram.ts";
import { withDeadline } from "./_helpers.ts";

/** One scripted answer of the fake `getUpdates`: updates, an error to throw, or "hang". */
type Step = unknown[] | Error | "hang" | { answer: unknown };

interface Call {
  params: { offset: number; limit: number; timeout: number; allowed_updates: string[] };
  signal: AbortSignal;
}

/** A Bot API stand-in whose `getUpdates` follows a script, recording every call. */
class FakeApi {
  readonly calls: Call[] = [];
  #script: Step[];
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(script: Step[]) {
    this.#script = [...script];
  }

  getUpdates(params: Call["params"], signal: AbortSignal): Promise<unknown> {
    this.calls.push({ params, signal });
    for (const waiter of this.#waiters) if (this.calls.length >= waiter.count) waiter.resolve();
    const step = this.#script.shift() ?? "hang";
    if (step === "hang") {
      // Like fetch: pending until its signal aborts.
      return new Promise((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    if (step instanceof Error) return Promise.reject(step);
    if (Array.isArray(step)) return Promise.resolve(step);
    return Promise.resolve(step.answer);
  }

  /** Resolves once `count` calls have come in. */
  called(count: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ count, resolve });
    if (this.calls.length >= count) resolve();
    return promise;
  }
}

/** A clock that moves only when told. */
class FakeClock {
  #ms = 1_000_000;
  readonly now = () => this.#ms;
  advance(ms: number): void {
    this.#ms += ms;
  }
}

function poller(api: FakeApi, options: Partial<PollerOptions> = {}): Poller {
  return new Poller({
    api: api as unknown as Api,
    timeoutS: 30,
    backoffBaseMs: 1,
    backoffMaxMs: 1,
    random: () => 0,
    ...options,
  });
}

function apiError(code: number, description: string, parameters = {}): GrammyError {
  return new GrammyError(
    `Call to 'getUpdates' failed! (${code}: ${description})`,
    { ok: false, error_code: code, description, parameters },
    "getUpdates",
    {},
  );
}

const NETWORK_ERROR = new HttpError(
  "Network request for 'getUpdates' failed!",
  new TypeError("error sending request for url (https://api.telegram.org/bot1:x/getUpdates)"),
);

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

Deno.test("Poller.next() asks for messages from the current offset, the first time without waiting", async () => {
  const api = new FakeApi([[{ update_id: 5 }, { update_id: 3 }, { update_id: 7 }], []]);
  const p = poller(api, { timeoutS: 25 });
  const signal = new AbortController().signal;

  assert.deepEqual(await p.next(4, signal), [{ update_id: 5 }, { update_id: 3 }, { update_id: 7 }]);
  assert.equal(p.offset, 8);
  assert.deepEqual(await p.next(4, signal), []);
  const allowed = ["message", "edited_message", "callback_query", "stopped_message_generation"];
  assert.deepEqual(api.calls.map((c) => c.params), [
    { offset: 0, limit: 4, timeout: 0, allowed_updates: allowed },
    { offset: 8, limit: 4, timeout: 25, allowed_updates: allowed },
  ]);
});

Deno.test("Poller starts from the offset it is given", async () => {
  const api = new FakeApi([[{ update_id: 50 }, { update_id: 51 }]]);
  const p = poller(api, { offset: 50 });
  assert.equal(p.offset, 50);
  await p.next(1, new AbortController().signal);
  assert.equal(api.calls[0].params.offset, 50);
  assert.equal(p.offset, 52);
});

Deno.test("Poller.next() moves the offset only past well-formed update ids", async () => {
  const api = new FakeApi([[{ update_id: 10 }], [{ update_id: "99" }, null, 42, { update_id: 4 }]]);
  const p = poller(api);
  const signal = new AbortController().signal;
  await p.next(10, signal);
  const odd = await p.next(10, signal);
  assert.equal(odd.length, 4, "every update is handed on, even malformed ones");
  assert.equal(p.offset, 11);
});

Deno.test("Poller.next() asks for between 1 and 100 updates", async () => {
  const api = new FakeApi([[], [], [], [], []]);
  const p = poller(api);
  const signal = new AbortController().signal;
  for (const limit of [0, -3, 1, 42, 1000]) await p.next(limit, signal);
  assert.deepEqual(api.calls.map((c) => c.params.limit), [1, 1, 1, 42, 100]);
});

Deno.test("Poller.next() sends the update kinds asked for", async () => {
  const api = new FakeApi([[]]);
  await poller(api, { allowedUpdates: ["message", "callback_query"] })
    .next(1, new AbortController().signal);
  assert.deepEqual(api.calls[0].params.allowed_updates, ["message", "callback_query"]);
});

Deno.test("Poller.next() ignores an answer that is not a list", async () => {
  const api = new FakeApi([{ answer: { ok: true } }]);
  const p = poller(api);
  assert.deepEqual(await p.next(1, new AbortController().signal), []);
  assert.equal(p.offset, 0);
});

Deno.test("Poller.next() throws FatalPollError when the token is refused", async () => {
  const api = new FakeApi([apiError(401, "Unauthorized")]);
  await assert.rejects(
    poller(api).next(1, new AbortController().signal),
    (error) => error instanceof FatalPollError && /401 Unauthorized/.test(error.message),
  );
});

Deno.test("Poller.next() returns at once after a transient failure and asks to back off", async (t) => {
  const cases: [string, Error][] = [
    ["a network error", NETWORK_ERROR],
    ["a conflict", apiError(409, "Conflict: terminated by other getUpdates request")],
    ["a server error", apiError(502, "Bad Gateway")],
    ["a 429 without retry_after", apiError(429, "Too Many Requests")],
  ];
  for (const [name, error] of cases) {
    await t.step(name, async () => {
      const clock = new FakeClock();
      const api = new FakeApi([error, [{ update_id: 1 }]]);
      const p = poller(api, { backoffBaseMs: 2000, backoffMaxMs: 2000, now: clock.now });
      const signal = new AbortController().signal;
      assert.equal(p.waitMs, 0);
      assert.deepEqual(await withDeadline(p.next(1, signal), "next() to return"), []);
      assert.equal(p.waitMs, 1000, "half the back-off, without jitter");
      clock.advance(400);
      assert.equal(p.waitMs, 600);
      clock.advance(600);
      assert.equal(p.waitMs, 0);
      assert.deepEqual(await p.next(1, signal), [{ update_id: 1 }]);
      assert.equal(p.offset, 2);
    });
  }
});

Deno.test("Poller asks to wait retry_after after a 429, not the back-off", async (t) => {
  await t.step("a retry_after of 7 s, however short the back-off", async () => {
    const api = new FakeApi([apiError(429, "Too Many Requests", { retry_after: 7 })]);
    const p = poller(api, { now: new FakeClock().now });
    await p.next(1, new AbortController().signal);
    assert.equal(p.waitMs, 7000);
  });

  await t.step("a retry_after of 0, however long the back-off", async () => {
    const api = new FakeApi([apiError(429, "Too Many Requests", { retry_after: 0 })]);
    const p = poller(api, {
      backoffBaseMs: 3_600_000,
      backoffMaxMs: 3_600_000,
      now: new FakeClock().now,
    });
    await p.next(1, new AbortController().signal);
    assert.equal(p.waitMs, 0);
  });

  await t.step("with up to a second of jitter", async () => {
    const api = new FakeApi([apiError(429, "Too Many Requests", { retry_after: 7 })]);
    const p = poller(api, { now: new FakeClock().now, random: () => 0.5 });
    await p.next(1, new AbortController().signal);
    assert.equal(p.waitMs, 7500);
  });
});

Deno.test("Poller's back-off doubles up to its cap and starts over after a success", async () => {
  const clock = new FakeClock();
  const api = new FakeApi([...Array(5).fill(NETWORK_ERROR), [], NETWORK_ERROR]);
  const p = poller(api, { backoffBaseMs: 40, backoffMaxMs: 160, now: clock.now });
  const signal = new AbortController().signal;
  const waits: number[] = [];
  for (let i = 0; i < 7; i++) {
    await p.next(1, signal);
    waits.push(p.waitMs);
    clock.advance(p.waitMs);
  }
  // Without jitter, half of 40, 80, 160, 160, 160 ms; nothing after the success; then 40 ms again.
  assert.deepEqual(waits, [20, 40, 80, 80, 80, 0, 20]);
});

Deno.test("Poller's back-off jitter stays between half and all of the back-off", async (t) => {
  for (const [random, expected] of [[0, 50], [0.5, 75], [0.999, 99.95]]) {
    await t.step(`random() = ${random}`, async () => {
      const api = new FakeApi([NETWORK_ERROR]);
      const p = poller(api, {
        backoffBaseMs: 100,
        backoffMaxMs: 100,
        random: () => random,
        now: new FakeClock().now,
      });
      await p.next(1, new AbortController().signal);
      assert.ok(Math.abs(p.waitMs - expected) < 1e-9, `waits ${p.waitMs} ms`);
    });
  }
});

Deno.test("Poller.next() returns nothing at once when aborted", async (t) => {
  await t.step("during the request, which is aborted too, and asks no back-off", async () => {
    const api = new FakeApi(["hang"]);
    const controller = new AbortController();
    const p = poller(api, { backoffBaseMs: 3_600_000, backoffMaxMs: 3_600_000 });
    const next = p.next(1, controller.signal);
    await withDeadline(api.called(1), "the request");
    controller.abort();
    assert.deepEqual(await withDeadline(next, "next() to return"), []);
    assert.equal(api.calls[0].signal.aborted, true);
    assert.equal(p.waitMs, 0);
  });

  await t.step("before it starts", async () => {
    const api = new FakeApi(["hang"]);
    const p = poller(api, { backoffBaseMs: 3_600_000, backoffMaxMs: 3_600_000 });
    assert.deepEqual(await withDeadline(p.next(1, AbortSignal.abort()), "next() to return"), []);
  });
});

Deno.test("Poller.next() gives up a request that outlives the long-poll timeout", async () => {
  const api = new FakeApi(["hang", [{ update_id: 3 }]]);
  const p = poller(api, { timeoutS: 0, requestSlackMs: 50 });
  const signal = new AbortController().signal;
  assert.deepEqual(await withDeadline(p.next(1, signal), "the request's deadline"), []);
  assert.equal(api.calls[0].signal.aborted, true);
  assert.deepEqual(await p.next(1, signal), [{ update_id: 3 }]);
});

Deno.test("Poller calls onAnswered for each answer from Telegram, not for failures", async () => {
  let answered = 0;
  const api = new FakeApi([[{ update_id: 1 }], NETWORK_ERROR, { answer: "odd" }, []]);
  const p = poller(api, { onAnswered: () => answered++, now: new FakeClock().now });
  const signal = new AbortController().signal;
  const counts: number[] = [];
  for (let i = 0; i < 4; i++) {
    await p.next(1, signal);
    counts.push(answered);
  }
  assert.deepEqual(counts, [1, 1, 2, 3]);
});

Deno.test("Poller logs a failure without the request's URL", async () => {
  const lines: string[] = [];
  await setupLogging({ secrets: [], write: (b) => lines.push(new TextDecoder().decode(b)) });
  try {
    await poller(new FakeApi([NETWORK_ERROR])).next(1, new AbortController().signal);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /getUpdates failed .*retrying in/);
    assert.ok(!lines[0].includes("bot1:x"), lines[0]);
  } finally {
    await reset();
  }
});

Deno.test("Poller.rewind() asks for an update again, after a delay", async () => {
  const clock = new FakeClock();
  const api = new FakeApi([[{ update_id: 10 }, { update_id: 11 }, { update_id: 12 }], []]);
  const p = poller(api, { now: clock.now });
  const signal = new AbortController().signal;
  await p.next(100, signal);
  assert.equal(p.offset, 13);
  p.rewind(11, 500);
  assert.equal(p.offset, 11, "11 and 12 are asked for again");
  assert.equal(p.waitMs, 500);
  p.rewind(12, 100);
  assert.equal(p.offset, 11, "never forward");
  assert.equal(p.waitMs, 500, "the longer wait stands");
  clock.advance(500);
  assert.equal(p.waitMs, 0);
  await p.next(100, signal);
  assert.equal(api.calls[1].params.offset, 11);
});

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
  const lines: string[] = [];
  await setupLogging({ secrets: [], write: (b) => lines.push(new TextDecoder().decode(b)) });
  try {
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
  } finally {
    await reset();
  }
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
