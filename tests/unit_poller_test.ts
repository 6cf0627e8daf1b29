/**
 * Unit tests for `lib/loop/poller.ts`: the `Poller` against a scripted fake `Api` (`FakeApi` in
 * `_helpers.ts`) and a clock moved by hand: the offset, the back-off after a failure, a refused
 * token. `runPollLoop()` is `unit_poll_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FatalPollError, Poller, type PollerOptions } from "../lib/loop/poller.ts";
import { type Api, GrammyError, HttpError } from "../lib/shared/telegram.ts";
import { apiError, captureLog, FakeApi, withDeadline } from "./_helpers.ts";

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

const NETWORK_ERROR = new HttpError(
  "Network request for 'getUpdates' failed!",
  new TypeError("error sending request for url (https://api.telegram.org/bot1:x/getUpdates)"),
);

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
  await p.next(2, new AbortController().signal);
  assert.equal(api.calls[0].params.offset, 50);
  assert.equal(p.offset, 52);
});

Deno.test("Poller.next() takes at most the updates it asked for; the offset leaves the rest for the next call", async () => {
  const batch = Array.from({ length: 300 }, (_, i) => ({ update_id: 1000 + i }));
  // Out of order, as a misbehaving server might send them: the lowest ids are taken.
  const api = new FakeApi([[...batch].reverse(), batch.slice(100)]);
  const p = poller(api);
  const signal = new AbortController().signal;
  await using log = await captureLog();
  const first = await p.next(100, signal);
  assert.deepEqual(
    first.map((u) => (u as { update_id: number }).update_id),
    batch.slice(0, 100).map((u) => u.update_id),
  );
  assert.equal(p.offset, 1100, "only what was taken is confirmed");
  assert.match(log.lines.join(""), /answered with 300 updates where at most 100 were asked for/);
  const second = await p.next(100, signal);
  assert.equal(api.calls[1].params.offset, 1100);
  assert.equal(second.length, 100);
  assert.equal(p.offset, 1200);
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
  await using log = await captureLog();
  const { lines } = log;
  await poller(new FakeApi([NETWORK_ERROR])).next(1, new AbortController().signal);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /getUpdates failed .*retrying in/);
  assert.ok(!lines[0].includes("bot1:x"), lines[0]);
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

Deno.test("Poller.next() throws FatalPollError, saying the token is unknown, when getUpdates answers 404", async () => {
  const notFound = new GrammyError(
    "Call to 'getUpdates' failed! (404: Not Found)",
    { ok: false, error_code: 404, description: "Not Found" },
    "getUpdates",
    {},
  );
  await assert.rejects(
    poller(new FakeApi([notFound])).next(1, new AbortController().signal),
    (error) =>
      error instanceof FatalPollError &&
      /does not know the bot token \(getUpdates: 404 Not Found\): it is mistyped, or COORD_API_ROOT/
        .test(error.message),
  );
});

Deno.test("Poller.standing says where the bot stands with Telegram: connecting, waiting (and why), polling", async () => {
  await using _log = await captureLog();
  const api = new FakeApi([NETWORK_ERROR, [], apiError(502, "Bad Gateway")]);
  const p = poller(api);
  const signal = new AbortController().signal;
  assert.equal(p.standing, "connecting to Telegram");
  await p.next(1, signal);
  assert.match(p.standing, /^waiting for Telegram: Network request for 'getUpdates' failed!/);
  assert.doesNotMatch(p.standing, /api\.telegram\.org|bot1:x/, "no URL, no token");
  await p.next(1, signal);
  assert.equal(p.standing, "polling");
  await p.next(1, signal);
  assert.equal(p.standing, "waiting for Telegram: getUpdates: 502 Bad Gateway");
});
