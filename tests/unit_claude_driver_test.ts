/**
 * Unit tests for `lib/handler/claude_driver.ts`: `callBrain()` running the stand-in CLI
 * (`tests/stubs/claude-bin/claude`) through the Claude driver.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type BrainOptions, callBrain } from "../lib/handler/brain.ts";
import type { BrainFailure } from "../lib/handler/brain_failure.ts";
import { claudeCommand } from "../lib/handler/claude.ts";
import { claudeAttempts } from "../lib/handler/claude_driver.ts";
import type { ClaudeTurn } from "../lib/handler/claude_turn.ts";
import { gone, isAlive, killAll, projectPath, tempDir, waitUntil } from "./_helpers.ts";

const COMMAND = claudeCommand([projectPath("tests/stubs/claude-bin/claude")]);

/** The stand-in's folder, and `callBrain` through the driver with it. */
async function rig() {
  const dir = await tempDir("coord-claude-driver-");
  const env = {
    PATH: Deno.env.get("PATH")!,
    STUB_CLAUDE_DIR: `${dir.path}/conversations`,
    STUB_PID_DIR: dir.path,
    STUB_BRAIN_LOG: `${dir.path}/brain.log`,
    COORD_UPDATE_ID: "1",
    COORD_STATE_DIR: dir.path,
  };
  const read = (name: string) => {
    try {
      return Deno.readTextFileSync(`${dir.path}/${name}`).split("\n").filter((l) => l !== "");
    } catch {
      return [];
    }
  };
  return {
    /** The stand-in's runs, one line each. */
    starts: () => read("brain.log"),
    pids: () => read("claude-1").map(Number),
    ask(input: string, options: Partial<BrainOptions> & { lingerMs?: number } = {}) {
      const turns: ClaudeTurn[] = [];
      const runner = claudeAttempts({ lingerMs: options.lingerMs, onTurn: (t) => turns.push(t) });
      const outcome = callBrain({
        command: COMMAND,
        input,
        env,
        timeoutMs: 20_000,
        runner,
        ...options,
      });
      return { outcome, turns };
    },
    async [Symbol.asyncDispose]() {
      killAll(read("claude-1").map(Number));
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("callBrain() through the driver answers at the result; the CLI is let go after", async () => {
  await using r = await rig();
  const { outcome: asked, turns } = r.ask("linger please", { lingerMs: 400 });
  const outcome = await asked;
  assert.equal(outcome.ok, true);
  assert.match(outcome.ok ? outcome.reply : "", /^turn 1 of [\w-]+: linger please$/);
  assert.equal(outcome.attempts, 1);
  assert.equal(turns.length, 1);
  assert.equal(turns[0].init?.version, "2.1.330-stub", "the init is kept for the driver");
  const [cli, child] = await waitUntil(() => r.pids().length === 2 ? r.pids() : undefined, {
    description: "the stand-in and its child",
  });
  assert.ok(isAlive(cli) && isAlive(child), "answered while the CLI still lingers");
  assert.ok(outcome.settled !== undefined);
  await outcome.settled;
  assert.ok(!isAlive(cli) && !isAlive(child), "gone once settled");
  assert.equal(r.starts().length, 1);
});

Deno.test("callBrain() through the driver retries what can pass, and stops at what can't", async (t) => {
  await t.step("an overloaded API: the next attempt answers", async () => {
    await using r = await rig();
    const failures: BrainFailure[] = [];
    const outcome = await r.ask("overloaded now", {
      maxAttempts: 3,
      onFailure: (_, failure) => failures.push(failure),
    }).outcome;
    assert.equal(outcome.ok, true);
    assert.equal(outcome.attempts, 2);
    assert.deepEqual(failures.map((f) => [f.reason, f.final]), [
      ["Claude's API is overloaded (HTTP 529)", false],
    ]);
  });
  await t.step("an empty result: one attempt, final, with its conversation", async () => {
    await using r = await rig();
    const outcome = await r.ask("emptyalways", { maxAttempts: 3 }).outcome;
    assert.equal(outcome.ok, false);
    const failure = outcome.ok ? undefined : outcome.failure;
    assert.equal(failure?.emptyResult, true);
    assert.match(failure?.sessionId ?? "", /^[\w-]{36}$/);
    assert.equal(r.starts().length, 1);
  });
  await t.step("a conversation that is gone: one attempt", async () => {
    await using r = await rig();
    const command = claudeCommand([projectPath("tests/stubs/claude-bin/claude")], "nope");
    const outcome = await r.ask("hello", { maxAttempts: 3, command }).outcome;
    assert.equal(!outcome.ok && outcome.failure.resumeFailed, true);
    assert.equal(r.starts().length, 1);
  });
});

Deno.test("callBrain() through the driver: a cancel stops the turn and its tree", async () => {
  await using r = await rig();
  const cancel = new AbortController();
  const { outcome: asked } = r.ask("wait for it", { signal: cancel.signal, killGraceMs: 300 });
  const [cli] = await waitUntil(() => r.pids().length === 1 ? r.pids() : undefined, {
    description: "the stand-in started",
  });
  cancel.abort();
  const outcome = await asked;
  assert.equal(!outcome.ok && outcome.aborted, true);
  assert.equal(!outcome.ok && outcome.failure.reason, "was stopped");
  await outcome.settled;
  await gone(cli);
});
