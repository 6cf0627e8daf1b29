/**
 * Unit tests for `lib/shared/journal_record.ts`: a handler's view of its entry (`entryRecord`) and
 * the poll loop's patches (`entryPatcher`), against a real journal in a temp folder, whole and
 * broken (its folder gone, a file in its place, a corrupt entry).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Journal } from "../lib/shared/journal.ts";
import { entryPatcher, entryRecord } from "../lib/shared/journal_record.ts";
import { getLog } from "../lib/shared/log.ts";
import { captureLog, tempDir } from "./_helpers.ts";

const log = getLog("test");

/** A journal in a temp folder holding entries 7 and 8; the folder is removed on dispose. */
async function journalOf(options: { durable?: boolean } = {}) {
  const dir = await tempDir();
  const journal = new Journal(`${dir.path}/journal`, { durable: options.durable ?? false });
  journal.open();
  for (const updateId of [7, 8]) journal.record({ update_id: updateId }, { updateId, chatId: 42 });
  return {
    journal,
    /** Puts a plain file where the journal's folder was: every use of it fails. */
    breakFolder(): void {
      Deno.removeSync(journal.dir, { recursive: true });
      Deno.writeTextFileSync(journal.dir, "not a folder");
    },
    [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose](),
  };
}

Deno.test("entryRecord() reads, patches and finishes its one entry", async () => {
  await using captured = await captureLog();
  await using j = await journalOf();
  const record = entryRecord(j.journal, 7, { log });
  assert.equal(record.read()?.updateId, 7);
  assert.equal(record.isGone(), false);
  record.update({ stage: "brain", attempt: 1 });
  assert.equal(j.journal.read(7)?.stage, "brain");
  assert.equal(record.read()?.attempt, 1);
  record.finish();
  assert.equal(j.journal.read(7), undefined);
  assert.equal(record.isGone(), true);
  assert.equal(record.read(), undefined);
  record.update({ stage: "replied" });
  assert.equal(j.journal.read(7), undefined, "an update does not bring a finished entry back");
  assert.equal(j.journal.read(8)?.stage, "received", "the other entry is untouched");
  assert.deepEqual(captured.lines, []);
});

Deno.test("entryRecord() without a journal does nothing, and logs nothing", async () => {
  await using captured = await captureLog();
  const record = entryRecord(undefined, 7, { log });
  assert.equal(record.read(), undefined);
  assert.equal(record.isGone(), false, "not known to be gone");
  assert.equal(record.update({ stage: "brain" }), undefined);
  assert.equal(record.finish(), undefined);
  assert.deepEqual(captured.lines, []);
});

Deno.test("entryRecord() logs a journal it can't use, and never throws", async (t) => {
  await t.step("its folder a file: each call logged, with what it tried", async () => {
    await using captured = await captureLog();
    await using j = await journalOf();
    j.breakFolder();
    const record = entryRecord(j.journal, 7, { log });
    assert.equal(record.read(), undefined);
    assert.equal(record.isGone(), false, "unknown is not gone");
    record.update({ stage: "brain" });
    record.finish();
    const lines = captured.lines.join("");
    assert.equal(captured.lines.length, 4, lines);
    for (const what of ["read", "update", "remove"]) {
      assert.match(lines, new RegExp(`journal: cannot ${what} entry 7: `), what);
    }
  });

  await t.step("its folder removed, durable: the removal's fsync fails, logged", async () => {
    await using captured = await captureLog();
    await using j = await journalOf({ durable: true });
    Deno.removeSync(j.journal.dir, { recursive: true });
    const record = entryRecord(j.journal, 7, { log });
    assert.equal(record.isGone(), true, "no folder, no entry");
    record.finish();
    assert.equal(captured.lines.length, 1, captured.lines.join(""));
    assert.match(captured.lines[0], /journal: cannot remove entry 7: NotFound/);
  });

  await t.step("a corrupt entry: read as none, not as gone; logged", async () => {
    await using captured = await captureLog();
    await using j = await journalOf();
    Deno.writeTextFileSync(`${j.journal.dir}/7.json`, "{ half an entry");
    const record = entryRecord(j.journal, 7, { log });
    assert.equal(record.read(), undefined);
    assert.equal(record.isGone(), false);
    assert.equal(captured.lines.length, 2, captured.lines.join(""));
    assert.match(captured.lines[0], /journal: cannot read entry 7: SyntaxError/);
  });
});

Deno.test("entryPatcher() writes a patch and returns the entry as written", async () => {
  await using captured = await captureLog();
  await using j = await journalOf();
  const patch = entryPatcher(j.journal, log);
  const entry = j.journal.read(7)!;
  const patched = patch(entry, { stage: "started", dispatches: 1 });
  assert.deepEqual(patched, j.journal.read(7));
  assert.deepEqual([patched.stage, patched.dispatches], ["started", 1]);
  assert.deepEqual(captured.lines, []);
});

Deno.test("entryPatcher() goes on from memory when it can't write", async (t) => {
  await t.step("the entry gone: the patch applied in memory, nothing written back", async () => {
    await using captured = await captureLog();
    await using j = await journalOf();
    const entry = j.journal.read(7)!;
    j.journal.finish(7);
    const patched = entryPatcher(j.journal, log)(entry, { stage: "received", deaths: 1 });
    assert.deepEqual(patched, { ...entry, stage: "received", deaths: 1 });
    assert.equal(j.journal.read(7), undefined);
    assert.deepEqual(captured.lines, [], "not a failure");
  });

  await t.step("a journal that can't be written: an error logged, the patched entry", async () => {
    await using captured = await captureLog();
    await using j = await journalOf();
    const entry = j.journal.read(7)!;
    j.breakFolder();
    const patched = entryPatcher(j.journal, log)(entry, { stage: "started", dispatches: 1 });
    assert.deepEqual(patched, { ...entry, stage: "started", dispatches: 1 });
    assert.equal(captured.lines.length, 1, captured.lines.join(""));
    assert.match(captured.lines[0], /ERR.*journal: cannot update entry 7: /);
  });
});
