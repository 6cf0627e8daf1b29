import assert from "node:assert/strict";
import { SpoolReader, type SpoolReaderOptions } from "../lib/loop/spool.ts";
import { Journal } from "../lib/shared/journal.ts";
import { type JournalEntry, SPOOL_ID_BASE } from "../lib/shared/journal_entry.ts";
import { sendDir } from "../lib/shared/outgoing_files.ts";
import { spoolDirs, writeJob } from "../lib/shared/spool_job.ts";
import { recordingLog, tempDir, trackTimers, waitUntil } from "./_helpers.ts";

const NOW = 1_800_000_000_000;

/** A reader of a spool in `state`, its journal real (not durable), its disk refusing when told. */
function rig(state: string, options: Partial<SpoolReaderOptions> = {}) {
  const journal = new Journal(`${state}/journal`, { durable: false });
  journal.open();
  const taken: JournalEntry[] = [];
  const disk = { refusing: false };
  const { log, lines } = recordingLog();
  const reader = new SpoolReader({
    stateDir: state,
    disk: {
      write: (fn) => {
        if (disk.refusing) return false;
        fn(journal);
        return true;
      },
    },
    chats: { authorized: new Set([1001]) },
    journaled: new Set(),
    lastUpdateId: () => 41,
    take: (entry) => taken.push(entry),
    log,
    now: () => NOW,
    retryMs: 10,
    ...options,
  });
  return { reader, journal, taken, disk, lines };
}

function names(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

Deno.test("SpoolReader takes a send: journaled under an id of its own, its files in send/<id>, then handed on", async () => {
  await using dir = await tempDir();
  const state = `${dir.path}/state`;
  await Deno.writeTextFile(`${dir.path}/a.txt`, "hello");
  writeJob(state, { kind: "send", chatId: 1001, text: "done" }, {
    files: [{ path: `${dir.path}/a.txt`, name: "a.txt", kind: "document" }],
  });
  const { reader, journal, taken } = rig(state);
  reader.start();
  assert.equal(taken.length, 1);
  const [entry] = taken;
  assert.equal(entry.updateId, SPOOL_ID_BASE + NOW * 1000);
  assert.deepEqual(journal.read(entry.updateId), entry, "journaled before it is handed on");
  assert.equal(entry.stage, "answered");
  assert.deepEqual(entry.spool, { kind: "send", order: 41.5 });
  assert.deepEqual(entry.answer?.files, [
    { path: `${sendDir(state, entry.updateId)}/1-a.txt`, name: "a.txt", kind: "document" },
  ]);
  assert.deepEqual(names(sendDir(state, entry.updateId)), ["1-a.txt"], "its job.json is gone");
  assert.deepEqual(names(spoolDirs(state).new), []);
});

Deno.test("SpoolReader gives each job a higher id than any before, across restarts", async () => {
  await using dir = await tempDir();
  const state = `${dir.path}/state`;
  for (const text of ["one", "two", "three"]) writeJob(state, { kind: "ask", chatId: 1001, text });
  const first = rig(state);
  first.reader.start();
  const ids = first.taken.map((e) => e.updateId);
  assert.deepEqual(ids, [0, 1, 2].map((n) => SPOOL_ID_BASE + NOW * 1000 + n));
  assert.deepEqual(
    first.taken.map((e) => (e.update as { message: { text: string } }).message.text),
    [
      "one",
      "two",
      "three",
    ],
  );
  // An ask's folder goes once it is journaled: its brain gets it empty.
  for (const id of ids) assert.deepEqual(names(sendDir(state, id)), []);
  writeJob(state, { kind: "ask", chatId: 1001, text: "four" });
  const second = rig(state, { journaled: new Set(ids) });
  second.reader.start();
  assert.equal(second.taken[0].updateId, ids[2] + 1, "the clock stood still: still higher");
});

Deno.test("SpoolReader keeps a job the disk refused and journals it once the disk takes it", async () => {
  using timers = trackTimers();
  await using dir = await tempDir();
  const state = `${dir.path}/state`;
  writeJob(state, { kind: "send", chatId: 1001, text: "later" });
  const { reader, taken, disk } = rig(state);
  disk.refusing = true;
  reader.start();
  assert.equal(taken.length, 0);
  assert.equal(reader.waiting, 1);
  assert.equal(timers.pending, 1, "a retry is due");
  disk.refusing = false;
  await waitUntil(() => taken.length === 1 || undefined, { description: "the retry" });
  assert.equal(reader.waiting, 0);
  assert.equal(timers.pending, 0, "nothing left to happen");
});

Deno.test("SpoolReader at start: a job an earlier run moved but did not journal is taken; one it journaled only loses its job.json", async () => {
  await using dir = await tempDir();
  const state = `${dir.path}/state`;
  const job = { kind: "send", chatId: 1001, text: "x", files: [], createdAt: "" };
  for (const id of [SPOOL_ID_BASE + 5, SPOOL_ID_BASE + 6]) {
    await Deno.mkdir(sendDir(state, id), { recursive: true });
    await Deno.writeTextFile(`${sendDir(state, id)}/job.json`, JSON.stringify(job));
  }
  const { reader, taken } = rig(state, { journaled: new Set([SPOOL_ID_BASE + 5]) });
  reader.start();
  assert.deepEqual(taken.map((e) => e.updateId), [SPOOL_ID_BASE + 6]);
  assert.deepEqual(names(sendDir(state, SPOOL_ID_BASE + 5)), []);
});

Deno.test("SpoolReader sets aside a job it can't read, or for a chat it may not write to", async () => {
  await using dir = await tempDir();
  const state = `${dir.path}/state`;
  writeJob(state, { kind: "send", chatId: 2002, text: "not ours" });
  const broken = `${spoolDirs(state).new}/9.1.broken`;
  await Deno.mkdir(broken);
  await Deno.writeTextFile(`${broken}/job.json`, "{ not json");
  const { reader, taken, lines } = rig(state);
  reader.start();
  assert.equal(taken.length, 0);
  assert.equal(names(spoolDirs(state).bad).length, 2);
  assert.deepEqual(names(`${state}/send`), []);
  const errors = lines.filter((l) => l.level === "error").map((l) => String(l.props.error));
  assert.ok(errors.some((e) => /chat 2002 is not one the bot may write to/.test(e)), errors.join());
  assert.ok(errors.some((e) => /invalid JSON/.test(e)), errors.join());
});

Deno.test("SpoolReader leaves a fresh folder in tmp/ alone and removes one older than 36 h", async () => {
  await using dir = await tempDir();
  const state = `${dir.path}/state`;
  const { tmp } = spoolDirs(state);
  await Deno.mkdir(`${tmp}/fresh`, { recursive: true });
  await Deno.mkdir(`${tmp}/stale`, { recursive: true });
  const old = new Date(NOW - 37 * 3600_000);
  await Deno.utime(`${tmp}/stale`, old, old);
  await Deno.utime(`${tmp}/fresh`, new Date(NOW), new Date(NOW));
  rig(state).reader.start();
  assert.deepEqual(names(tmp), ["fresh"]);
});

Deno.test("SpoolReader.watch() takes what waits as it begins, then each job within moments of its arrival, and ends on abort", async () => {
  using timers = trackTimers();
  await using dir = await tempDir();
  const state = `${dir.path}/state`;
  writeJob(state, { kind: "send", chatId: 1001, text: "before" });
  const { reader, taken } = rig(state);
  const stop = new AbortController();
  const watching = reader.watch(stop.signal);
  await waitUntil(() => taken.length === 1 || undefined, { description: "the scan at the start" });
  // The watch is on: what comes now is seen by its event, no later scan is due.
  writeJob(state, { kind: "send", chatId: 1001, text: "after" });
  await waitUntil(() => taken.length === 2 || undefined, {
    description: "the job to be taken",
    timeoutMs: 1000,
  });
  assert.deepEqual(taken.map((e) => e.answer?.body), ["before", "after"]);
  stop.abort();
  await watching;
  assert.equal(timers.pending, 0, "nothing left to happen after the stop");
});
