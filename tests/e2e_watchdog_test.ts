/**
 * End to end: supervision. The test plays systemd's part with a datagram socket of its own as
 * `$NOTIFY_SOCKET`, and reads what the real bot tells it.
 */

import assert from "node:assert/strict";
import {
  brainLog,
  denoDir,
  isAlive,
  messageIdOf,
  openGate,
  projectPath,
  reacted,
  repliedTo,
  tempDir,
  waitUntil,
  withBot,
} from "./_helpers.ts";
import { FakeSystemd } from "./_systemd.ts";

const CHAT = 1001;

/**
 * The watchdog interval the tests give the bot: 3 s, so pings come every 1.5 s (with room for a
 * loaded test machine).
 */
const WATCHDOG_USEC = "3000000";
const WATCHDOG_MS = 3000;
/** The bot pings at half the watchdog interval. */
const PING_MS = WATCHDOG_MS / 2;
/** The bot's environment for these tests, with the fake systemd's socket. */
function watchdogEnv(systemd: FakeSystemd) {
  return { NOTIFY_SOCKET: systemd.path, WATCHDOG_USEC, COORD_POLL_TIMEOUT_S: "1" };
}

Deno.test("the bot tells systemd READY once it polls, WATCHDOG on a timer while a brain hangs past the interval, and STOPPING on SIGTERM", async () => {
  await using dir = await tempDir();
  await using systemd = new FakeSystemd(`${dir.path}/notify.sock`);
  await withBot({ env: watchdogEnv(systemd) }, async (sim, bot) => {
    const [ready] = await systemd.waitFor("READY=1");
    // Ready when the loop starts polling, not when Telegram answers (e2e_supervision_test.ts):
    // the status says which, and follows Telegram's first answer by itself.
    assert.match(ready.text, /STATUS=(connecting to Telegram|polling); 0 of 4 brains busy/);
    await waitUntil(
      () => systemd.messages.find((m) => /^STATUS=polling; 0 of 4 brains busy/m.test(m.text)),
      { description: "STATUS=polling" },
    );
    assert.ok(sim.calls.some((c) => c.method === "getUpdates" && c.status === 200));

    const id = messageIdOf(sim.sendText(CHAT, "gate hanging"));
    await waitUntil(() => (brainLog(bot).length > 0 ? true : undefined), {
      description: "the brain to start",
    });
    const before = systemd.with("WATCHDOG=1").length;
    const hungAt = performance.timeOrigin + performance.now();
    // Pings every half interval while the brain hangs for longer than the interval.
    await systemd.waitFor("WATCHDOG=1", before + 4);
    const pings = systemd.with("WATCHDOG=1").filter((m) => m.at >= hungAt);
    assert.ok(pings.at(-1)!.at - hungAt > WATCHDOG_MS, "the brain has hung past the interval");
    for (let i = 1; i < pings.length; i++) {
      const gap = pings[i].at - pings[i - 1].at;
      assert.ok(gap < WATCHDOG_MS, `never an interval without a ping (a gap of ${gap} ms)`);
    }
    const busy = systemd.with("WATCHDOG=1").at(-1)!;
    assert.match(busy.text, /STATUS=polling; 1 of 4 brains busy; 0 waiting; last update 1/);
    assert.ok(!brainLog(bot).some((l) => l.startsWith("end")), "the brain still hangs");

    bot.kill("SIGTERM");
    assert.equal((await bot.exited()).code, 0);
    const [stopping] = await systemd.waitFor("STOPPING=1");
    assert.ok(stopping.at > busy.at);
    assert.equal(systemd.with("READY=1").length, 1);
    // Nothing went with --no-block: the helper waited for every message to be read.
    assert.ok(systemd.barriers >= systemd.messages.length - 1, `${systemd.barriers} barriers`);
    const order = systemd.messages.map((m) => m.text.split("\n")[0]);
    assert.equal(order[0], "READY=1");
    assert.equal(order.at(-1), "STOPPING=1");
    // The hanging message was not answered: it stays in the journal for the next start.
    assert.equal(sim.calls.filter(repliedTo(CHAT, id)).length, 0);
  });
});

Deno.test("a stalled loop stops the watchdog pings and turns the health check stale; a hung brain alone does not", async () => {
  await using dir = await tempDir();
  await using systemd = new FakeSystemd(`${dir.path}/notify.sock`);
  await withBot({ env: watchdogEnv(systemd) }, async (sim, bot) => {
    const health = () => runHealth(bot.dirs.state, "4");
    await systemd.waitFor("READY=1");
    // A brain that hangs: pings go on, and health stays fresh.
    const id = messageIdOf(sim.sendText(CHAT, "gate stuck"));
    await sim.waitForCall(reacted(CHAT, id, "👀"));
    const pingsBefore = systemd.with("WATCHDOG=1").length;
    await systemd.waitFor("WATCHDOG=1", pingsBefore + 3);
    const fresh = await health();
    assert.equal(fresh.code, 0, fresh.line);
    assert.match(fresh.line, /^healthy: heartbeat [\d.]+ s old \(threshold 4 s\)$/);

    // The loop itself stalls (the process is stopped): health turns stale, and no ping comes.
    Deno.kill(bot.process.pid, "SIGSTOP");
    const stoppedAt = performance.timeOrigin + performance.now();
    try {
      const stale = await waitUntil(async () => {
        const result = await health();
        return result.code === 1 ? result : undefined;
      }, { description: "the health check to turn stale" });
      assert.match(stale.line, /^unhealthy: heartbeat [\d.]+ s old, over the threshold of 4 s$/);
      // Proving an absence: a stopped process makes no event to wait for. It stays stopped for
      // two and a half ping intervals at least, so that anything still pinging is heard twice.
      const left = stoppedAt + 2.5 * PING_MS - (performance.timeOrigin + performance.now());
      if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
    } finally {
      Deno.kill(bot.process.pid, "SIGCONT");
    }
    const resumedAt = performance.timeOrigin + performance.now();
    // Counted, not timed: the bot sends one notification at a time, each through a systemd-notify
    // child that the stop doesn't reach, and starts the next only once that child has ended. So
    // at most the one already under way may arrive while the bot is stopped; anything more came
    // from a process that goes on pinging while the loop's own process is stopped.
    const during = systemd.messages.filter((m) => m.at > stoppedAt && m.at < resumedAt);
    assert.ok(during.length <= 1, `no ping from a stopped bot: ${JSON.stringify(during)}`);

    // It comes back: pings resume and health is fresh again.
    const resumed = systemd.with("WATCHDOG=1").length;
    await systemd.waitFor("WATCHDOG=1", resumed + 1);
    await waitUntil(async () => ((await health()).code === 0 ? true : undefined), {
      description: "health to be fresh again",
    });
    openGate(bot, "stuck");
    await sim.waitForCall(repliedTo(CHAT, id));
  });
});

Deno.test("a loop stuck in a getUpdates that doesn't return stops the pings within one watchdog interval, though the process runs on", async () => {
  await using dir = await tempDir();
  await using systemd = new FakeSystemd(`${dir.path}/notify.sock`);
  await withBot({ env: watchdogEnv(systemd) }, async (sim, bot) => {
    await systemd.waitFor("READY=1");
    await systemd.waitFor("WATCHDOG=1", 2);
    // The stall is the stimulus: one getUpdates answered only after three watchdog intervals.
    const stallMs = 3 * WATCHDOG_MS;
    sim.injectFault({ method: "getUpdates", fault: { kind: "delay", ms: stallMs } });
    const stuck = await sim.waitForCall((c) => c.method === "getUpdates" && c.fault === "delay", {
      includePending: true,
      description: "the getUpdates that stalls",
    });
    assert.equal(isAlive(bot.process.pid), true, "the process runs on");
    // The loop comes round again once that call is answered: the pings resume. The recorded
    // pings, not a wait for silence, then show the gap.
    const next = await sim.waitForCall((c) => c.method === "getUpdates" && c.seq > stuck.seq, {
      includePending: true,
      timeoutMs: stallMs + 20_000,
      description: "the getUpdates after the stalled one",
    });
    await waitUntil(() => systemd.with("WATCHDOG=1").find((m) => m.at > next.at), {
      description: "a ping after the loop came round again",
    });
    // The heartbeat was written just before the stalled call. Pings may go on until it is older
    // than the interval, plus one tick (half the interval) and the helper's delivery; then none
    // until the answer (at stallMs). A timer pinging regardless of the loop would ping in there.
    const quietFrom = stuck.at + WATCHDOG_MS + PING_MS + 500;
    const quietUntil = stuck.at + stallMs;
    const during = systemd.with("WATCHDOG=1").filter((m) => m.at > quietFrom && m.at < quietUntil);
    assert.deepEqual(during, [], "no ping while the loop was stuck");
  });
});

Deno.test("the health check reports a missing heartbeat and bad arguments clearly", async () => {
  await using dir = await tempDir();
  const missing = await runHealth(`${dir.path}/nowhere`, "5");
  assert.equal(missing.code, 1);
  assert.match(missing.line, /^unhealthy: no heartbeat at .*nowhere\/heartbeat \(threshold 5 s\)$/);
  const bad = await runHealthWith(dir.path, ["--max-age", "soon"]);
  assert.equal(bad.code, 64);
  assert.match(bad.line, /usage: health \[--max-age SECONDS\]/);
});

/** Runs `deno task health` as written in deno.json, against a state folder. */
function runHealth(stateDir: string, maxAge: string) {
  return runHealthWith(stateDir, ["--max-age", maxAge]);
}

async function runHealthWith(stateDir: string, extra: string[]) {
  const config = JSON.parse(Deno.readTextFileSync(projectPath("deno.json")));
  const args = String(config.tasks.health).split(/\s+/).slice(1);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...args, ...extra],
    cwd: projectPath(""),
    env: { COORD_STATE_DIR: stateDir, DENO_DIR: denoDir(), PATH: Deno.env.get("PATH") ?? "" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.code === 64 ? out.stderr : out.stdout).trim();
  return { code: out.code, line: text };
}

Deno.test("the unit is Type=notify with a watchdog longer than the longest turn of the loop", () => {
  const unit = Deno.readTextFileSync(projectPath("systemd/forge-coordinator.service"));
  const value = (key: string) => unit.match(new RegExp(`^${key}=(.*)$`, "m"))?.[1];
  assert.equal(value("Type"), "notify");
  assert.equal(value("NotifyAccess"), "all");
  const watchdogS = Number(value("WatchdogSec")?.replace(/s$/, ""));
  // The longest turn: the default long poll (30 s) plus the request's 10 s of slack.
  assert.ok(watchdogS > 30 + 10, `WatchdogSec=${watchdogS}`);
  assert.equal(value("Restart"), "on-failure");
});
