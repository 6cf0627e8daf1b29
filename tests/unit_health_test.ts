/**
 * Unit tests for `lib/loop/health.ts`: the verdict on a heartbeat file in a temp dir, with a fake
 * clock.
 *
 * @module
 */

import assert from "node:assert/strict";
import { checkHealth, healthThresholdMs } from "../lib/loop/health.ts";
import { POLL_SLACK_S } from "../lib/loop/poller.ts";
import { Heartbeat } from "../lib/shared/heartbeat.ts";
import { tempDir } from "./_helpers.ts";

const BEAT_AT = Date.parse("2025-03-01T12:00:00.000Z");

Deno.test("checkHealth() finds a fresh heartbeat healthy, up to the threshold itself", async (t) => {
  await using dir = await tempDir();
  const path = `${dir.path}/heartbeat`;
  new Heartbeat(path, () => BEAT_AT).beat({ startedAt: "x", live: 0, cap: 4, updateIds: [] });
  const at = (ageMs: number) =>
    checkHealth({ path, thresholdMs: 60_000, now: () => BEAT_AT + ageMs });
  await t.step("3.2 s old", () => {
    assert.deepEqual(at(3200), { ok: true, line: "healthy: heartbeat 3.2 s old (threshold 60 s)" });
  });
  await t.step("exactly at the threshold", () => {
    assert.deepEqual(at(60_000), {
      ok: true,
      line: "healthy: heartbeat 60.0 s old (threshold 60 s)",
    });
  });
  await t.step("from a clock a little behind the writer's: never a negative age", () => {
    assert.deepEqual(at(-500), { ok: true, line: "healthy: heartbeat 0.0 s old (threshold 60 s)" });
  });
});

Deno.test("checkHealth() finds a heartbeat over the threshold unhealthy", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/heartbeat`;
  new Heartbeat(path, () => BEAT_AT).beat();
  assert.deepEqual(checkHealth({ path, thresholdMs: 60_000, now: () => BEAT_AT + 97_400 }), {
    ok: false,
    line: "unhealthy: heartbeat 97.4 s old, over the threshold of 60 s",
  });
  assert.equal(checkHealth({ path, thresholdMs: 60_000, now: () => BEAT_AT + 60_001 }).ok, false);
});

Deno.test("checkHealth() finds a missing or unreadable heartbeat unhealthy, naming the file", async (t) => {
  await using dir = await tempDir();
  const path = `${dir.path}/heartbeat`;
  await t.step("missing", () => {
    assert.deepEqual(checkHealth({ path, thresholdMs: 5000, now: () => BEAT_AT }), {
      ok: false,
      line: `unhealthy: no heartbeat at ${path} (threshold 5 s)`,
    });
  });
  await t.step("not a time", () => {
    Deno.writeTextFileSync(path, "soon\n");
    assert.deepEqual(checkHealth({ path, thresholdMs: 5000, now: () => BEAT_AT }), {
      ok: false,
      line: `unhealthy: no heartbeat at ${path} (threshold 5 s)`,
    });
  });
});

Deno.test("checkHealth() reads the real clock by default", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/heartbeat`;
  new Heartbeat(path).beat();
  assert.equal(checkHealth({ path, thresholdMs: 60_000 }).ok, true);
  new Heartbeat(path, () => Date.now() - 120_000).beat();
  assert.equal(checkHealth({ path, thresholdMs: 60_000 }).ok, false);
});

Deno.test("healthThresholdMs() leaves room for a whole long poll and its slack", () => {
  assert.equal(healthThresholdMs(30), (30 + POLL_SLACK_S) * 1500);
  assert.ok(healthThresholdMs(30) > (30 + POLL_SLACK_S) * 1000, "more than one turn of the loop");
  assert.ok(healthThresholdMs(1) < healthThresholdMs(30), "grows with the poll timeout");
});
