/**
 * Why a brain attempt failed, in words the person reads: one short reason and the last lines of
 * what it printed. Shared by every brain protocol (`brain.ts`, `claude.ts`) and the transcriber.
 *
 * @module
 */

import type { RunTreeResult } from "../shared/process_tree.ts";

/** Why an attempt failed. */
export interface BrainFailure {
  /** One short phrase: `timed out after 300 s`, `exited with status 1`, `printed nothing`. */
  reason: string;
  /** The last lines of what it printed (stderr, else stdout), trimmed; may be empty. */
  detail: string;
  /** The signal that ended it, when one did and it was not our timeout. */
  signal?: Deno.Signal;
  /** Another attempt won't cure it (the conversation to resume is gone, not logged in): no retry. */
  final?: boolean;
  /**
   * The Claude CLI's result was empty and no words came before it: its conversation
   * (`sessionId`) is tried once more, resumed (`conversation.ts`).
   */
  emptyResult?: boolean;
  /** The conversation the attempt ran in, when known. */
  sessionId?: string;
  /** The conversation asked for could not be resumed. */
  resumeFailed?: boolean;
  /**
   * The brain asked to be run again at this time (ms since the epoch): a usage limit, or exit 75
   * with a `retry-after:` line. The message waits for it instead of failing.
   */
  retryAt?: number;
  /** What asked for the wait ("Claude's usage limit is reached", "the brain asked to wait"). */
  waitReason?: string;
}

/** Lines of output kept in a failure's detail. */
export const DETAIL_LINES = 8;
/** Characters kept in a failure's detail. */
export const DETAIL_CHARS = 600;

/** Sorts one attempt's result into a reason and the tail of its output. */
export function describeFailure(result: RunTreeResult, timeoutMs: number): BrainFailure {
  const output = result.stderr.trim() !== "" ? result.stderr : result.stdout;
  const detail = tail(output, { lines: DETAIL_LINES, chars: DETAIL_CHARS });
  if (result.spawnError !== undefined) return { reason: result.spawnError, detail };
  if (result.timedOut) return { reason: `timed out after ${formatSeconds(timeoutMs)}`, detail };
  if (result.aborted) return { reason: "was stopped", detail };
  if (result.signal) {
    return { reason: `was killed by ${result.signal}`, detail, signal: result.signal };
  }
  if (result.code !== 0) return { reason: `exited with status ${result.code}`, detail };
  return { reason: "printed nothing", detail };
}

/** Options for {@linkcode tail}. */
export interface TailOptions {
  /** How many non-empty lines are kept, from the end. Required. */
  lines: number;
  /** The most characters kept (a cut start is marked `…`). Required. */
  chars: number;
}

/** The last `lines` non-empty lines of `text`, at most `chars` characters, trimmed. */
export function tail(text: string, options: TailOptions): string {
  const { lines, chars } = options;
  const kept = text.trim().split("\n").filter((l) => l.trim() !== "").slice(-lines).join("\n");
  return kept.length <= chars ? kept : "…" + kept.slice(kept.length - chars + 1);
}

function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}
