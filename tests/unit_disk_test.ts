/**
 * Unit tests for `lib/loop/disk.ts`: the scheduler's writes with the disk as a fault. The logic
 * (what is owed, when it is retried, what `failing` says, what the log says) against a journal
 * whose writes fail on demand, with a clock moved by hand and short real retry timers waited for
 * as events; then the real thing, as root: a small tmpfs filled up and remounted read-only, and a
 * state folder deleted.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Disk, type DiskOptions } from "../lib/loop/disk.ts";
import { Journal } from "../lib/shared/journal.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import { recordingLog, tempDir, textUpdate, trackTimers, waitUntil } from "./_helpers.ts";
import { FaultyJournal, readOnly } from "./_scheduler_rig.ts";

const T0 = Date.parse("2025-03-01T12:00:00.000Z");

function entry(updateId: number, patch: Partial<JournalEntry> = {}): JournalEntry {
  return {
    updateId,
    chatId: 1001,
    update: textUpdate(updateId),
    stage: "received",
    dispatches: 0,
    receivedAt: new Date(T0).toISOString(),
    ...patch,
  };
}

/** A disk on a faulty journal in a temp dir, a clock at `clock.now`; stopped on dispose. */
async function rig(options: Partial<DiskOptions> = {}) {
  const dir = await tempDir();
  const tried: string[] = [];
  const journal = new FaultyJournal(`${dir.path}/journal`, tried);
  journal.open();
  const { log, lines } = recordingLog();
  const clock = { now: T0 };
  const disk = new Disk({ journal, log, now: () => clock.now, retryMs: 10, ...options });
  return {
    dir,
    journal,
    /** The writes tried, in order. */
    tried,
    lines,
    clock,
    disk,
    /** The log's lines of `level`, their messages. */
    said: (level: string) => lines.filter((l) => l.level === level).map((l) => l.message),
    async [Symbol.asyncDispose]() {
      disk.stop();
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("Disk.record() journals a new update: new, known when it is there, failed when the disk refuses", async () => {
  await using r = await rig();
  const update = textUpdate(5);
  assert.equal(r.disk.record(update, { updateId: 5, chatId: 1001 }), "new");
  assert.equal(r.journal.read(5)?.stage, "received");
  assert.equal(r.disk.record(update, { updateId: 5, chatId: 1001 }), "known");
  r.journal.fault = readOnly();
  assert.equal(r.disk.record(textUpdate(6), { updateId: 6, chatId: 1001 }), "failed");
  assert.equal(r.journal.read(6), undefined);
});

Deno.test("Disk.save() and remove() write at once when the disk lets them, and nothing is failing", async () => {
  await using r = await rig();
  r.disk.save(entry(5, { stage: "started" }));
  assert.equal(r.journal.read(5)?.stage, "started");
  r.disk.remove(5);
  assert.equal(r.journal.read(5), undefined);
  assert.equal(r.disk.failing, undefined);
  assert.deepEqual(r.lines, []);
});

Deno.test("Disk owes a write the disk refused, says since when and why it fails, and retries it until it is done", async () => {
  await using r = await rig();
  r.journal.fault = readOnly();
  r.disk.save(entry(5, { stage: "started" }));
  assert.deepEqual(r.disk.failing, {
    since: "2025-03-01T12:00:00.000Z",
    error: "PermissionDenied: Read-only file system (os error 30)",
  });
  assert.equal(r.said("error").length, 1, "said once");
  // The retries keep failing, and are not each logged.
  await waitUntil(() => r.tried.length >= 3, { timeoutMs: 5000, description: "retries" });
  assert.ok(r.tried.every((t) => t === "put 5 started"), r.tried.join(", "));
  assert.equal(r.said("error").length, 1, "a failing spell is told once");

  r.clock.now += 5000;
  r.journal.fault = undefined;
  await waitUntil(() => r.journal.read(5)?.stage === "started", {
    timeoutMs: 5000,
    description: "the owed write",
  });
  assert.equal(r.disk.failing, undefined);
  assert.ok(
    r.lines.some((l) => /can be written again/.test(l.message) && l.props.seconds === 5),
    "the recovery is told, with how long it took",
  );
});

Deno.test("Disk owes only the latest write of a message: a removal after saves is all that is done", async () => {
  await using r = await rig({ retryMs: 3_600_000 });
  r.disk.save(entry(5, { stage: "started" }));
  r.journal.fault = readOnly();
  r.disk.save(entry(5, { stage: "brain" }));
  r.disk.save(entry(5, { stage: "answered" }));
  r.disk.remove(5);
  r.journal.fault = undefined;
  r.tried.length = 0;
  // Any write that succeeds pays what is owed, without waiting for the retry.
  assert.equal(r.disk.record(textUpdate(6), { updateId: 6, chatId: 1001 }), "new");
  assert.deepEqual(r.tried, ["record 6", "finish 5"]);
  assert.equal(r.journal.read(5), undefined);
});

Deno.test("Disk pays what is owed in order, and stops at the first write still refused", async () => {
  await using r = await rig({ retryMs: 3_600_000 });
  r.journal.fault = readOnly();
  r.disk.save(entry(5));
  r.disk.save(entry(6));
  r.journal.fault = undefined;
  r.disk.save(entry(7));
  assert.deepEqual(r.tried.slice(-3), [
    "put 5 received",
    "put 6 received",
    "put 7 received",
  ]);
  assert.deepEqual([5, 6, 7].map((id) => r.journal.read(id)?.updateId), [5, 6, 7]);
  assert.equal(r.disk.failing, undefined);
});

Deno.test("Disk with nothing owed probes the folder, so that a recovery is seen", async () => {
  await using r = await rig();
  r.journal.fault = readOnly();
  assert.equal(r.disk.record(textUpdate(6), { updateId: 6, chatId: 1001 }), "failed");
  assert.notEqual(r.disk.failing, undefined);
  r.journal.fault = undefined;
  await waitUntil(() => r.disk.failing === undefined, { timeoutMs: 5000, description: "recovery" });
  assert.ok(r.tried.includes("probe"));
  assert.deepEqual([...Deno.readDirSync(r.journal.dir)], [], "the probe leaves nothing");
});

Deno.test("Disk says plainly, once, when the disk has failed for alarmAfterMs", async () => {
  await using r = await rig({ retryMs: 3_600_000, alarmAfterMs: 60_000 });
  r.journal.fault = readOnly();
  r.disk.save(entry(5));
  r.clock.now += 59_999;
  r.disk.save(entry(6));
  assert.equal(r.said("error").length, 1);
  r.clock.now += 1;
  r.disk.save(entry(7));
  r.disk.save(entry(8));
  const errors = r.lines.filter((l) => l.level === "error");
  assert.equal(errors.length, 2, "the alarm, once");
  assert.match(errors[1].message, /has not been writable for \{seconds\} s/);
  assert.equal(errors[1].props.seconds, 60);
});

Deno.test("Disk.write() runs another write of the state folder (the offset), true when it could", async () => {
  await using r = await rig();
  assert.equal(r.disk.write((journal) => journal.writeOffset(42)), true);
  assert.equal(r.journal.readOffset(), 42);
  assert.equal(
    r.disk.write(() => {
      throw readOnly();
    }),
    false,
  );
  assert.notEqual(r.disk.failing, undefined);
});

Deno.test("Disk.stop() leaves nothing to happen: no retry timer", async () => {
  await using r = await rig({ retryMs: 3_600_000 });
  using timers = trackTimers();
  r.journal.fault = readOnly();
  r.disk.save(entry(5));
  assert.equal(timers.pending, 1, "a retry is due");
  r.disk.stop();
  assert.equal(timers.pending, 0);
});

Deno.test("Disk makes a deleted state folder again, and the write goes through", async () => {
  await using dir = await tempDir();
  const state = `${dir.path}/state`;
  const journal = new Journal(`${state}/journal`, { durable: true });
  journal.open();
  const { log, lines } = recordingLog();
  const disk = new Disk({ journal, log, retryMs: 3_600_000 });
  try {
    Deno.removeSync(state, { recursive: true });
    assert.equal(disk.record(textUpdate(5), { updateId: 5, chatId: 1001 }), "new");
    assert.equal(journal.read(5)?.stage, "received");
    Deno.removeSync(state, { recursive: true });
    disk.save(entry(5, { stage: "started" }));
    assert.equal(journal.read(5)?.stage, "started");
    Deno.removeSync(state, { recursive: true });
    assert.equal(disk.write((j) => j.writeOffset(9)), true);
    assert.equal(journal.readOffset(), 9);
    assert.equal(disk.failing, undefined);
    assert.deepEqual(lines, [], "not a failure");
    assert.equal(Deno.statSync(state).mode! & 0o777, 0o700, "made again private");
  } finally {
    disk.stop();
  }
});

// ---- a real file system: a small tmpfs, full, then read-only (root only) ---------------------------

const ROOT = Deno.uid() === 0;

/** A 64 KiB tmpfs at a temp dir, unmounted on dispose. */
async function tmpfs() {
  const dir = await tempDir();
  const run = (...args: string[]) => {
    const out = new Deno.Command(args[0], { args: args.slice(1), stderr: "piped" }).outputSync();
    if (!out.success) throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  };
  run("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", dir.path);
  return {
    path: dir.path,
    readOnly: (ro: boolean) => run("mount", "-o", `remount,${ro ? "ro" : "rw"}`, dir.path),
    /** Fills the file system up with `filler`; returns its path. */
    fill() {
      const path = `${dir.path}/filler`;
      using file = Deno.openSync(path, { write: true, create: true });
      const chunk = new Uint8Array(4096);
      try {
        while (true) file.writeSync(chunk);
      } catch {
        // Full.
      }
      return path;
    },
    async [Symbol.asyncDispose]() {
      try {
        run("umount", dir.path);
      } finally {
        await dir[Symbol.asyncDispose]();
      }
    },
  };
}

/** The names in a folder that are temporary files of failed writes. */
function temporaries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /\.tmp-\d+$/.test(n));
}

Deno.test({
  name:
    "Disk on a full file system: nothing half-written left behind, the owed write done once there is room",
  ignore: !ROOT,
  async fn() {
    await using fs = await tmpfs();
    const journal = new Journal(`${fs.path}/journal`, { durable: true });
    journal.open();
    const { log } = recordingLog();
    const disk = new Disk({ journal, log, retryMs: 10 });
    try {
      // An entry larger than a page: its write needs room the full disk no longer has.
      const big = entry(5, { stage: "started", lastEnd: "x".repeat(10_000) });
      const filler = fs.fill();
      disk.save(big);
      assert.match(disk.failing?.error ?? "", /No space left on device/);
      assert.deepEqual(temporaries(journal.dir), [], "the failed write's temp file is gone");
      assert.equal(journal.read(5), undefined);
      Deno.removeSync(filler);
      await waitUntil(() => journal.read(5)?.lastEnd === big.lastEnd, {
        timeoutMs: 5000,
        description: "the owed write, once there is room",
      });
      assert.equal(disk.failing, undefined);
      assert.deepEqual(temporaries(journal.dir), []);
    } finally {
      disk.stop();
    }
  },
});

Deno.test({
  name:
    "Disk on a file system remounted read-only: failing, owed, and written once it is writable again",
  ignore: !ROOT,
  async fn() {
    await using fs = await tmpfs();
    const journal = new Journal(`${fs.path}/journal`, { durable: true });
    journal.open();
    const { log } = recordingLog();
    const disk = new Disk({ journal, log, retryMs: 10 });
    try {
      assert.equal(disk.record(textUpdate(5), { updateId: 5, chatId: 1001 }), "new");
      fs.readOnly(true);
      assert.equal(disk.record(textUpdate(6), { updateId: 6, chatId: 1001 }), "failed");
      disk.save(entry(5, { stage: "started" }));
      disk.remove(4);
      assert.match(disk.failing?.error ?? "", /Read-only file system/);
      assert.equal(journal.read(5)?.stage, "received", "as it was");
      fs.readOnly(false);
      await waitUntil(() => journal.read(5)?.stage === "started", {
        timeoutMs: 5000,
        description: "the owed write",
      });
      assert.equal(disk.failing, undefined);
      assert.equal(journal.read(6), undefined, "a failed record is not owed: the loop asks again");
      assert.deepEqual(temporaries(journal.dir), []);
    } finally {
      disk.stop();
      try {
        fs.readOnly(false);
      } catch {
        // Writable already.
      }
    }
  },
});
