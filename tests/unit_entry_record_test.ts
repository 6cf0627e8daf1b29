/**
 * Unit tests for `lib/handler/entry_record.ts`: a handler's record of its message's entry, kept in
 * memory, written to a real journal in a temp dir when it can be, and reported over the line
 * whatever the disk does.
 *
 * @module
 */

import assert from "node:assert/strict";
import { entryRecord } from "../lib/handler/entry_record.ts";
import { Journal } from "../lib/shared/journal.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import type { Report } from "../lib/shared/line.ts";
import { recordingLog, tempDir } from "./_helpers.ts";

const UPDATE = { update_id: 7, message: { message_id: 3, chat: { id: 42 }, date: 0, text: "hi" } };

/** A journal in a temp dir with message 7 in it at `patch`, and its handler's record. */
async function rig(patch: Partial<JournalEntry> = {}, journalOf?: (dir: string) => Journal) {
  const dir = await tempDir();
  const journal = new Journal(`${dir.path}/journal`, { durable: false });
  journal.open();
  journal.record(UPDATE, { updateId: 7, chatId: 42 });
  const entry = journal.update(7, { stage: "started", dispatches: 1, ...patch })!;
  const { log, lines } = recordingLog();
  const reports: Report[] = [];
  const record = entryRecord(entry, {
    journal: journalOf?.(journal.dir) ?? journal,
    log,
    // As the line does: a report is a copy, sent at once.
    report: (report) => reports.push(JSON.parse(JSON.stringify(report))),
  });
  return {
    dir,
    journal,
    entry,
    record,
    reports,
    lines,
    [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose](),
  };
}

/** A journal whose writes fail, as a read-only or full disk's do. */
class FailingJournal extends Journal {
  override update(): JournalEntry | undefined {
    throw new Deno.errors.PermissionDenied("Read-only file system (os error 30)");
  }
  override put(): void {
    throw new Deno.errors.PermissionDenied("Read-only file system (os error 30)");
  }
  override finish(): void {
    throw new Deno.errors.PermissionDenied("Read-only file system (os error 30)");
  }
}

Deno.test("entryRecord.read() is the entry it was handed, then as patched", async () => {
  await using r = await rig();
  assert.deepEqual(r.record.read(), r.entry);
  r.record.update({ stage: "brain", attempt: 1 });
  assert.deepEqual(r.record.read(), { ...r.entry, stage: "brain", attempt: 1 });
});

Deno.test("entryRecord.update() changes the entry in memory, in the journal, and in a report", async () => {
  await using r = await rig({ brainRun: "run-1" });
  r.record.update({ stage: "answered", brainRun: undefined });
  assert.equal(r.record.read().stage, "answered");
  assert.equal(r.record.read().brainRun, undefined);
  const onDisk = r.journal.read(7)!;
  assert.equal(onDisk.stage, "answered");
  assert.equal("brainRun" in onDisk, false, "removed from the journal");
  assert.deepEqual(r.reports, [
    // A removed field travels as null: undefined would vanish from the JSON line.
    { kind: "patch", updateId: 7, patch: { stage: "answered", brainRun: null } },
  ]);
  assert.deepEqual(r.lines, [], "nothing to say");
});

Deno.test("entryRecord.finish() removes the entry from the journal and reports it finished", async () => {
  await using r = await rig();
  r.record.finish();
  assert.equal(r.journal.read(7), undefined);
  assert.deepEqual(r.reports, [{ kind: "finished", updateId: 7 }]);
});

Deno.test("entryRecord on a journal that can't be written: logged, never thrown, and still reported", async () => {
  await using r = await rig({}, (dir) => new FailingJournal(dir));
  r.record.update({ stage: "brain" });
  r.record.finish();
  assert.equal(r.record.read().stage, "brain", "memory holds it");
  assert.deepEqual(r.reports, [
    { kind: "patch", updateId: 7, patch: { stage: "brain" } },
    { kind: "finished", updateId: 7 },
  ]);
  const warnings = r.lines.filter((l) => l.level === "warn");
  assert.deepEqual(warnings.map((l) => l.props.what), ["update", "remove"]);
  assert.match(String(warnings[0].props.error), /Read-only file system/);
});

Deno.test("entryRecord without a journal: memory and reports only", () => {
  const { log, lines } = recordingLog();
  const reports: Report[] = [];
  const entry = {
    updateId: 7,
    chatId: 42,
    update: UPDATE,
    stage: "started",
    dispatches: 1,
    receivedAt: "2025-01-01T00:00:00.000Z",
  } as const;
  const record = entryRecord(entry, { log, report: (r) => reports.push(r) });
  record.update({ stage: "brain" });
  record.finish();
  assert.equal(record.read().stage, "brain");
  assert.deepEqual(reports.map((r) => r.kind), ["patch", "finished"]);
  assert.deepEqual(lines, []);
});
