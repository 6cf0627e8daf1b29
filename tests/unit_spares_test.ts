/**
 * Unit tests for `lib/loop/spares.ts`: the `SparePool`, with tiny real `bash` spares on a real
 * line (`HandlerProcess`) that wait on stdin. (Its use by the `Dispatcher`, a spare taking a
 * message, is `unit_dispatch_test.ts`.)
 *
 * @module
 */

import assert from "node:assert/strict";
import { HandlerProcess } from "../lib/loop/handler_process.ts";
import { SparePool } from "../lib/loop/spares.ts";
import { captureLog, isAlive, waitUntil, withDeadline } from "./_helpers.ts";

/** A spare that reads its hello and one line, then exits, as a handler does with its message. */
const WAITS = "read -r hello; read -r line";

/**
 * A pool of `wanted` spares running `script`, with every process it started; on dispose it stops
 * the pool, kills and awaits every process, and closes every stdin, so that a test can't leak one.
 */
function pool(wanted: number, script = WAITS) {
  const started: Deno.ChildProcess[] = [];
  const taken: HandlerProcess[] = [];
  const spares = new SparePool(() => {
    const launch = { command: "bash", args: ["-c", script], env: { PATH: "/usr/bin:/bin" } };
    const handler = new HandlerProcess({ ...launch, token: "t" }, { role: "message" });
    started.push(handler.process);
    return handler;
  }, wanted);
  return {
    spares,
    started,
    /** Takes a spare out of the pool (closed on dispose, like the pool's own). */
    take(): HandlerProcess | undefined {
      const spare = spares.take();
      if (spare) taken.push(spare);
      return spare;
    },
    /** Waits until the pool counts `n` spares. */
    sizeBecomes(n: number): Promise<true> {
      return waitUntil(() => spares.size === n, { description: `${n} spares in the pool` });
    },
    async [Symbol.asyncDispose]() {
      spares.stop();
      for (const process of started) {
        try {
          process.kill("SIGKILL");
        } catch {
          // Exited already.
        }
      }
      spares.close();
      for (const spare of taken) spare.close();
      await withDeadline(Promise.all(started.map((p) => p.status)), "every spare to exit");
    },
  };
}

/** Waits for `process` to exit, with a deadline. */
function exited(process: Deno.ChildProcess): Promise<Deno.CommandStatus> {
  return withDeadline(process.status, `spare ${process.pid} to exit`);
}

Deno.test("SparePool.fill() starts spares up to the wanted number, and no more", async () => {
  await using p = pool(2);
  assert.equal(p.spares.size, 0, "none before fill()");
  p.spares.fill();
  assert.equal(p.started.length, 2);
  assert.equal(p.spares.size, 2);
  assert.deepEqual(p.spares.handlers.map((h) => h.process), p.started);
  p.spares.fill();
  assert.equal(p.started.length, 2, "a full pool starts none");
  for (const process of p.started) assert.equal(isAlive(process.pid), true, "waiting on stdin");
});

Deno.test("SparePool.take() hands out the oldest spare, ready for its message; undefined when none", async () => {
  await using p = pool(2);
  p.spares.fill();
  const first = p.take();
  assert.equal(first?.process, p.started[0]);
  assert.equal(p.spares.size, 1, "out of the pool");
  assert.deepEqual(p.spares.handlers.map((h) => h.process), [p.started[1]]);
  assert.equal(p.take()?.process, p.started[1]);
  assert.equal(p.take(), undefined);
  assert.equal(p.started.length, 2, "take() starts none");

  first!.send({ kind: "cancel", by: "/cancel" });
  assert.equal((await exited(first!.process)).code, 0, "it read its line after its hello");
});

Deno.test("SparePool.fillSoon() starts the missing spares a moment later, not at once", async () => {
  await using p = pool(2);
  p.spares.fillSoon();
  p.spares.fillSoon();
  assert.equal(p.started.length, 0, "no spawn on the caller's path");
  assert.equal(p.spares.due, true, "due a moment later");
  await p.sizeBecomes(2);
  assert.equal(p.started.length, 2);
  p.take();
  p.spares.fillSoon();
  await p.sizeBecomes(2);
  assert.equal(p.started.length, 3, "the one taken is replaced");
});

Deno.test("SparePool.hold(true) closes the idle spares and starts none; hold(false) fills it again", async () => {
  // Three, the failure limit: closed spares that were counted as deaths would give the pool up.
  await using p = pool(3);
  p.spares.fill();
  const idle = [...p.started];
  p.spares.hold(true);
  assert.equal(p.spares.size, 0);
  assert.deepEqual(p.spares.handlers, []);
  for (const process of idle) await exited(process); // they read EOF
  p.spares.fill();
  p.spares.fillSoon();
  // fill() starts spares at once and fillSoon() only through `due`: neither did.
  assert.equal(p.spares.due, false, "none due while held");
  assert.equal(p.started.length, 3, "none starts while held");
  assert.equal(p.take(), undefined);

  p.spares.hold(false);
  await p.sizeBecomes(3);
  assert.equal(p.started.length, 6, "a closed spare is no failure: the pool fills again");
});

/** Fills the pool of one dying spare and waits until it has died; `died` the deaths so far. */
async function dieOnce(p: ReturnType<typeof pool>, died: number): Promise<void> {
  p.spares.fill();
  assert.equal(p.started.length, died + 1, `spare ${died + 1} started`);
  await exited(p.started[died]);
  await p.sizeBecomes(0);
}

Deno.test("SparePool.forgetDead() counts spares that die unused, and gives up after 3 in a row", async () => {
  await using log = await captureLog();
  await using p = pool(1, "exit 3");
  for (let died = 0; died < 3; died++) {
    await dieOnce(p, died);
    assert.equal(p.spares.handlers.length, 1, "a dead spare is kept until forgotten");
    p.spares.forgetDead();
    assert.deepEqual(p.spares.handlers, [], "forgotten");
  }
  p.spares.fill();
  p.spares.fillSoon();
  // fill() starts spares at once and fillSoon() only through `due`: neither did.
  assert.equal(p.spares.due, false, "none due after the third death");
  assert.equal(p.started.length, 3, "no spare after the third death");
  const deaths = log.lines.filter((l) => /spare handler \d+ exited before it was used/.test(l));
  assert.equal(deaths.length, 3, log.lines.join(""));
  assert.match(deaths[0], /\(exit status 3\)/);
  const givenUp = log.lines.filter((l) => /spare handlers keep dying/.test(l));
  assert.equal(givenUp.length, 1, "said once");
});

Deno.test("SparePool.take() forgets a spare that died, counts it, and hands out none", async () => {
  await using p = pool(1, "exit 3");
  for (let died = 0; died < 3; died++) {
    await dieOnce(p, died);
    assert.equal(p.take(), undefined);
  }
  p.spares.fill();
  assert.equal(p.started.length, 3, "counted: given up after the third");
});

Deno.test("SparePool.served() starts the count of deaths over: 3 in a row give up", async () => {
  await using p = pool(1, "exit 3");
  let died = 0;
  for (; died < 2; died++) {
    await dieOnce(p, died);
    p.spares.forgetDead();
  }
  p.spares.served();
  for (; died < 4; died++) {
    await dieOnce(p, died);
    p.spares.forgetDead();
  }
  p.spares.fill();
  assert.equal(p.started.length, 5, "two deaths since served(): it still tries");
  await exited(p.started[4]);
  await p.sizeBecomes(0);
  p.spares.forgetDead();
  p.spares.fill();
  assert.equal(p.started.length, 5, "the third in a row gives up");
});

Deno.test("SparePool.stop() starts no spare from then on; close() lets go of those left", async () => {
  await using p = pool(2);
  p.spares.fill();
  p.spares.stop();
  assert.equal(p.spares.size, 2, "stop() leaves the idle ones to the caller");
  for (const process of p.started) assert.equal(isAlive(process.pid), true);
  p.take();
  p.spares.fill();
  p.spares.hold(false); // would fill soon, were it not stopped
  assert.equal(p.spares.due, false, "none due after stop()");
  assert.equal(p.started.length, 2, "none started after stop()");

  p.spares.close();
  assert.equal(p.spares.size, 0);
  assert.deepEqual(p.spares.handlers, []);
  await exited(p.started[1]); // its stdin closed: it read EOF
  assert.equal(isAlive(p.started[0].pid), true, "the spare taken is not the pool's to close");
});

Deno.test("SparePool.fill() that can't start a spare (out of processes) counts a failure and never throws", async () => {
  await using _log = await captureLog();
  let tries = 0;
  const pool = new SparePool(() => {
    tries++;
    throw new Error("Resource temporarily unavailable (os error 11)");
  }, 2);
  pool.fill();
  assert.equal(tries, 1, "it stops at the first failure");
  assert.equal(pool.size, 0);
  pool.fill();
  pool.fill();
  pool.fill();
  assert.equal(tries, 3, "given up after 3 failures in a row");
});
