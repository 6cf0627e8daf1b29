/**
 * Unit tests for `lib/loop/notify.ts`: the real `systemd-notify` helper against a datagram socket of
 * the test's own, playing systemd; the heartbeat's age on a fake clock.
 *
 * @module
 */

import assert from "node:assert/strict";
import { SystemdNotifier } from "../lib/loop/notify.ts";
import { tempDir, trackTimers, waitUntil } from "./_helpers.ts";

/** A notification socket that records every datagram. */
function fakeSystemd(path: string) {
  const conn = Deno.listenDatagram({ transport: "unixpacket", path });
  const messages: string[] = [];
  const done = (async () => {
    try {
      for await (const [data] of conn) messages.push(new TextDecoder().decode(data));
    } catch {
      // Closed.
    }
  })();
  return {
    messages,
    count: (assignment: string) =>
      messages.filter((m) => m.split("\n").includes(assignment)).length,
    async [Symbol.asyncDispose]() {
      conn.close();
      await done;
    },
  };
}

Deno.test("SystemdNotifier pings on a timer only while the heartbeat is fresh, and waits for systemd to read each message", async (t) => {
  await using dir = await tempDir();
  await using systemd = fakeSystemd(`${dir.path}/notify.sock`);
  let now = 0;
  const notifier = new SystemdNotifier({
    socket: `${dir.path}/notify.sock`,
    // 300 ms: a tick every 150 ms.
    watchdogUsec: "300000",
    maxBeatAgeMs: 1000,
    now: () => now,
  });
  const ticksReach = (n: number) =>
    waitUntil(() => (notifier.ticks >= n ? true : undefined), { description: `${n} ticks` });
  try {
    await t.step("READY, then pings with no loop turn in between", async () => {
      notifier.ready("starting");
      await waitUntil(() => (systemd.count("WATCHDOG=1") >= 3 ? true : undefined), {
        description: "three pings",
      });
      assert.equal(systemd.messages[0], "READY=1\nSTATUS=starting");
    });
    await t.step(
      "each message is followed by the helper's BARRIER=1: nothing sent with --no-block",
      () => {
        const sent = systemd.messages.filter((m) => m !== "BARRIER=1");
        const barriers = systemd.messages.filter((m) => m === "BARRIER=1");
        assert.ok(barriers.length >= sent.length - 1, systemd.messages.join(" | "));
        assert.equal(systemd.messages[1], "BARRIER=1");
      },
    );
    await t.step("the status is the loop's latest", async () => {
      notifier.alive("polling; 1 busy");
      const before = systemd.count("STATUS=polling; 1 busy");
      await waitUntil(() => (systemd.count("STATUS=polling; 1 busy") > before ? true : undefined), {
        description: "a ping with the new status",
      });
    });
    await t.step("a heartbeat older than maxBeatAgeMs: no more pings", async () => {
      now += 1001;
      // Let any ping already under way arrive, then watch three ticks send nothing.
      await ticksReach(notifier.ticks + 2);
      const pings = systemd.count("WATCHDOG=1");
      await ticksReach(notifier.ticks + 3);
      assert.equal(systemd.count("WATCHDOG=1"), pings);
    });
    await t.step("the loop comes round again: pings resume", async () => {
      notifier.alive("back");
      const pings = systemd.count("WATCHDOG=1");
      await waitUntil(() => (systemd.count("WATCHDOG=1") > pings ? true : undefined), {
        description: "a ping after the loop came back",
      });
    });
    await t.step("STOPPING ends the pings", async () => {
      notifier.stopping("bye");
      await notifier.flush();
      const ticks = notifier.ticks;
      const messages = systemd.messages.length;
      await waitUntil(() => (systemd.count("STOPPING=1") === 1 ? true : undefined), {
        description: "STOPPING",
      });
      assert.equal(notifier.ticks, ticks);
      assert.ok(systemd.messages.length <= messages + 1);
    });
  } finally {
    await notifier.flush();
  }
});

Deno.test("SystemdNotifier takes a heartbeat older than the watchdog interval as stale, whatever maxBeatAgeMs says", async () => {
  await using dir = await tempDir();
  await using systemd = fakeSystemd(`${dir.path}/notify.sock`);
  let now = 0;
  const notifier = new SystemdNotifier({
    socket: `${dir.path}/notify.sock`,
    watchdogUsec: "300000",
    maxBeatAgeMs: 120_000,
    now: () => now,
  });
  try {
    notifier.ready("ready");
    now = 301;
    await waitUntil(() => (notifier.ticks >= 3 ? true : undefined), { description: "3 ticks" });
    await notifier.flush();
    assert.equal(systemd.count("WATCHDOG=1"), 0);
  } finally {
    await notifier.flush();
  }
});

Deno.test("SystemdNotifier sends nothing without a socket, and no pings without WATCHDOG_USEC", async () => {
  await using dir = await tempDir();
  await using systemd = fakeSystemd(`${dir.path}/notify.sock`);
  const quiet = new SystemdNotifier({});
  quiet.ready("x");
  assert.equal(quiet.enabled, false);
  await quiet.flush();
  const noWatchdog = new SystemdNotifier({ socket: `${dir.path}/notify.sock` });
  noWatchdog.ready("ready");
  noWatchdog.alive("x");
  await noWatchdog.flush();
  await waitUntil(() => (systemd.count("READY=1") === 1 ? true : undefined), {
    description: "READY",
  });
  assert.equal(noWatchdog.ticks, 0);
  assert.equal(systemd.count("WATCHDOG=1"), 0);
});

Deno.test("SystemdNotifier sends STATUS= as soon as the status changes, at most once per interval, and nothing while it doesn't", async () => {
  await using dir = await tempDir();
  await using systemd = fakeSystemd(`${dir.path}/notify.sock`);
  let status = "connecting to Telegram";
  const notifier = new SystemdNotifier({
    socket: `${dir.path}/notify.sock`,
    status: () => status,
    statusEveryMs: 50,
  });
  try {
    notifier.ready();
    await waitUntil(() => systemd.count("READY=1") === 1, { description: "READY" });
    assert.equal(systemd.messages[0], "READY=1\nSTATUS=connecting to Telegram");
    status = "waiting for Telegram: connection refused";
    await waitUntil(
      () => systemd.messages.includes("STATUS=waiting for Telegram: connection refused"),
      { description: "the new status on its own" },
    );
    // Three changes within one interval: the last is sent, not each.
    status = "a";
    status = "b";
    status = "polling; 0 of 4 brains busy";
    await waitUntil(() => systemd.messages.includes("STATUS=polling; 0 of 4 brains busy"), {
      description: "the latest status",
    });
    await notifier.flush();
    const statuses = systemd.messages.filter((m) => m.startsWith("STATUS="));
    assert.deepEqual(statuses, [
      "STATUS=waiting for Telegram: connection refused",
      "STATUS=polling; 0 of 4 brains busy",
    ]);
  } finally {
    await notifier.flush();
  }
});

Deno.test("SystemdNotifier looks at the status only after READY, and no more after STOPPING", () => {
  using timers = trackTimers();
  const notifier = new SystemdNotifier({
    socket: "/nonexistent/notify.sock",
    command: "/nonexistent/systemd-notify",
    status: () => "x",
  });
  assert.equal(timers.pending, 0, "nothing before READY");
  notifier.ready();
  assert.equal(timers.pending, 1, "the status watch (no watchdog)");
  notifier.stopping("bye");
  assert.equal(timers.pending, 0);
});
