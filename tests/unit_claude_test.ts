/**
 * Unit tests for `lib/handler/claude.ts`: the Claude CLI's command line and its JSON result read
 * as a verdict.
 *
 * @module
 */

import assert from "node:assert/strict";
import { claudeCommand, claudeVerdict } from "../lib/handler/claude.ts";
import type { RunTreeResult } from "../lib/shared/process_tree.ts";

function run(patch: Partial<RunTreeResult>): RunTreeResult {
  return { code: 0, stdout: "", stderr: "", timedOut: false, aborted: false, ...patch };
}

Deno.test("claudeVerdict() reads the CLI's JSON result", async (t) => {
  assert.deepEqual(claudeCommand(["claude", "-p"], "s1"), [
    "claude",
    "-p",
    "--output-format",
    "stream-json",
    "--verbose",
    "--resume",
    "s1",
  ]);
  await t.step("an answer, with its conversation id", () => {
    const stdout = JSON.stringify({
      type: "result",
      subtype: "success",
      is_error: false,
      result: "Hi!",
      session_id: "s2",
      total_cost_usd: 0.0123,
      duration_ms: 4200,
      num_turns: 3,
    });
    assert.deepEqual(claudeVerdict(run({ stdout }), 1000), {
      ok: true,
      reply: "Hi!",
      sessionId: "s2",
      usage: { costUsd: 0.0123, durationMs: 4200, turns: 3 },
    });
  });
  await t.step("is_error with subtype success is a failure that quotes the result", () => {
    const stdout = JSON.stringify({
      type: "result",
      subtype: "success",
      is_error: true,
      result: "Not logged in · Please run /login",
      session_id: "s3",
    });
    const verdict = claudeVerdict(run({ code: 1, stdout }), 1000);
    assert.deepEqual(verdict, {
      ok: false,
      failure: { reason: "exited with status 1", detail: "Not logged in · Please run /login" },
    });
    const zero = claudeVerdict(run({ code: 0, stdout }), 1000);
    assert.equal(!zero.ok && zero.failure.reason, "reported an error");
  });
  await t.step("a conversation that is gone is a final failure, not retried", () => {
    const verdict = claudeVerdict(
      run({ code: 1, stdout: "No conversation found with session ID: s4" }),
      1000,
    );
    assert.equal(!verdict.ok && verdict.failure.resumeFailed, true);
    assert.equal(!verdict.ok && verdict.failure.final, true);
  });
  await t.step("plain text from a CLI that ignored the flag is still an answer", () => {
    assert.deepEqual(claudeVerdict(run({ stdout: "plain\n" }), 1000), {
      ok: true,
      reply: "plain",
    });
  });
});
