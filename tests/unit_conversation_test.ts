/**
 * Unit tests for `lib/handler/conversation.ts`: `converse()` with a fake `ask` that records the
 * command lines it was given, and a real session folder in a temp dir.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { BrainOutcome } from "../lib/handler/brain.ts";
import type { BrainFailure } from "../lib/handler/brain_failure.ts";
import { claudeCommand } from "../lib/handler/claude.ts";
import { converse, type ConverseOptions } from "../lib/handler/conversation.ts";
import { SessionStore } from "../lib/handler/session.ts";
import { tempDir } from "./_helpers.ts";

const BRAIN = ["claude", "-p"];
const CHAT = 1001;

/** Conversation ids as the CLI gives them (UUIDs). */
const S1 = "5a0c1f4e-2b7d-4e8a-9c3f-1d2e3f4a5b61";
const S9 = "9e0c1f4e-2b7d-4e8a-9c3f-1d2e3f4a5b69";
const S2 = "5a0c1f4e-2b7d-4e8a-9c3f-1d2e3f4a5b62";
const OLD = "01d00000-2b7d-4e8a-9c3f-1d2e3f4a5b60";
const NEW = "7e300000-2b7d-4e8a-9c3f-1d2e3f4a5b63";

function answered(sessionId?: string): BrainOutcome {
  return { ok: true, reply: "hi", attempts: 1, sessionId };
}

function failed(failure: Partial<BrainFailure> = {}, aborted = false): BrainOutcome {
  return {
    ok: false,
    failure: { reason: "exited with status 1", detail: "", ...failure },
    attempts: 1,
    aborted,
  };
}

/** A conversation whose brain answers with `outcomes` in turn; records what it was asked. */
async function rig(outcomes: BrainOutcome[], options: Partial<ConverseOptions> = {}) {
  const dir = await tempDir();
  const sessions = new SessionStore(dir.path, CHAT);
  const asked: (readonly string[])[] = [];
  const resumeFailed: (string | undefined)[] = [];
  const run = (updateId: number) =>
    converse({
      sessions,
      saved: sessions.saved(),
      newAt: sessions.newAt(),
      updateId,
      brainCommand: BRAIN,
      brainKind: "claude",
      ask: (command) => {
        asked.push(command);
        const outcome = outcomes.shift();
        if (outcome === undefined) throw new Error("asked once too often");
        return Promise.resolve(outcome);
      },
      onResumeFailed: (session) => resumeFailed.push(session),
      guard: (fn) => fn(),
      ...options,
    });
  return {
    sessions,
    asked,
    resumeFailed,
    run,
    [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose](),
  };
}

Deno.test("converse() starts a conversation, then resumes it", async () => {
  await using r = await rig([answered(S1), answered(S1)]);
  assert.deepEqual(await r.run(10), answered(S1));
  assert.deepEqual(r.asked[0], claudeCommand(BRAIN), "no --resume the first time");
  assert.deepEqual(r.sessions.saved(), { sessionId: S1, updateId: 10 });

  await r.run(11);
  assert.deepEqual(r.asked[1], claudeCommand(BRAIN, S1));
  assert.ok(r.asked[1].includes(`--resume=${S1}`), "the id in the same argument");
  assert.deepEqual(r.sessions.saved(), { sessionId: S1, updateId: 11 });
  assert.deepEqual(r.resumeFailed, []);
});

Deno.test("converse() starts a new conversation after a /new", async () => {
  await using r = await rig([answered(S1), answered(S2)]);
  await r.run(10);
  r.sessions.markNew(11);
  await r.run(12);
  assert.deepEqual(r.asked[1], claudeCommand(BRAIN), "no --resume after /new");
  assert.deepEqual(r.sessions.saved(), { sessionId: S2, updateId: 12 });
});

Deno.test("converse() starts a new conversation when the one to resume is gone, and says so", async () => {
  await using r = await rig([answered(OLD), failed({ resumeFailed: true }), answered(NEW)]);
  await r.run(10);
  const outcome = await r.run(11);
  assert.deepEqual(outcome, answered(NEW));
  assert.deepEqual(r.asked.slice(1), [claudeCommand(BRAIN, OLD), claudeCommand(BRAIN)]);
  assert.deepEqual(r.resumeFailed, [OLD]);
  assert.deepEqual(r.sessions.saved(), { sessionId: NEW, updateId: 11 });
});

Deno.test("converse() asks once and saves nothing when the brain fails", async (t) => {
  const cases: [string, BrainOutcome][] = [
    ["an ordinary failure", failed()],
    ["a resume failure that was a stop (/cancel)", failed({ resumeFailed: true }, true)],
  ];
  for (const [name, outcome] of cases) {
    await t.step(name, async () => {
      await using r = await rig([answered(S1), outcome]);
      await r.run(10);
      assert.deepEqual(await r.run(11), outcome);
      assert.equal(r.asked.length, 2, "not asked again");
      assert.deepEqual(r.resumeFailed, []);
      assert.deepEqual(r.sessions.saved(), { sessionId: S1, updateId: 10 }, "unchanged");
    });
  }
  await t.step("a failure after a failed resume", async () => {
    await using r = await rig([answered(OLD), failed({ resumeFailed: true }), failed()]);
    await r.run(10);
    assert.equal((await r.run(11)).ok, false);
    assert.deepEqual(r.resumeFailed, [OLD]);
    assert.deepEqual(r.sessions.saved(), { sessionId: OLD, updateId: 10 }, "unchanged");
  });
});

Deno.test("converse() saves nothing for an answer without a conversation id", async () => {
  await using r = await rig([answered(undefined)]);
  await r.run(10);
  assert.equal(r.sessions.saved(), undefined);
});

Deno.test("converse() runs a custom brain as configured, and records only that it went on", async (t) => {
  await t.step("an answer is recorded, with no conversation id", async () => {
    await using r = await rig([answered("ignored")], { brainKind: "plain" });
    assert.deepEqual(await r.run(10), answered("ignored"));
    assert.deepEqual(r.asked, [BRAIN], "its own argv, no Claude flags");
    assert.deepEqual(r.sessions.saved(), { sessionId: "", updateId: 10 });
  });
  await t.step("a failure is not", async () => {
    await using r = await rig([failed({ resumeFailed: true })], { brainKind: "plain" });
    assert.equal((await r.run(10)).ok, false);
    assert.equal(r.asked.length, 1, "a custom brain is never asked again for a resume");
    assert.deepEqual(r.resumeFailed, []);
    assert.equal(r.sessions.saved(), undefined);
  });
});

Deno.test("converse() saves through guard, and goes on when guard swallows a failure", async () => {
  const guarded: unknown[] = [];
  await using r = await rig([answered(S1)], {
    guard: <T>(_fn: () => T, fallback: T) => {
      guarded.push(fallback);
      return fallback;
    },
  });
  assert.deepEqual(await r.run(10), answered(S1));
  assert.equal(guarded.length, 1, "the save went through guard");
  assert.equal(r.sessions.saved(), undefined, "guard did not run it");
});

Deno.test("converse() asks once more in its conversation after an empty result, once its CLI is gone", async () => {
  const cliGone = Promise.withResolvers<void>();
  const empty: BrainOutcome = {
    ...failed({
      emptyResult: true,
      final: true,
      sessionId: S9,
      reason: "returned an empty result",
    }),
    settled: cliGone.promise,
  };
  const empties: string[] = [];
  await using r = await rig([empty, answered(S9)], { onEmptyResult: (s) => empties.push(s) });
  const running = r.run(10);
  // Let everything that can run without the first CLI's end run.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(r.asked.length, 1, "not while the first CLI may still hold the conversation");
  cliGone.resolve();
  const outcome = await running;
  assert.deepEqual(outcome, { ...answered(S9), attempts: 2 });
  assert.deepEqual(r.asked[1], claudeCommand(BRAIN, S9), "resumed");
  assert.deepEqual(empties, [S9]);
  assert.deepEqual(r.sessions.saved(), { sessionId: S9, updateId: 10 });
});

Deno.test("converse() reports a second empty result plainly, and asks no third time", async (t) => {
  const empty = () =>
    failed({
      emptyResult: true,
      final: true,
      sessionId: S9,
      reason: "returned an empty result",
    });
  await t.step("two empty results", async () => {
    await using r = await rig([empty(), empty()]);
    const outcome = await r.run(10);
    assert.equal(!outcome.ok && outcome.failure.reason, "returned an empty result");
    assert.equal(outcome.attempts, 2);
    assert.equal(r.asked.length, 2);
  });
  await t.step("an empty result of a stopped turn is not asked again", async () => {
    await using r = await rig([failed({ emptyResult: true, sessionId: S9 }, true)]);
    assert.equal((await r.run(10)).ok, false);
    assert.equal(r.asked.length, 1);
  });
});
