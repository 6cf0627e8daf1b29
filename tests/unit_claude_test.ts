/**
 * Unit tests for `lib/handler/claude.ts`: the Claude driver's command line, and a turn's end read
 * as a verdict.
 *
 * @module
 */

import assert from "node:assert/strict";
import { claudeCommand, claudeVerdict } from "../lib/handler/claude.ts";
import type { ResultLine } from "../lib/handler/claude_protocol.ts";
import type { TurnEnd } from "../lib/handler/claude_turn.ts";
import type { RunTreeResult } from "../lib/shared/process_tree.ts";

const STREAM = ["--input-format=stream-json", "--output-format=stream-json", "--verbose"];

/** A turn that ended at `result` (on top of a clean success), after the words `text`. */
function ended(result: Partial<ResultLine>, more: Partial<TurnEnd> = {}): TurnEnd {
  return {
    result: { text: "", isError: false, subtype: "success", sessionId: "s1", ...result },
    text: "",
    ...more,
  };
}

/** A turn that ended without a result. */
function exited(exit: Partial<RunTreeResult>, text = ""): TurnEnd {
  return {
    text,
    exit: { code: 0, stdout: "", stderr: "", timedOut: false, aborted: false, ...exit },
  };
}

function failure(end: TurnEnd) {
  const verdict = claudeVerdict(end, 1000);
  assert.equal(verdict.ok, false, JSON.stringify(verdict));
  return verdict.ok ? assert.fail() : verdict.failure;
}

Deno.test("claudeCommand() adds what the driver needs, and only that", async (t) => {
  await t.step("the default brain, resuming a conversation in one argument", () => {
    assert.deepEqual(claudeCommand(["claude", "-p"], "s1"), [
      "claude",
      "-p",
      ...STREAM,
      "--resume=s1",
    ]);
    assert.deepEqual(claudeCommand(["claude", "-p"], "-rf"), [
      "claude",
      "-p",
      ...STREAM,
      "--resume=-rf",
    ]);
  });
  await t.step("a custom command: print mode added, its own options kept", () => {
    assert.deepEqual(claudeCommand(["/opt/claude", "--model", "sonnet"]), [
      "/opt/claude",
      "-p",
      "--model",
      "sonnet",
      ...STREAM,
    ]);
  });
  await t.step("formats of its own are replaced, --print and --verbose not doubled", () => {
    assert.deepEqual(
      claudeCommand([
        "claude",
        "--print",
        "--output-format",
        "json",
        "--verbose",
        "--input-format=text",
      ]),
      [
        "claude",
        "--print",
        "--verbose",
        "--input-format=stream-json",
        "--output-format=stream-json",
      ],
    );
  });
});

Deno.test("claudeVerdict() takes the answer at the result", async (t) => {
  await t.step("the result's text, its conversation and cost", () => {
    const end = ended({ text: " Hi! ", costUsd: 0.0123, durationMs: 4200, turns: 3 }, {
      text: "earlier words",
    });
    assert.deepEqual(claudeVerdict(end, 1000), {
      ok: true,
      reply: "Hi!",
      sessionId: "s1",
      usage: { costUsd: 0.0123, durationMs: 4200, turns: 3 },
    });
  });
  await t.step("an empty result after words: the words (claude-code#38673)", () => {
    const verdict = claudeVerdict(ended({ turns: -1 }, { text: "The answer." }), 1000);
    assert.deepEqual(verdict, {
      ok: true,
      reply: "The answer.",
      sessionId: "s1",
      usage: { costUsd: undefined, durationMs: undefined, turns: undefined },
    });
  });
  await t.step(
    "an empty result without a word: final here, tried again in its conversation",
    () => {
      assert.deepEqual(failure(ended({ turns: 0 })), {
        reason: "returned an empty result",
        detail: "",
        final: true,
        emptyResult: true,
        sessionId: "s1",
      });
    },
  );
});

Deno.test("claudeVerdict() says what an error result failed on, and whether to retry", async (t) => {
  const error = (result: Partial<ResultLine>, more: Partial<TurnEnd> = {}) =>
    failure(ended({ isError: true, ...result }, more));
  await t.step("what can pass is retried", () => {
    const overloaded = error({ apiErrorStatus: 529, text: "API Error: 529 overloaded" });
    assert.equal(overloaded.reason, "Claude's API is overloaded (HTTP 529)");
    assert.equal(overloaded.detail, "API Error: 529 overloaded");
    assert.equal(overloaded.final, false);
    assert.deepEqual(
      [error({ apiErrorStatus: 500 }), error({ apiErrorStatus: 429, text: "Too many requests" })]
        .map((f) => [f.reason, f.final]),
      [["Claude's API failed (HTTP 500)", false], [
        "Claude's API rate limit was hit (HTTP 429)",
        false,
      ]],
    );
    assert.equal(error({}, { apiError: "overloaded" }).reason, "Claude's API is overloaded");
    assert.equal(error({ subtype: "error_during_execution" }).final, false);
    assert.deepEqual([error({}).reason, error({}).final], ["reported an error", false]);
  });
  await t.step("what can't pass is final", () => {
    // As the 2.1.330 CLI says it offline: a synthetic text, and api_error_status null.
    const login = error({ text: "Not logged in · Please run /login", turns: 1 }, {
      text: "Not logged in · Please run /login",
      apiError: "authentication_failed",
    });
    assert.deepEqual(login, {
      reason: "it is not logged in",
      detail: "Not logged in · Please run /login",
      final: true,
    });
    assert.deepEqual(
      [
        error({ apiErrorStatus: 400 }),
        error({}, { apiError: "billing_error" }),
        error({ subtype: "error_max_turns", text: "Reached maximum number of turns (5)" }),
        error({ subtype: "error_max_budget_usd" }),
      ].map((f) => [f.reason, f.final]),
      [
        ["Claude's API refused the request (HTTP 400)", true],
        ["Claude's API refused the request: billing error", true],
        ["it hit its turn limit", true],
        ["it hit its budget limit", true],
      ],
    );
  });
  await t.step("a usage limit waits for its reset instead", () => {
    const resetsAt = Date.now() + 3_600_000;
    const byEvent = error({ apiErrorStatus: 429, text: "x" }, { limit: { resetsAt } });
    assert.equal(byEvent.retryAt, resetsAt);
    assert.equal(byEvent.final, true);
    const byWords = error({
      apiErrorStatus: 429,
      text: "You've hit your session limit · resets 9am",
    });
    assert.equal(byWords.waitReason, "Claude's usage limit is reached");
    assert.ok(byWords.retryAt! > Date.now());
  });
  await t.step("a conversation that is gone (as 2.1.330 says it)", () => {
    const gone = error({
      subtype: "error_during_execution",
      turns: 0,
      text: "No conversation found with session ID: s4",
    });
    assert.equal(gone.resumeFailed, true);
    assert.equal(gone.final, true);
  });
});

Deno.test("claudeVerdict() reads a CLI that ended without a result", async (t) => {
  await t.step("timed out, or stopped", () => {
    assert.equal(failure(exited({ timedOut: true, code: 143 })).reason, "timed out after 1 s");
    assert.equal(failure(exited({ aborted: true, code: 143 })).reason, "was stopped");
  });
  await t.step("a conversation that is gone, as older CLIs say it", () => {
    const gone = failure(exited({ code: 1, stdout: "No conversation found with session ID: s4" }));
    assert.equal(gone.resumeFailed, true);
  });
  await t.step("exited after its stream, but before a result", () => {
    const stdout = '{"type":"system","subtype":"init"}\n';
    assert.equal(failure(exited({ stdout })).reason, "ended without a result");
    assert.equal(
      failure(exited({ stdout, code: 1, stderr: "boom" })).reason,
      "exited with status 1",
    );
  });
  await t.step("plain text from a program that ignored the flags is still an answer", () => {
    assert.deepEqual(claudeVerdict(exited({ stdout: "plain\n" }), 1000), {
      ok: true,
      reply: "plain",
    });
  });
});
