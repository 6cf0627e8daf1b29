/**
 * Unit tests for `lib/loop/finished_updates.ts`: the finished update ids, remembered for 24 hours,
 * bounded, kept across a restart in a real file, and kept in memory when the disk fails.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FinishedUpdates, type FinishedUpdatesOptions } from "../lib/loop/finished_updates.ts";
import { recordingLog, tempDir } from "./_helpers.ts";

const DAY = 24 * 60 * 60 * 1000;

/** A store in `path` with a clock moved by hand (`clock.ms`), and its log. */
function store(path: string, options: Partial<FinishedUpdatesOptions> = {}) {
  const clock = { ms: 1_800_000_000_000 };
  const { log, lines } = recordingLog();
  const finished = new FinishedUpdates({ path, log, now: () => clock.ms, ...options });
  return { finished, clock, lines };
}

Deno.test("FinishedUpdates remembers finished ids, and a restart (a new store on the file) still does", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/finished`;
  const first = store(path);
  first.finished.load();
  assert.equal(first.finished.has(41), false);
  first.finished.add(41);
  first.finished.add(42);
  assert.equal(first.finished.has(41), true);
  assert.equal(first.finished.has(43), false);

  const second = store(path);
  second.finished.load();
  assert.deepEqual([41, 42, 43].map((id) => second.finished.has(id)), [true, true, false]);
  assert.deepEqual(second.lines, [], "nothing to warn of");
});

Deno.test("FinishedUpdates forgets an id after 24 hours, in memory and at load", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/finished`;
  const s = store(path);
  s.finished.add(7);
  s.clock.ms += DAY - 1;
  assert.equal(s.finished.has(7), true, "just under a day");
  s.clock.ms += 2;
  assert.equal(s.finished.has(7), false, "just over");

  const later = store(path);
  later.clock.ms = s.clock.ms;
  later.finished.load();
  assert.equal(later.finished.has(7), false);
  assert.equal(later.finished.size, 0);
});

Deno.test("FinishedUpdates is bounded: the oldest go first, and the file is rewritten before it grows past twice the bound", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/finished`;
  const s = store(path, { maxSize: 3 });
  for (let id = 1; id <= 20; id++) s.finished.add(id);
  assert.equal(s.finished.size, 3);
  assert.deepEqual([17, 18, 19, 20].map((id) => s.finished.has(id)), [false, true, true, true]);
  const lines = Deno.readTextFileSync(path).split("\n").filter((line) => line !== "");
  assert.ok(lines.length <= 6, `${lines.length} lines in the file`);

  const restarted = store(path, { maxSize: 3 });
  restarted.finished.load();
  assert.equal(restarted.finished.size, 3);
  assert.deepEqual([17, 18, 19, 20].map((id) => restarted.finished.has(id)), [
    false,
    true,
    true,
    true,
  ]);
});

Deno.test("FinishedUpdates keeps going in memory when the disk fails, and says so once", async () => {
  await using dir = await tempDir();
  // A folder where the file should be: every read and write fails.
  const path = `${dir.path}/finished`;
  Deno.mkdirSync(path);
  const s = store(path);
  s.finished.load();
  s.finished.add(5);
  s.finished.add(6);
  assert.equal(s.finished.has(5), true);
  assert.equal(s.finished.has(6), true);
  assert.equal(s.lines.length, 1, JSON.stringify(s.lines));
  assert.match(s.lines[0].message, /finished updates are remembered in memory only/);
});

Deno.test("FinishedUpdates ignores lines it can't read", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/finished`;
  const s = store(path);
  Deno.writeTextFileSync(path, `garbage\n12 ${s.clock.ms}\n-3 1\n13 x\n\n14 ${s.clock.ms}`);
  s.finished.load();
  assert.deepEqual([12, 13, 14].map((id) => s.finished.has(id)), [true, false, true]);
});
