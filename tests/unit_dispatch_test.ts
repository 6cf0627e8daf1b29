/**
 * Unit tests for `lib/loop/dispatch.ts`: the `Dispatcher` and its spare pool, with tiny real `bash`
 * handlers.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type ChildRecord,
  Dispatcher,
  type DispatcherOptions,
  WARM_ENV,
} from "../lib/loop/dispatch.ts";
import { gone, isAlive, killAll, tempDir, waitUntil } from "./_helpers.ts";

const META = { updateId: 1, chatId: 1001 };

/** A dispatcher whose handlers run `script` in bash (after reading their payload into `$line`). */
function dispatcher(
  script: string,
  options: Omit<DispatcherOptions, "launch" | "cap"> & { cap?: number } = {},
): Dispatcher & AsyncDisposable {
  const { cap = 4, ...rest } = options;
  const d = new Dispatcher({
    launch: {
      command: "bash",
      args: ["-c", `read -r line; ${script}`],
      env: { PATH: Deno.env.get("PATH")! },
    },
    cap,
    terminateGraceMs: 300,
    ...rest,
  });
  return Object.assign(d, {
    // Whatever a test leaves running goes, so that a failure can't leak processes.
    [Symbol.asyncDispose]: () => d.terminateAll(),
  });
}

/** A script that runs until the file `<dir>/go.<payload>` appears. */
function untilGo(dir: string): string {
  return `while [ ! -e "${dir}/go.$line" ]; do sleep 0.01; done`;
}

/** The state letter of a process (`R`, `S`, `Z`...), or undefined when it is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

/** The pid a script wrote into `path`, once it is there. */
function readPid(path: string): Promise<number> {
  return waitUntil(() => {
    try {
      const text = Deno.readTextFileSync(path).trim();
      return text === "" ? undefined : Number(text);
    } catch {
      return undefined;
    }
  }, { description: `a pid in ${path}` });
}

/** Waits until every child has exited and reaps them all, with a deadline. */
async function reapAll(d: Dispatcher, count: number): Promise<ChildRecord[]> {
  const reaped: ChildRecord[] = [];
  const deadline = AbortSignal.timeout(20_000);
  while (reaped.length < count) {
    reaped.push(...d.reap());
    if (reaped.length === count) break;
    if (deadline.aborted) throw new Error(`Only ${reaped.length} of ${count} children exited`);
    await d.waitForExit(1000);
  }
  return reaped;
}

Deno.test("Dispatcher refuses a cap that is not a positive integer", () => {
  const launch = { command: "true", args: [], env: {} };
  for (const cap of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => new Dispatcher({ launch, cap }), RangeError, `cap ${cap}`);
  }
});

Deno.test("Dispatcher.spawn() hands the payload to the handler as one line on stdin", async () => {
  await using dir = await tempDir();
  await using d = dispatcher(
    `printf '%s' "$line" > "${dir.path}/got"; echo $$ > "${dir.path}/pid"`,
  );
  const payload = JSON.stringify({ update_id: 77, message: { text: "héllo 😀" } });
  const record = d.spawn(payload, { updateId: 77, chatId: -5 });
  assert.equal(record.updateId, 77);
  assert.equal(record.chatId, -5);

  assert.equal(await d.waitForExit(10_000), true);
  assert.equal(Deno.readTextFileSync(`${dir.path}/got`), payload);
  assert.equal(Number(Deno.readTextFileSync(`${dir.path}/pid`)), record.pid, "the handler's pid");
  assert.equal(record.status?.success, true);
  assert.ok(record.endedAt !== undefined && record.endedAt >= record.startedAt);
});

Deno.test("Dispatcher keeps count of live handlers against the cap", async () => {
  await using dir = await tempDir();
  await using d = dispatcher(untilGo(dir.path), { cap: 2 });
  assert.deepEqual([d.live, d.free, d.atCap, d.cap], [0, 2, false, 2]);

  const first = d.spawn("1", META);
  assert.deepEqual([d.live, d.free, d.atCap], [1, 1, false]);
  d.spawn("2", { updateId: 2, chatId: 1001 });
  assert.deepEqual([d.live, d.free, d.atCap], [2, 0, true]);
  assert.throws(() => d.spawn("3", META), RangeError);
  assert.equal(d.children.length, 2);

  Deno.writeTextFileSync(`${dir.path}/go.1`, "");
  assert.equal(await d.waitForExit(10_000), true);
  assert.ok(first.status, "the first handler has exited");
  assert.deepEqual([d.live, d.free, d.atCap], [1, 1, false], "an exited child is not live");
  assert.equal(d.children.length, 2, "until it is reaped");

  assert.deepEqual(d.reap(), [first]);
  assert.deepEqual(d.reap(), [], "a child is reaped once");
  assert.deepEqual(d.children.map((c) => c.updateId), [2]);
});

Deno.test("Dispatcher.waitForExit() resolves false at its deadline, and rejects on abort", async (t) => {
  await using dir = await tempDir();
  await using d = dispatcher(untilGo(dir.path));
  d.spawn("1", META);

  await t.step("false when no handler exits in time", async () => {
    const started = performance.now();
    assert.equal(await d.waitForExit(200), false);
    assert.ok(performance.now() - started >= 150);
  });

  await t.step("rejects with the signal's reason as soon as it aborts", async () => {
    const controller = new AbortController();
    const waiting = d.waitForExit(60_000, controller.signal);
    controller.abort();
    const deadline = AbortSignal.timeout(5000);
    const result = await Promise.race([
      waiting.catch((error) => error === controller.signal.reason ? "stopped" : error),
      new Promise<string>((resolve) => deadline.addEventListener("abort", () => resolve("hung"))),
    ]);
    assert.equal(result, "stopped");
  });

  await t.step("true when one does exit", async () => {
    const waiting = d.waitForExit(30_000);
    Deno.writeTextFileSync(`${dir.path}/go.1`, "");
    assert.equal(await waiting, true);
  });
});

Deno.test("Dispatcher.reap() leaves no zombie behind", async () => {
  await using d = dispatcher("exit 3");
  const record = d.spawn("x", META);
  const [reaped] = await reapAll(d, 1);
  assert.equal(reaped, record);
  assert.equal(record.status?.code, 3);
  const state = procState(record.pid);
  assert.ok(state === undefined || state !== "Z", `pid ${record.pid} is in state ${state}`);
});

Deno.test("Dispatcher calls onExit with the record as soon as a handler exits", async () => {
  const exits: ChildRecord[] = [];
  const { promise: exited, resolve } = Promise.withResolvers<void>();
  await using d = dispatcher("exit 0", {
    onExit(child) {
      exits.push(child);
      resolve();
    },
  });
  const record = d.spawn("x", { updateId: 9, chatId: 3 });
  await exited;
  assert.deepEqual(exits, [record]);
  assert.equal(exits[0].status?.success, true);
  assert.equal(d.children.length, 1, "onExit comes before the reaping");
});

Deno.test("Dispatcher keeps going when onExit throws", async () => {
  await using d = dispatcher("exit 0", {
    onExit() {
      throw new Error("hook failed");
    },
  });
  d.spawn("x", META);
  assert.equal(await d.waitForExit(10_000), true);
  assert.equal(d.reap().length, 1);
});

Deno.test("Dispatcher.terminateAll() stops each handler's whole process group", async (t) => {
  await t.step("a handler that stops on SIGTERM, with its grandchild", async () => {
    await using dir = await tempDir();
    await using d = dispatcher(`sleep 100 & echo $! > "${dir.path}/gc"; wait`);
    const record = d.spawn("x", META);
    const grandchild = await readPid(`${dir.path}/gc`);
    try {
      await d.terminateAll();
      assert.equal(record.status?.signal, "SIGTERM");
      assert.equal(isAlive(record.pid), false);
      await gone(grandchild);
      assert.deepEqual(d.children, [], "terminateAll() reaps");
    } finally {
      killAll([grandchild]);
    }
  });

  await t.step("a handler that ignores SIGTERM is killed after the grace period", async () => {
    await using dir = await tempDir();
    await using d = dispatcher(`trap '' TERM; sleep 100 & echo $! > "${dir.path}/gc"; wait`);
    const record = d.spawn("x", META);
    const grandchild = await readPid(`${dir.path}/gc`);
    try {
      await d.terminateAll();
      assert.equal(record.status?.signal, "SIGKILL");
      assert.equal(isAlive(record.pid), false);
      await gone(grandchild);
      assert.deepEqual(d.children, []);
    } finally {
      killAll([grandchild]);
    }
  });
});

Deno.test({
  name:
    "Dispatcher.terminateAll() kills a group member that ignores SIGTERM after its leader exits",
  async fn() {
    await using dir = await tempDir();
    await using d = dispatcher(
      `(trap '' TERM; exec sleep 100) & echo $! > "${dir.path}/gc"; wait`,
    );
    d.spawn("x", META);
    const grandchild = await readPid(`${dir.path}/gc`);
    try {
      await d.terminateAll();
      await gone(grandchild);
    } finally {
      killAll([grandchild]);
    }
  },
});

Deno.test("Dispatcher leaks no file descriptors over 50 handlers", async () => {
  const count = () => [...Deno.readDirSync("/proc/self/fd")].length;
  await using d = dispatcher("exit 0", { cap: 50 });
  // One warm-up round, so that lazily opened runtime descriptors don't count as a leak.
  d.spawn("x", META);
  await reapAll(d, 1);

  const before = count();
  for (let i = 0; i < 50; i++) d.spawn("x", { updateId: i, chatId: 1 });
  const reaped = await reapAll(d, 50);
  assert.equal(reaped.length, 50);
  assert.ok(reaped.every((r) => r.status?.success));
  const after = count();
  assert.ok(after <= before + 3, `descriptors went from ${before} to ${after}`);
});

// ---- the spare pool ----------------------------------------------------------------------------

/**
 * A script that records how it was started (`warm` or `cold`) in `<dir>/got.<payload>`, then runs
 * until told to go; like a real handler, it exits at once when its stdin ends before an update.
 */
function recordsWarmth(dir: string): string {
  return `[ -n "$line" ] || exit 0; printf '%s' "\${${WARM_ENV}:+warm}" > "${dir}/got.$line"; ${
    untilGo(dir)
  }`;
}

function readGot(dir: string, payload: string): Promise<string> {
  return waitUntil(() => {
    try {
      return Deno.readTextFileSync(`${dir}/got.${payload}`) || "cold";
    } catch {
      return undefined;
    }
  }, { description: `handler ${payload} to start` });
}

Deno.test("Dispatcher hands an update to a spare, and starts the next spare behind it", async () => {
  await using dir = await tempDir();
  await using d = dispatcher(recordsWarmth(dir.path), { cap: 1, spares: 1 });
  assert.equal(d.spares, 0, "none before warmUp()");
  d.warmUp();
  assert.equal(d.spares, 1);
  assert.deepEqual([d.live, d.free], [0, 1], "a spare without an update doesn't count");

  const record = d.spawn("1", META);
  assert.equal(record.warm, true);
  assert.equal(await readGot(dir.path, "1"), "warm", "the spare got the update");
  assert.deepEqual([d.live, d.free, d.atCap], [1, 0, true], "now it counts");
  await waitUntil(() => d.spares === 1 || undefined, { description: "the next spare" });
  assert.deepEqual([d.live, d.atCap], [1, true], "the new spare is not counted either");

  Deno.writeTextFileSync(`${dir.path}/go.1`, "");
  await reapAll(d, 1);
  const second = d.spawn("2", { updateId: 2, chatId: 1001 });
  assert.equal(second.warm, true);
  assert.equal(await readGot(dir.path, "2"), "warm");
});

Deno.test("Dispatcher starts a handler cold when there is no spare", async () => {
  await using dir = await tempDir();
  await using d = dispatcher(recordsWarmth(dir.path));
  const record = d.spawn("1", META);
  assert.equal(record.warm, false);
  assert.equal(await readGot(dir.path, "1"), "cold");
});

Deno.test("Dispatcher.holdSpares() stops the idle spares and starts none until released", async () => {
  await using dir = await tempDir();
  await using d = dispatcher(recordsWarmth(dir.path), { spares: 2 });
  d.warmUp();
  assert.equal(d.spares, 2);
  const pids = sparePids();
  assert.equal(pids.length, 2);

  d.holdSpares(true);
  assert.equal(d.spares, 0);
  for (const pid of pids) await gone(pid);
  d.warmUp();
  assert.equal(d.spares, 0, "warmUp() starts none while held");
  const record = d.spawn("1", META);
  assert.equal(record.warm, false, "a message while held goes to a cold handler");
  d.reap();
  // A spawn or a reap starts spares only by making them due (a moment later): neither did.
  assert.equal(d.sparesDue, false, "neither spawn nor reap makes one due while held");
  assert.equal(d.spares, 0, "neither spawn nor reap starts one while held");

  d.holdSpares(false);
  await waitUntil(() => d.spares === 2 || undefined, { description: "the spares again" });
  assert.equal(d.spawn("2", { updateId: 2, chatId: 1001 }).warm, true);
});

Deno.test("Dispatcher stops starting spares that keep dying before they are used", async () => {
  await using dir = await tempDir();
  const d = new Dispatcher({
    launch: {
      command: "bash",
      args: ["-c", `echo started >> "${dir.path}/starts"; exit 3`],
      env: { PATH: Deno.env.get("PATH")! },
    },
    cap: 2,
    spares: 1,
    terminateGraceMs: 300,
  });
  try {
    const starts = () => {
      try {
        return Deno.readTextFileSync(`${dir.path}/starts`).split("\n").length - 1;
      } catch {
        return 0;
      }
    };
    d.warmUp();
    for (let n = 1; n <= 3; n++) {
      await waitUntil(() => starts() >= n && d.spares === 0 || undefined, {
        description: `spare ${n} to die`,
      });
      d.reap();
      if (n < 3) {
        await waitUntil(() => starts() > n || undefined, { description: `spare ${n + 1}` });
      }
    }
    // warmUp() starts spares at once, a reap only by making them due: neither did.
    d.warmUp();
    d.reap();
    assert.equal(d.sparesDue, false, "none due after the third died");
    assert.equal(d.spares, 0, "no spare after the third died");
    assert.equal(starts(), 3);
  } finally {
    await d.terminateAll();
  }
});

Deno.test("Dispatcher.terminateAll() stops the spares too", async () => {
  await using dir = await tempDir();
  const d = dispatcher(recordsWarmth(dir.path), { spares: 2 });
  d.warmUp();
  const pids = sparePids();
  assert.equal(pids.length, 2);
  await d.terminateAll();
  for (const pid of pids) assert.equal(isAlive(pid), false, `spare ${pid}`);
  assert.equal(d.spares, 0);
  d.warmUp();
  assert.equal(d.spares, 0, "none after teardown");
});

/** The pids of the dispatcher's spares: the children of this process started with WARM_ENV. */
function sparePids(): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const env = Deno.readTextFileSync(`/proc/${entry.name}/environ`);
      if (ppid === Deno.pid && env.split("\0").includes(`${WARM_ENV}=1`)) {
        pids.push(Number(entry.name));
      }
    } catch {
      // Gone, or not ours.
    }
  }
  return pids;
}
