/**
 * Unit tests for `lib/shared/brain_report.ts`: the brain check's result kept for `/status`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { brainReportPath, readBrainReport, writeBrainReport } from "../lib/shared/brain_report.ts";
import { tempDir } from "./_helpers.ts";

Deno.test("writeBrainReport() keeps what readBrainReport() gives back; nothing or garbage reads as none", async () => {
  await using dir = await tempDir();
  assert.equal(readBrainReport(dir.path), undefined);
  const report = { startedAt: "2026-01-01T00:00:00.000Z", ok: false, note: "claude is not there" };
  writeBrainReport(dir.path, report);
  assert.deepEqual(readBrainReport(dir.path), report);
  writeBrainReport(dir.path, { startedAt: report.startedAt, note: "could not tell" });
  assert.deepEqual(readBrainReport(dir.path), {
    startedAt: report.startedAt,
    note: "could not tell",
  });
  Deno.writeTextFileSync(brainReportPath(dir.path), '{"note": 3}');
  assert.equal(readBrainReport(dir.path), undefined);
  Deno.writeTextFileSync(brainReportPath(dir.path), "{");
  assert.equal(readBrainReport(dir.path), undefined);
});
