/**
 * The default brain, the Claude Code CLI, as a conversation: `claude -p --output-format
 * stream-json --verbose` prints one JSON event a line while it works (read live for progress,
 * `claude_stream.ts`) and last a result object with the reply (`result`), the conversation id
 * (`session_id`), `is_error` (which can be true with `subtype` "success") and the cost;
 * `--resume <id>` continues a conversation. When the conversation is gone the CLI says `No
 * conversation found with session ID: <id>` and exits 1. A subscription usage limit is not a
 * failure: the message waits for the reset (`usage_limit.ts`).
 *
 * @module
 */

import {
  type AttemptVerdict,
  type BrainFailure,
  describeFailure,
  DETAIL_CHARS,
  DETAIL_LINES,
  tail,
} from "./brain.ts";
import type { RunTreeResult } from "../shared/process_tree.ts";
import type { Usage } from "./costs.ts";
import { parseStream } from "./claude_stream.ts";
import { claudeUsageLimit } from "./usage_limit.ts";

/** The first line of a reply whose conversation could not be resumed. */
export const RESUME_NOTE = "(the earlier conversation could not be resumed; this is a new one)";

const RESUME_FAILED = /No conversation found with session ID/i;

/** The CLI's command line for one message: JSON output, and the conversation to resume if any. */
export function claudeCommand(base: readonly string[], resume?: string): string[] {
  return [
    ...base,
    "--output-format",
    "stream-json",
    // The CLI refuses stream-json in print mode without it.
    "--verbose",
    ...(resume === undefined ? [] : ["--resume", resume]),
  ];
}

/** How long a usage limit whose reset time the CLI didn't say is waited out. */
const UNKNOWN_RESET_MS = 30 * 60_000;

/** The CLI's result object, as far as the bot reads it. */
interface ClaudeResult {
  type: "result";
  is_error?: boolean;
  result?: unknown;
  session_id?: unknown;
  total_cost_usd?: unknown;
  duration_ms?: unknown;
  num_turns?: unknown;
}

/** Finds the CLI's result object in its stdout (the whole of it, or its last JSON line). */
function findResult(stdout: string): ClaudeResult | undefined {
  const candidates = [stdout.trim(), ...stdout.trim().split("\n").reverse()];
  for (const text of candidates) {
    if (!text.startsWith("{")) continue;
    try {
      const value = JSON.parse(text);
      if (value?.type === "result") return value as ClaudeResult;
    } catch {
      // Not this one.
    }
  }
  return undefined;
}

/** Reads one attempt of `claude -p --output-format json`. */
export function claudeVerdict(result: RunTreeResult, timeoutMs: number): AttemptVerdict {
  const base = describeFailure(result, timeoutMs);
  if (result.timedOut || result.aborted || result.spawnError !== undefined || result.signal) {
    return { ok: false, failure: base };
  }
  const parsed = findResult(result.stdout);
  if (parsed === undefined) {
    if (RESUME_FAILED.test(`${result.stdout}\n${result.stderr}`)) {
      const failure: BrainFailure = {
        reason: "could not resume the conversation",
        detail: base.detail,
        final: true,
        resumeFailed: true,
      };
      return { ok: false, failure };
    }
    const limit = usageLimit(result);
    if (limit !== undefined) return { ok: false, failure: limit };
    // Not JSON at all: a CLI that ignored the flag still answers by the plain protocol.
    if (result.code === 0 && result.stdout.trim() !== "") {
      return { ok: true, reply: result.stdout.trim() };
    }
    return { ok: false, failure: base };
  }
  const text = typeof parsed.result === "string" ? parsed.result.trim() : "";
  const sessionId = typeof parsed.session_id === "string" ? parsed.session_id : undefined;
  if (result.code === 0 && parsed.is_error !== true && text !== "") {
    return { ok: true, reply: text, sessionId, usage: usageOf(parsed) };
  }
  const limit = usageLimit(result);
  if (limit !== undefined) return { ok: false, failure: limit };
  // The reply text is where the CLI says what went wrong ("Not logged in · Please run /login").
  const detail = result.stderr.trim() !== ""
    ? base.detail
    : tail(text, { lines: DETAIL_LINES, chars: DETAIL_CHARS });
  const reason = result.code !== 0
    ? base.reason
    : parsed.is_error === true
    ? "reported an error"
    : "printed nothing";
  return { ok: false, failure: { reason, detail } };
}

/** The cost, duration and turns of the result, as far as it says. */
function usageOf(parsed: ClaudeResult): Usage {
  const number = (value: unknown) => typeof value === "number" && value >= 0 ? value : undefined;
  return {
    costUsd: number(parsed.total_cost_usd),
    durationMs: number(parsed.duration_ms),
    turns: number(parsed.num_turns),
  };
}

/** A subscription usage limit in the CLI's output (its stream's events, or its limit message). */
function usageLimit(result: RunTreeResult): BrainFailure | undefined {
  const now = Date.now();
  let resetsAt: number | undefined;
  let hit = false;
  for (const event of parseStream(result.stdout)) {
    if (event.kind === "limit") {
      hit = true;
      resetsAt = event.resetsAt ?? resetsAt;
    } else if (event.kind === "result" && event.isError) {
      const said = claudeUsageLimit(event.text, now);
      if (said !== undefined) [hit, resetsAt] = [true, said.resetsAt ?? resetsAt];
    }
  }
  const said = claudeUsageLimit(`${result.stdout}\n${result.stderr}`, now);
  if (said !== undefined) [hit, resetsAt] = [true, said.resetsAt ?? resetsAt];
  if (!hit) return undefined;
  return {
    reason: "hit Claude's usage limit",
    detail: "",
    final: true,
    retryAt: resetsAt !== undefined && resetsAt > now ? resetsAt : now + UNKNOWN_RESET_MS,
    waitReason: "Claude's usage limit is reached",
  };
}
