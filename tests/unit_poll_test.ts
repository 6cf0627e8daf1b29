/**
 * Unit tests for `lib/poll.ts`: the `Poller` against a scripted fake `Api`, and `runPollLoop()`
 * with a fake poller and dispatcher.
 *
 * @module
 */

import assert from "node:assert/strict";
import { reset } from "@logtape/logtape";
import { setupLogging } from "../lib/log.ts";
import {
  FatalPollError,
  type LoopDispatcher,
  type LoopIntake,
  Poller,
  type PollerOptions,
  runPollLoop,
} from "../lib/poll.ts";
import { type Api, GrammyError, HttpError } from "../lib/telegram.ts";
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

Deno.test("Poller.next() asks for messages from the current offset", async () => {
  const api = new FakeApi([[{ update_id: 5 }, { update_id: 3 }, { update_id: 7 }], []]);
  const p = poller(api, { timeoutS: 25 });
  const signal = new AbortController().signal;

  assert.deepEqual(await p.next(4, signal), [{ update_id: 5 }, { update_id: 3 }, { update_id: 7 }]);
  assert.equal(p.offset, 8);
  assert.deepEqual(await p.next(4, signal), []);
  assert.deepEqual(api.calls.map((c) => c.params), [
    { offset: 0, limit: 4, timeout: 25, allowed_updates: ["message", "edited_message"] },
    { offset: 8, limit: 4, timeout: 25, allowed_updates: ["message", "edited_message"] },
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

/** A dispatcher stand-in recording what the loop asks of it. */
class FakeDispatcher implements LoopDispatcher {
  readonly cap = 4;
  live = 0;
  /** Whether each iteration finds the dispatcher at its cap; then false. */
  capped: boolean[];
  readonly events: string[];

  constructor(events: string[], capped: boolean[] = []) {
    this.events = events;
    this.capped = capped;
  }

  get atCap(): boolean {
    return this.capped[0] ?? false;
  }

  get free(): number {
    return this.atCap ? 0 : this.cap - this.live;
  }

  reap(): void {
    this.events.push("reap");
  }

  waitForExit(ms: number, signal: AbortSignal): Promise<boolean> {
    this.events.push(`wait ${ms}${signal.aborted ? " aborted" : ""}`);
    this.capped.shift();
    return Promise.resolve(true);
  }
}

/** An intake stand-in: routes are recorded, the backlog drains one message per call. */
class FakeIntake implements LoopIntake {
  readonly events: string[];
  backlog: number;
  readonly listeners = new Set<() => void>();
  failOn?: number;

  constructor(events: string[], backlog = 0) {
    this.events = events;
    this.backlog = backlog;
  }

  get size(): number {
    return this.backlog;
  }

  route(update: unknown): void {
    const id = (update as { update_id: number }).update_id;
    this.events.push(`route ${id}`);
    if (id === this.failOn) throw new Error("spawn failed");
  }

  drain(): void {
    this.events.push("drain");
    this.backlog--;
  }

  onArrival(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A message joins the backlog from outside the loop. */
  arrive(): void {
    this.backlog++;
    for (const listener of this.listeners) listener();
  }
}

/** A poller that answers each call from `batches`, then aborts `controller`. */
function scriptedPoller(events: string[], batches: unknown[][], controller: AbortController) {
  return {
    waitMs: 0,
    next(limit: number, _signal: AbortSignal): Promise<unknown[]> {
      events.push(`next ${limit}`);
      const batch = batches.shift();
      if (batch === undefined) controller.abort();
      return Promise.resolve(batch ?? []);
    },
  };
}

Deno.test("runPollLoop() reaps, beats and routes every update in order", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  const intake = new FakeIntake(events);
  await withDeadline(
    runPollLoop({
      poller: scriptedPoller(
        events,
        [[{ update_id: 1 }, { update_id: 2 }], [], [{ update_id: 3 }]],
        controller,
      ),
      dispatcher: new FakeDispatcher(events),
      intake,
      heartbeat: () => events.push("beat"),
      afterBatch: () => events.push("after batch"),
      signal: controller.signal,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events, [
    ...["reap", "beat", "next 4", "route 1", "route 2", "after batch"],
    ...["reap", "beat", "next 4"],
    ...["reap", "beat", "next 4", "route 3", "after batch"],
    ...["reap", "beat", "next 4"],
  ]);
  assert.equal(intake.listeners.size, 0, "the loop unsubscribes when it stops");
});

Deno.test("runPollLoop() waits at the cap without polling, and still beats", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  await withDeadline(
    runPollLoop({
      poller: scriptedPoller(events, [], controller),
      dispatcher: new FakeDispatcher(events, [true, true]),
      intake: new FakeIntake(events),
      heartbeat: () => events.push("beat"),
      signal: controller.signal,
      capWaitMs: 1234,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events, [
    ...["reap", "beat", "wait 1234"],
    ...["reap", "beat", "wait 1234"],
    ...["reap", "beat", "next 4"],
  ]);
});

Deno.test("runPollLoop() starts waiting messages before it polls for new ones", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  await withDeadline(
    runPollLoop({
      poller: scriptedPoller(events, [], controller),
      dispatcher: new FakeDispatcher(events),
      intake: new FakeIntake(events, 2),
      heartbeat: () => events.push("beat"),
      signal: controller.signal,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events, [
    ...["reap", "beat", "drain"],
    ...["reap", "beat", "drain"],
    ...["reap", "beat", "next 4"],
  ]);
});

Deno.test("runPollLoop() stops polling when a message joins the backlog", async () => {
  const events: string[] = [];
  const api = new FakeApi(["hang", "hang"]);
  const controller = new AbortController();
  const intake = new FakeIntake(events);
  const loop = runPollLoop({
    poller: poller(api),
    dispatcher: new FakeDispatcher(events),
    intake,
    heartbeat: () => events.push("beat"),
    signal: controller.signal,
  });
  try {
    await withDeadline(api.called(1), "the first poll");
    intake.arrive();
    await withDeadline(api.called(2), "the poll after the drain");
    assert.equal(api.calls[0].signal.aborted, true, "the first poll was cut short");
    assert.equal(controller.signal.aborted, false);
    assert.deepEqual(events, ["reap", "beat", "reap", "beat", "drain", "reap", "beat"]);
  } finally {
    controller.abort();
    await withDeadline(loop, "the loop to stop");
  }
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
  assert.deepEqual(events, ["reap", "beat", "reap", "beat", "reap", "beat", "next 4"]);
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

Deno.test("runPollLoop() goes on when a route or the heartbeat throws", async () => {
  const events: string[] = [];
  const controller = new AbortController();
  const intake = new FakeIntake(events);
  intake.failOn = 1;
  let beats = 0;
  await withDeadline(
    runPollLoop({
      poller: scriptedPoller(
        events,
        [[{ update_id: 1 }, { update_id: 2 }], [{ update_id: 3 }]],
        controller,
      ),
      dispatcher: new FakeDispatcher(events),
      intake,
      heartbeat() {
        beats++;
        throw new Error("disk full");
      },
      signal: controller.signal,
    }),
    "the loop to stop",
  );
  assert.deepEqual(events.filter((e) => e.startsWith("route")), ["route 1", "route 2", "route 3"]);
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
