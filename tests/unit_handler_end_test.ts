/**
 * Unit tests for `lib/loop/handler_end.ts`: what becomes of a message when its handler ends,
 * decided from its journal entry alone.
 *
 * @module
 */

import assert from "node:assert/strict";
import { afterCutOff, afterHandler, type EndContext } from "../lib/loop/handler_end.ts";
import { type JournalEntry, PARK_SLACK_MS, parkedFor } from "../lib/shared/journal_entry.ts";

const NOW = Date.parse("2026-11-27T12:00:00Z");

function entry(patch: Partial<JournalEntry> = {}): JournalEntry {
  return {
    updateId: 7,
    chatId: 42,
    update: {},
    stage: "brain",
    dispatches: 1,
    receivedAt: "2026-11-27T11:59:00Z",
    ...patch,
  };
}

function ended(patch: Partial<EndContext> = {}): EndContext {
  return {
    status: { success: false, code: 1, signal: null },
    stopping: false,
    wallNow: NOW,
    ...patch,
  };
}

Deno.test("afterHandler(): a replied message is finished, whatever else", () => {
  assert.deepEqual(afterHandler(entry({ stage: "replied" }), ended()), { kind: "finished" });
  assert.deepEqual(afterHandler(entry({ stage: "replied" }), ended({ stopping: true })), {
    kind: "finished",
  });
});

Deno.test("afterHandler(): a death is counted, backs off doubling to 60 s, and marks a cut-off brain as a re-run", () => {
  const first = afterHandler(entry({ brainPid: 5, brainRun: "r" }), ended());
  assert.deepEqual(first, {
    kind: "died",
    patch: {
      stage: "received",
      rerun: true,
      brainPid: undefined,
      brainRun: undefined,
      deaths: 1,
      lastEnd: "exit status 1",
    },
    waitMs: 1000,
    end: "exit status 1",
  });
  const killed = { success: false, code: 137, signal: "SIGKILL" as const };
  const third = afterHandler(entry({ stage: "started", deaths: 2 }), ended({ status: killed }));
  assert.equal(third.kind, "died");
  if (third.kind !== "died") return;
  assert.equal(third.waitMs, 4000);
  assert.equal(third.patch.rerun, false, "its brain had not started");
  assert.equal(third.end, "killed by SIGKILL");
  const many = afterHandler(entry({ deaths: 20 }), ended());
  assert.equal(many.kind === "died" && many.waitMs, 60_000);
});

Deno.test("afterHandler(): an answered message keeps its stage and its answer: only sending is left", () => {
  const end = afterHandler(entry({ stage: "answered", brainRun: "r" }), ended());
  assert.equal(end.kind, "died");
  if (end.kind !== "died") return;
  assert.equal(end.patch.stage, undefined, "not sent back to received");
  assert.equal("rerun" in end.patch, false);
  assert.equal(end.patch.brainRun, undefined);
});

Deno.test("afterHandler(): a stop by the bot is no death; the message is left for the next start", () => {
  const end = afterHandler(entry({ deaths: 1 }), ended({ stopping: true }));
  assert.deepEqual(end, {
    kind: "left",
    patch: { stage: "received", rerun: true, brainPid: undefined, brainRun: undefined },
  });
});

Deno.test("afterHandler(): a parked message waits until its time, and is no death", () => {
  const parked = entry({ stage: "received", parkedUntil: new Date(NOW + 90_000).toISOString() });
  assert.deepEqual(afterHandler(parked, ended()), { kind: "parked", waitMs: 90_000 });
  assert.deepEqual(afterHandler(parked, ended({ stopping: true })), { kind: "left" });
  const past = entry({ stage: "received", parkedUntil: new Date(NOW - 1).toISOString() });
  assert.deepEqual(afterHandler(past, ended()), { kind: "parked", waitMs: 0 });
  // Parked but cut off mid-attempt: its handler died.
  const cut = entry({ stage: "brain", parkedUntil: new Date(NOW + 1000).toISOString() });
  assert.equal(afterHandler(cut, ended()).kind, "died");
});

Deno.test("parkedFor() never waits longer than announced plus a minute, whatever the wall clock did", async (t) => {
  const announced = 10 * 60_000;
  const parked = entry({
    stage: "received",
    parkedUntil: new Date(NOW + announced).toISOString(),
    parkedMs: announced,
  });
  await t.step("the clock as it was", () => {
    assert.equal(parkedFor(parked, NOW), announced);
    assert.equal(parkedFor(parked, NOW + 4 * 60_000), 6 * 60_000);
  });
  await t.step("the clock stepped back an hour (at a handler's end, or across a restart)", () => {
    assert.equal(parkedFor(parked, NOW - 3600_000), announced + PARK_SLACK_MS);
    const end = afterHandler(parked, ended({ wallNow: NOW - 3600_000 }));
    assert.deepEqual(end, { kind: "parked", waitMs: announced + PARK_SLACK_MS });
  });
  await t.step("the clock stepped forward: it runs at once", () => {
    assert.equal(parkedFor(parked, NOW + 3600_000), 0);
  });
  await t.step("an entry of an older version, with no announced wait: by the clock alone", () => {
    const old = entry({ stage: "received", parkedUntil: new Date(NOW + announced).toISOString() });
    assert.equal(parkedFor(old, NOW - 3600_000), announced + 3600_000);
  });
});

Deno.test("afterCutOff(): a message at work when an earlier run ended counts a death and waits again", () => {
  assert.deepEqual(afterCutOff(entry({ stage: "brain", deaths: 1, brainRun: "r", brainPid: 9 })), {
    stage: "received",
    rerun: true,
    brainPid: undefined,
    brainRun: undefined,
    deaths: 2,
    lastEnd: "cut off when the bot stopped unexpectedly",
  });
  assert.equal(afterCutOff(entry({ stage: "started" }))?.rerun, false, "its brain had not started");
  assert.equal(afterCutOff(entry({ stage: "acked" }))?.deaths, 1, "a stage of older bots");
  for (const stage of ["received", "answered", "replied"] as const) {
    assert.equal(afterCutOff(entry({ stage })), undefined, `${stage}: not at work`);
  }
});
