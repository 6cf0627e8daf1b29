/**
 * The default brain, the Claude Code CLI, as a conversation: `claude -p --output-format json`
 * prints one JSON object with the reply (`result`), the conversation id (`session_id`) and
 * `is_error` (which can be true with `subtype` "success"); `--resume <id>` continues a
 * conversation. When the conversation is gone the CLI says `No conversation found with session
 * ID: <id>` and exits 1.
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
import type { RunTreeResult } from "./process_tree.ts";

/** The first line of a reply whose conversation could not be resumed. */
export const RESUME_NOTE = "(the earlier conversation could not be resumed; this is a new one)";

const RESUME_FAILED = /No conversation found with session ID/i;

/** The CLI's command line for one message: JSON output, and the conversation to resume if any. */
export function claudeCommand(base: readonly string[], resume?: string): string[] {
  return [
    ...base,
    "--output-format",
    "json",
    ...(resume === undefined ? [] : ["--resume", resume]),
  ];
}

/** The CLI's result object, as far as the bot reads it. */
interface ClaudeResult {
  type: "result";
  is_error?: boolean;
  result?: unknown;
  session_id?: unknown;
}

/** Finds the CLI's result object in its stdout (the whole of it, or its last JSON line). */
export function findResult(stdout: string): ClaudeResult | undefined {
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
    // Not JSON at all: a CLI that ignored the flag still answers by the plain protocol.
    if (result.code === 0 && result.stdout.trim() !== "") {
      return { ok: true, reply: result.stdout.trim() };
    }
    return { ok: false, failure: base };
  }
  const text = typeof parsed.result === "string" ? parsed.result.trim() : "";
  const sessionId = typeof parsed.session_id === "string" ? parsed.session_id : undefined;
  if (result.code === 0 && parsed.is_error !== true && text !== "") {
    return { ok: true, reply: text, sessionId };
  }
  // The reply text is where the CLI says what went wrong ("Not logged in · Please run /login").
  const detail = result.stderr.trim() !== "" ? base.detail : tail(text, DETAIL_LINES, DETAIL_CHARS);
  const reason = result.code !== 0
    ? base.reason
    : parsed.is_error === true
    ? "reported an error"
    : "printed nothing";
  return { ok: false, failure: { reason, detail } };
}
