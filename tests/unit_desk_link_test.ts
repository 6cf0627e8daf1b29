/**
 * Unit tests for `lib/loop/desk_link.ts`: the poll loop's handle on the desk, against real processes
 * running a stub desk (`tests/stubs/desk_stub.ts`) that logs what it gets and reports as told.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DeskLink, type DeskLinkOptions } from "../lib/loop/desk_link.ts";
import type { DeskJob, Report } from "../lib/shared/line.ts";
import type { StubControl } from "./stubs/desk_stub.ts";
import {
  captureLog,
  denoDir,
  isAlive,
  killAll,
  projectPath,
  tempDir,
  waitUntil,
} from "./_helpers.ts";

const STUB_DESK = projectPath("tests/stubs/desk_stub.ts");

/** One line of the stub's log. */
interface Event {
  pid: number;
  event: string;
  kind?: string;
  id?: number;
  early?: boolean;
}

function ack(updateId: number): DeskJob {
  return { job: "ack", update: { update_id: updateId } };
}

function answer(updateId: number): DeskJob {
  return { job: "command", update: { update_id: updateId } };
}

const acked = (updateId: number): Report => ({ kind: "acked", updateId });
const done = (updateId: number): Report => ({ kind: "done", updateId });

const TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

/**
 * A `DeskLink` over stub desks, recording its reports and spare holds; on dispose it is
 * terminated and every desk process it ever started must be gone.
 */
async function withLink(
  control: StubControl,
  options: Partial<DeskLinkOptions> = {},
) {
  const dir = await tempDir();
  const logPath = `${dir.path}/desk.log`;
  const controlPath = `${dir.path}/control.json`;
  const setControl = (next: StubControl) => {
    Deno.writeTextFileSync(`${controlPath}.tmp`, JSON.stringify(next));
    Deno.renameSync(`${controlPath}.tmp`, controlPath);
  };
  setControl(control);
  Deno.writeTextFileSync(logPath, "");
  const reports: Report[] = [];
  const holds: { hold: boolean; alive: number[] }[] = [];
  const events = (): Event[] =>
    Deno.readTextFileSync(logPath).split("\n").filter((l) => l !== "").map((line) => {
      const [pid, event, kind, id, early] = line.split(" ");
      return {
        pid: Number(pid),
        event,
        kind,
        id: id === undefined ? undefined : Number(id),
        early: early === "early",
      };
    });
  const started = () => events().filter((e) => e.event === "start").map((e) => e.pid);
  // Read at each start: a test may change it meanwhile.
  const launch = {
    command: Deno.execPath(),
    args: ["run", "--no-prompt", "--allow-read", "--allow-write", "--allow-env", STUB_DESK],
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? dir.path,
      DENO_DIR: denoDir(),
      NO_COLOR: "1",
      STUB_DESK_LOG: logPath,
      STUB_DESK_CONTROL: controlPath,
    },
    token: TOKEN,
  };
  const link = new DeskLink({
    launch,
    onReport: (report) => reports.push(report),
    holdSpares: (hold) => holds.push({ hold, alive: started().filter(isAlive) }),
    random: () => 0,
    terminateGraceMs: 2000,
    ...options,
  });
  /** Waits, with a deadline, until `check` holds. */
  const until = (check: () => boolean, description: string, timeoutMs = 20_000) =>
    waitUntil(() => check() || undefined, { timeoutMs, description });
  const has = (report: Report) => reports.some((r) => JSON.stringify(r) === JSON.stringify(report));
  const jobsOf = (pid: number) =>
    events().filter((e) => e.pid === pid && e.event === "job").map((e) => `${e.kind} ${e.id}`);
  /** The pid of the desk that logged `ready` as the `n`th (from 1). */
  const readyPid = async (n: number) => {
    await until(() => events().filter((e) => e.event === "ready").length >= n, `desk ${n} ready`);
    return events().filter((e) => e.event === "ready")[n - 1].pid;
  };
  return {
    link,
    launch,
    reports,
    holds,
    events,
    started,
    setControl,
    until,
    has,
    jobsOf,
    readyPid,
    async [Symbol.asyncDispose]() {
      try {
        await link.terminate();
        const left = started().filter(isAlive);
        assert.deepEqual(left, [], "no desk outlives terminate()");
      } finally {
        killAll(started());
        await dir[Symbol.asyncDispose]();
      }
    },
  };
}

Deno.test("DeskLink delivers jobs sent before the desk is ready once it is, in the desk role", async () => {
  await using t = await withLink({ holdReady: true });
  t.link.start();
  t.link.send(ack(1));
  t.link.send(answer(2));
  await t.until(
    () => t.events().filter((e) => e.event === "hold").length >= 2,
    "the desk to load and hold",
  );
  assert.equal(t.link.pending, 2);
  const [start] = t.events();
  assert.deepEqual([start.event, start.kind], ["start", "desk"], "told the desk role first");
  assert.equal(start.id, TOKEN.length, "and the token, on its stdin");
  assert.ok(!t.events().some((e) => e.event === "job"), "no job while it is not ready");
  t.setControl({});
  await t.until(() => t.has(acked(1)) && t.has(done(2)), "both reports");
  const [pid] = t.started();
  assert.deepEqual(t.jobsOf(pid), ["ack 1", "command 2"]);
  assert.ok(!t.events().some((e) => e.early), "no job was written before the ready report");
  assert.equal(t.link.pending, 0);
  assert.deepEqual(t.link.pids, [pid]);
  t.link.send(ack(3));
  await t.until(() => t.has(acked(3)), "a job sent once it is ready");
  assert.deepEqual(t.reports, [acked(1), done(2), acked(3)]);
});

Deno.test("DeskLink restarts a desk killed with SIGKILL and hands its unreported jobs to the next", async () => {
  await using t = await withLink({ silent: true });
  t.link.start();
  const first = await t.readyPid(1);
  t.link.send(ack(1));
  t.link.send(answer(2));
  await t.until(() => t.jobsOf(first).length === 2, "the first desk to get both jobs");
  assert.equal(t.link.pending, 2, "unreported jobs are kept");
  t.setControl({});
  Deno.kill(first, "SIGKILL");
  await t.until(() => t.has(acked(1)) && t.has(done(2)), "the next desk's reports");
  const second = await t.readyPid(2);
  assert.notEqual(second, first);
  assert.deepEqual(t.jobsOf(second), ["ack 1", "command 2"]);
  assert.equal(isAlive(first), false);
  assert.deepEqual(t.link.pids, [second]);
  assert.equal(t.link.pending, 0);
  assert.equal(t.reports.length, 2, "one death gives up nothing: no report but the desk's");
  assert.equal(t.holds.length, 0, "a restart is not a recycling: spares are not held");
});

Deno.test("DeskLink hands on the job a desk died on, and every job is reported", async () => {
  await using t = await withLink({ dieAfter: 2 });
  t.link.start();
  for (const id of [1, 2, 3]) t.link.send(ack(id));
  await t.until(() => [1, 2, 3].every((id) => t.has(acked(id))), "every report");
  // Once each: a desk's last reports are read before its exit hands its jobs on.
  assert.deepEqual(
    t.reports.map((r) => JSON.stringify(r)).sort(),
    [1, 2, 3].map((id) => JSON.stringify(acked(id))),
  );
  const [first, second] = t.started();
  assert.deepEqual(t.jobsOf(first), ["ack 1", "ack 2"], "it died on its second job");
  assert.deepEqual(t.jobsOf(second).slice(0, 1), ["ack 2"], "that job went first to the next");
  assert.equal(t.link.pending, 0);
});

Deno.test("DeskLink gives up a job that killed three desks, and goes on with the next desk", async () => {
  await using t = await withLink({ dieOn: [5] });
  t.link.start();
  t.link.send(answer(5));
  // Given up is done with, for whoever waits on it: reported done.
  await t.until(() => t.has(done(5)), "the job to be given up");
  const holders = t.events().filter((e) => e.event === "job" && e.id === 5).map((e) => e.pid);
  assert.equal(holders.length, 3, "three desks got it");
  assert.equal(new Set(holders).size, 3, "each a different process");
  assert.equal(t.link.pending, 0);
  assert.deepEqual(t.reports, [done(5)], "no desk reported it: the link did, once");
  t.link.send(ack(6));
  await t.until(() => t.has(acked(6)), "the fourth desk to take the next job");
  assert.equal(t.started().length, 4);
  assert.deepEqual(t.link.pids, [t.started()[3]]);
});

Deno.test("DeskLink recycles a desk after recycleAfter jobs, holding spares while two are alive, losing no job", async () => {
  // A death limit of 1: a recycled desk's jobs, if counted as deaths, would be given up at once.
  await using t = await withLink({}, { recycleAfter: 3, jobDeathLimit: 1 });
  t.link.start();
  const old = await t.readyPid(1);
  t.link.send(ack(1));
  t.link.send(ack(2));
  await t.until(() => t.has(acked(1)) && t.has(acked(2)), "the first two reports");
  assert.equal(t.holds.length, 0);
  // From here the old desk reports nothing, and its successor loads until told.
  t.setControl({ holdReady: true, silentPids: [old] });
  t.link.send(ack(3)); // its third job: a successor starts
  t.link.send(ack(4)); // the successor isn't ready: this one goes to the old desk too
  await t.until(() => t.started().length === 2, "the successor to start");
  await t.until(() => t.jobsOf(old).length === 4, "the old desk to get jobs 3 and 4");
  const successor = t.started()[1];
  assert.deepEqual(t.holds.map((h) => h.hold), [true], "spares held while two desks are alive");
  assert.deepEqual(t.link.pids.sort(), [old, successor].sort());
  assert.equal(t.link.pending, 2);
  t.setControl({});
  await t.until(() => t.has(acked(3)) && t.has(acked(4)), "jobs 3 and 4 to be reported");
  assert.deepEqual(t.jobsOf(successor), ["ack 3", "ack 4"], "handed on by the old desk's exit");
  assert.ok(t.events().some((e) => e.pid === old && e.event === "eof"), "the old desk got EOF");
  await t.until(() => t.holds.length === 2, "spares to be let go");
  assert.deepEqual(t.holds[1], { hold: false, alive: [successor] }, "after the old desk exited");
  assert.deepEqual(t.link.pids, [successor]);
  assert.deepEqual(
    t.reports.map((r) => JSON.stringify(r)).sort(),
    [1, 2, 3, 4].map((id) => JSON.stringify(acked(id))),
    "each job reported once: a recycled desk's jobs are not given up as deaths",
  );
  assert.equal(t.link.pending, 0);
});

Deno.test("DeskLink: a replacement that can't start leaves the desk on and is tried again after as many jobs, without an error", async () => {
  await using log = await captureLog();
  await using t = await withLink({}, { recycleAfter: 2 });
  t.link.start();
  const desk = await t.readyPid(1);
  const deno = t.launch.command;
  t.launch.command = "/nonexistent/deno";
  for (const id of [1, 2, 3]) t.link.send(ack(id)); // the 2nd: a replacement can't start
  await t.until(() => [1, 2, 3].every((id) => t.has(acked(id))), "the desk to go on");
  assert.deepEqual(t.link.pids, [desk]);
  const tries = log.lines.filter((l) => /WRN.*cannot start the desk's replacement/.test(l));
  assert.equal(tries.length, 1, "tried once, not at each job after");
  assert.ok(!log.lines.some((l) => /ERR/.test(l)), log.lines.join(""));
  t.launch.command = deno;
  t.link.send(ack(4)); // the 2nd job since
  await t.until(() => t.started().length === 2, "the replacement to start");
  await t.until(() => t.has(acked(4)), "job 4 to be reported");
});

Deno.test("DeskLink.terminate() stops every desk, one that ignores SIGTERM included", async (t) => {
  await t.step("a desk and a successor still loading", async () => {
    await using link = await withLink({}, { recycleAfter: 1 });
    link.link.start();
    await link.readyPid(1);
    link.setControl({ holdReady: true });
    link.link.send(ack(1));
    await link.until(() => link.started().length === 2, "the successor to start");
    assert.equal(link.link.pids.length, 2);
    const pids = link.started();
    await link.link.terminate();
    assert.deepEqual(pids.filter(isAlive), []);
    // Forgotten as each exit is handled, once its last reports are read: a moment later.
    await link.until(() => link.link.pids.length === 0, "the link to forget them", 2000);
  });

  await t.step("a desk that ignores SIGTERM is killed after the grace period", async () => {
    await using link = await withLink({ ignoreTerm: true }, { terminateGraceMs: 100 });
    link.link.start();
    const pid = await link.readyPid(1);
    await link.link.terminate();
    assert.equal(isAlive(pid), false);
    assert.ok(link.events().some((e) => e.event === "sigterm"), "it got the SIGTERM first");
  });
});
