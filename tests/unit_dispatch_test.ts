/**
 * Unit tests for `lib/loop/dispatch.ts`: the `Dispatcher` and its spare pool, with tiny real `bash`
 * handlers on a real line (`HandlerProcess`): each reads its hello, then its start.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ChildRecord, Dispatcher, type DispatcherOptions } from "../lib/loop/dispatch.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import type { Control, Report } from "../lib/shared/line.ts";
import { captureLog, gone, isAlive, killAll, tempDir, waitUntil } from "./_helpers.ts";

const TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

/** A message's entry, as the scheduler hands it over. */
function entry(updateId: number, chatId = 1001): JournalEntry {
  return {
    updateId,
    chatId,
    update: { update_id: updateId, message: { message_id: updateId + 100, text: "héllo 😀" } },
    stage: "started",
    dispatches: 1,
    receivedAt: "2025-01-01T00:00:00.000Z",
  };
}

/** Bash: `$id` is the update id of the start line in `$start`. */
const ID = `id=$(printf '%s' "$start" | sed -E 's/.*"updateId":([0-9]+).*/\\1/')`;

/**
 * A dispatcher whose handlers read their hello and their start (into `$hello` and `$start`, `$id`
 * its update id), then run `script` in bash.
 */
function dispatcher(
  script: string,
  options: Omit<DispatcherOptions, "launch" | "cap"> & { cap?: number } = {},
): Dispatcher & AsyncDisposable {
  const { cap = 4, ...rest } = options;
  const d = new Dispatcher({
    launch: {
      command: "bash",
      args: ["-c", `read -r hello; read -r start || exit 0; ${ID}; ${script}`],
      env: { PATH: Deno.env.get("PATH")! },
      token: TOKEN,
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

/** A script that runs until the file `<dir>/go.<update id>` appears. */
function untilGo(dir: string): string {
  return `while [ ! -e "${dir}/go.$id" ]; do sleep 0.01; done`;
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

/** The text a script wrote into `path`, once it is there. */
function readWhenThere(path: string): Promise<string> {
  return waitUntil(() => {
    try {
      const text = Deno.readTextFileSync(path).trim();
      return text === "" ? undefined : text;
    } catch {
      return undefined;
    }
  }, { description: `something in ${path}` });
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
  const launch = { command: "true", args: [], env: {}, token: TOKEN };
  for (const cap of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => new Dispatcher({ launch, cap }), RangeError, `cap ${cap}`);
  }
});

Deno.test("Dispatcher.spawn() tells the handler the token and its role, then hands it the entry", async () => {
  await using dir = await tempDir();
  await using d = dispatcher(
    `printf '%s\\n%s\\n' "$hello" "$start" > "${dir.path}/got"; echo $$ > "${dir.path}/pid"`,
  );
  const record = d.spawn(entry(77, -5));
  assert.deepEqual([record.updateId, record.chatId, record.warm], [77, -5, false]);

  assert.equal(await d.waitForExit(10_000), true);
  const [hello, start] = Deno.readTextFileSync(`${dir.path}/got`).trim().split("\n")
    .map((line) => JSON.parse(line) as Control);
  assert.deepEqual(hello, { kind: "hello", token: TOKEN, role: "message" });
  assert.deepEqual(start, { kind: "start", entry: entry(77, -5) });
  assert.equal(Number(Deno.readTextFileSync(`${dir.path}/pid`)), record.pid, "the handler's pid");
  assert.equal(record.status?.success, true);
});

Deno.test("Dispatcher keeps count of live handlers against the cap", async () => {
  await using dir = await tempDir();
  await using d = dispatcher(untilGo(dir.path), { cap: 2 });
  assert.deepEqual([d.live, d.free, d.cap], [0, 2, 2]);

  const first = d.spawn(entry(1));
  assert.deepEqual([d.live, d.free], [1, 1]);
  d.spawn(entry(2));
  assert.deepEqual([d.live, d.free], [2, 0]);
  assert.throws(() => d.spawn(entry(3)), RangeError);
  assert.equal(d.children.length, 2);

  Deno.writeTextFileSync(`${dir.path}/go.1`, "");
  assert.equal(await d.waitForExit(10_000), true);
  assert.ok(first.status, "the first handler has exited");
  assert.deepEqual([d.live, d.free], [1, 1], "an exited child is not live");
  assert.equal(d.children.length, 2, "until it is reaped");

  assert.deepEqual(d.reap(), [first]);
  assert.deepEqual(d.reap(), [], "a child is reaped once");
  assert.deepEqual(d.children.map((c) => c.updateId), [2]);
});

Deno.test("Dispatcher.waitForExit() resolves false at its deadline, and rejects on abort", async (t) => {
  await using dir = await tempDir();
  await using d = dispatcher(untilGo(dir.path));
  d.spawn(entry(1));

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
  const record = d.spawn(entry(1));
  const [reaped] = await reapAll(d, 1);
  assert.equal(reaped, record);
  assert.equal(record.status?.code, 3);
  const state = procState(record.pid);
  assert.ok(state === undefined || state !== "Z", `pid ${record.pid} is in state ${state}`);
});

Deno.test("Dispatcher hands each report to onReport with its child, and onExit comes after the last", async () => {
  const events: string[] = [];
  const seen: [ChildRecord, Report][] = [];
  const { promise: exited, resolve } = Promise.withResolvers<void>();
  await using d = dispatcher(
    `echo '{"kind":"patch","updateId":'$id',"patch":{"stage":"brain"}}'; ` +
      `echo '{"kind":"finished","updateId":'$id'}'; exit 0`,
    {
      onReport(child, report) {
        seen.push([child, report]);
        events.push(report.kind);
      },
      onExit(child) {
        events.push(`exit ${child.updateId} ${child.status?.code}`);
        resolve();
      },
    },
  );
  const record = d.spawn(entry(9));
  await exited;
  assert.deepEqual(events, ["patch", "finished", "exit 9 0"]);
  assert.ok(seen.every(([child]) => child === record), "each report comes with its child");
  assert.deepEqual(seen[0][1], { kind: "patch", updateId: 9, patch: { stage: "brain" } });
  assert.equal(d.children.length, 1, "onExit comes before the reaping");
});

Deno.test("Dispatcher logs what a handler says that is not a report, and goes on", async () => {
  await using log = await captureLog();
  const reports: Report[] = [];
  await using d = dispatcher(`echo 'Debug: hello'; echo '{"kind":"finished","updateId":'$id'}'`, {
    onReport: (_, report) => reports.push(report),
  });
  d.spawn(entry(4));
  await reapAll(d, 1);
  assert.deepEqual(reports, [{ kind: "finished", updateId: 4 }]);
  assert.ok(
    log.lines.some((l) => /said something else than a report: Debug: hello/.test(l)),
    log.lines.join(""),
  );
});

Deno.test("Dispatcher keeps going when onExit throws", async () => {
  await using d = dispatcher("exit 0", {
    onExit() {
      throw new Error("hook failed");
    },
  });
  d.spawn(entry(1));
  assert.equal(await d.waitForExit(10_000), true);
  assert.equal(d.reap().length, 1);
});

Deno.test("Dispatcher.terminateAll() stops each handler's whole process group", async (t) => {
  await t.step("a handler that stops on SIGTERM, with its grandchild", async () => {
    await using dir = await tempDir();
    await using d = dispatcher(`sleep 100 & echo $! > "${dir.path}/gc"; wait`);
    const record = d.spawn(entry(1));
    const grandchild = Number(await readWhenThere(`${dir.path}/gc`));
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
    const record = d.spawn(entry(1));
    const grandchild = Number(await readWhenThere(`${dir.path}/gc`));
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

Deno.test("Dispatcher.terminateAll() kills a group member that ignores SIGTERM after its leader exits", async () => {
  await using dir = await tempDir();
  await using d = dispatcher(`(trap '' TERM; exec sleep 100) & echo $! > "${dir.path}/gc"; wait`);
  d.spawn(entry(1));
  const grandchild = Number(await readWhenThere(`${dir.path}/gc`));
  try {
    await d.terminateAll();
    await gone(grandchild);
  } finally {
    killAll([grandchild]);
  }
});

Deno.test("Dispatcher leaks no file descriptors over 50 handlers", async () => {
  const count = () => [...Deno.readDirSync("/proc/self/fd")].length;
  await using d = dispatcher("exit 0", { cap: 50 });
  // One warm-up round, so that lazily opened runtime descriptors don't count as a leak.
  d.spawn(entry(1));
  await reapAll(d, 1);

  const before = count();
  for (let i = 0; i < 50; i++) d.spawn(entry(i));
  const reaped = await reapAll(d, 50);
  assert.equal(reaped.length, 50);
  assert.ok(reaped.every((r) => r.status?.success));
  const after = count();
  assert.ok(after <= before + 3, `descriptors went from ${before} to ${after}`);
});

// ---- the spare pool ----------------------------------------------------------------------------

/**
 * A script that records its pid in `<dir>/spares` once told hello (a spare waits there), and in
 * `<dir>/got.<update id>` once given its message, then runs until told to go. Like a real
 * handler, it exits at once when its stdin ends before a message.
 */
function recordsStart(dir: string): string {
  return `echo $$ > "${dir}/got.$id"; ${untilGo(dir)}`;
}

/** The dispatcher of {@linkcode recordsStart} handlers, whose spares record their pids. */
function spareDispatcher(dir: string, options: { cap?: number; spares: number }) {
  const d = new Dispatcher({
    launch: {
      command: "bash",
      args: [
        "-c",
        `read -r hello; echo $$ >> "${dir}/spares"; read -r start || exit 0; ${ID}; ${
          recordsStart(dir)
        }`,
      ],
      env: { PATH: Deno.env.get("PATH")! },
      token: TOKEN,
    },
    cap: options.cap ?? 4,
    spares: options.spares,
    terminateGraceMs: 300,
  });
  return Object.assign(d, { [Symbol.asyncDispose]: () => d.terminateAll() });
}

/** The pids of the spares that have said hello so far. */
function sparePids(dir: string): number[] {
  try {
    return Deno.readTextFileSync(`${dir}/spares`).split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

Deno.test("Dispatcher hands a message to a spare, and starts the next spare behind it", async () => {
  await using dir = await tempDir();
  await using d = spareDispatcher(dir.path, { cap: 1, spares: 1 });
  assert.equal(d.spares, 0, "none before warmUp()");
  d.warmUp();
  assert.equal(d.spares, 1);
  assert.deepEqual([d.live, d.free], [0, 1], "a spare without a message doesn't count");
  const [spare] = await waitUntil(() => sparePids(dir.path).length === 1 && sparePids(dir.path), {
    description: "the spare's hello",
  });

  const record = d.spawn(entry(1));
  assert.equal(record.warm, true);
  assert.equal(record.pid, spare, "the spare took it");
  assert.equal(Number(await readWhenThere(`${dir.path}/got.1`)), spare, "and got its start");
  assert.deepEqual([d.live, d.free], [1, 0], "now it counts");
  await waitUntil(() => d.spares === 1, { description: "the next spare" });
  assert.equal(d.live, 1, "the new spare is not counted either");

  Deno.writeTextFileSync(`${dir.path}/go.1`, "");
  await reapAll(d, 1);
  const second = d.spawn(entry(2));
  assert.equal(second.warm, true);
  assert.equal(Number(await readWhenThere(`${dir.path}/got.2`)), second.pid);
});

Deno.test("Dispatcher starts a handler cold when there is no spare", async () => {
  await using dir = await tempDir();
  await using d = spareDispatcher(dir.path, { spares: 0 });
  const record = d.spawn(entry(1));
  assert.equal(record.warm, false);
  assert.equal(Number(await readWhenThere(`${dir.path}/got.1`)), record.pid);
});

Deno.test("Dispatcher.holdSpares() stops the idle spares and starts none until released", async () => {
  await using dir = await tempDir();
  await using d = spareDispatcher(dir.path, { spares: 2 });
  d.warmUp();
  assert.equal(d.spares, 2);
  const pids = await waitUntil(() => sparePids(dir.path).length === 2 && sparePids(dir.path), {
    description: "two spares' hellos",
  });

  d.holdSpares(true);
  assert.equal(d.spares, 0);
  for (const pid of pids) await gone(pid);
  d.warmUp();
  assert.equal(d.spares, 0, "warmUp() starts none while held");
  const record = d.spawn(entry(1));
  assert.equal(record.warm, false, "a message while held goes to a cold handler");
  d.reap();
  // A spawn or a reap starts spares only by making them due (a moment later): neither did.
  assert.equal(d.sparesDue, false, "neither spawn nor reap makes one due while held");
  assert.equal(d.spares, 0, "neither spawn nor reap starts one while held");

  d.holdSpares(false);
  await waitUntil(() => d.spares === 2, { description: "the spares again" });
  assert.equal(d.spawn(entry(2)).warm, true);
});

Deno.test("Dispatcher stops starting spares that keep dying before they are used", async () => {
  await using dir = await tempDir();
  const d = new Dispatcher({
    launch: {
      command: "bash",
      args: ["-c", `echo started >> "${dir.path}/starts"; exit 3`],
      env: { PATH: Deno.env.get("PATH")! },
      token: TOKEN,
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
      await waitUntil(() => starts() >= n && d.spares === 0, {
        description: `spare ${n} to die`,
      });
      d.reap();
      if (n < 3) {
        await waitUntil(() => starts() > n, { description: `spare ${n + 1}` });
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
  const d = spareDispatcher(dir.path, { spares: 2 });
  d.warmUp();
  const pids = await waitUntil(() => sparePids(dir.path).length === 2 && sparePids(dir.path), {
    description: "two spares' hellos",
  });
  await d.terminateAll();
  for (const pid of pids) assert.equal(isAlive(pid), false, `spare ${pid}`);
  assert.equal(d.spares, 0);
  d.warmUp();
  assert.equal(d.spares, 0, "none after teardown");
});
