/**
 * The Claude Code CLI as a brain: its command line, and what one turn of it came to.
 *
 * The command is the configured one with what the Claude driver needs added (`-p`,
 * `--input-format stream-json --output-format stream-json --verbose`, and `--resume=<id>` to go
 * on with the chat's conversation: an option's value goes in the same argument, so that an id
 * can never be read as a flag).
 *
 * The verdict is taken from the turn's `result` line (`claude_turn.ts`), whatever the CLI does
 * after it:
 * - a result with text is the answer; an empty one is answered by the words the assistant wrote
 *   after the turn's last tool result (claude-code#38673: `result` empty though the text was
 *   written); with no words at all it is an empty result, which the conversation tries once more,
 *   resumed (`conversation.ts`);
 * - an error result says what failed: the API overloaded (529), failing (5xx) or rate limiting
 *   (429) can pass, and is retried; not logged in, a refused request, the turn or budget limit
 *   cannot, and is final; a subscription usage limit is no failure: the message waits for the
 *   reset (`usage_limit.ts`);
 * - a conversation that can't be resumed (`No conversation found with session ID: <id>`, exit 1)
 *   is final, and the conversation starts anew.
 *
 * @module
 */

import type { AttemptVerdict } from "./brain.ts";
import {
  type BrainFailure,
  describeFailure,
  DETAIL_CHARS,
  DETAIL_LINES,
  tail,
} from "./brain_failure.ts";
import type { Usage } from "./costs.ts";
import { parseObject, type ResultLine } from "./claude_protocol.ts";
import type { TurnEnd } from "./claude_turn.ts";
import { claudeUsageLimit } from "./usage_limit.ts";

/** The first line of a reply whose conversation could not be resumed. */
export const RESUME_NOTE = "(the earlier conversation could not be resumed; this is a new one)";

const RESUME_FAILED = /No conversation found with session ID/i;

/** The options the driver sets itself: a configured value of theirs is replaced. */
const DRIVER_OPTIONS = ["--input-format", "--output-format"];

/**
 * The CLI's command line for one turn: the configured one plus what the driver needs (see the
 * module doc), and the conversation to resume if any.
 */
export function claudeCommand(base: readonly string[], resume?: string): string[] {
  const [program, ...configured] = base;
  const args: string[] = [];
  for (let i = 0; i < configured.length; i++) {
    const arg = configured[i];
    if (DRIVER_OPTIONS.includes(arg)) i++; // and its value
    else if (!DRIVER_OPTIONS.some((option) => arg.startsWith(`${option}=`))) args.push(arg);
  }
  return [
    program,
    ...(args.includes("-p") || args.includes("--print") ? [] : ["-p"]),
    ...args,
    "--input-format=stream-json",
    "--output-format=stream-json",
    // The CLI refuses stream-json in print mode without it.
    ...(args.includes("--verbose") ? [] : ["--verbose"]),
    ...(resume === undefined ? [] : [`--resume=${resume}`]),
  ];
}

/** How long a usage limit whose reset time the CLI didn't say is waited out. */
const UNKNOWN_RESET_MS = 30 * 60_000;

/** Reads one turn of the CLI (see the module doc). */
export function claudeVerdict(end: TurnEnd, timeoutMs: number): AttemptVerdict {
  const { result } = end;
  if (result === undefined) return exitVerdict(end, timeoutMs);
  const reply = result.text.trim() || end.text;
  const sessionId = result.sessionId;
  if (result.terminalReason?.startsWith("aborted")) {
    // Interrupted (`/stop`, a Stop button, a `!`): what it had is the answer, however short, and
    // the conversation keeps what was done. Never asked again.
    return { ok: true, reply, sessionId, usage: usageOf(result), stopped: true };
  }
  if (!result.isError && reply !== "") {
    return { ok: true, reply, sessionId, usage: usageOf(result) };
  }
  if (!result.isError) {
    const failure = { reason: "returned an empty result", detail: "", final: true };
    return { ok: false, failure: { ...failure, emptyResult: true, sessionId } };
  }
  const limit = usageLimit(end, result.text);
  if (limit !== undefined) return { ok: false, failure: limit };
  if (RESUME_FAILED.test(result.text)) return { ok: false, failure: resumeFailure("") };
  const detail = tail(result.text || end.text, { lines: DETAIL_LINES, chars: DETAIL_CHARS });
  const cause = errorCause(result, end.apiError);
  return { ok: false, failure: { reason: cause.reason, detail, final: cause.final } };
}

/** A turn that ended without a result: timed out, stopped, or the CLI exited on its own. */
function exitVerdict(end: TurnEnd, timeoutMs: number): AttemptVerdict {
  const exit = end.exit!;
  const base = describeFailure(exit, timeoutMs);
  if (exit.timedOut || exit.aborted || exit.spawnError !== undefined || exit.signal) {
    return { ok: false, failure: base };
  }
  const said = `${exit.stdout}\n${exit.stderr}`;
  if (RESUME_FAILED.test(said)) return { ok: false, failure: resumeFailure(base.detail) };
  const limit = usageLimit(end, said);
  if (limit !== undefined) return { ok: false, failure: limit };
  const lines = exit.stdout.split("\n").filter((line) => line.trim() !== "");
  // Not JSON at all: a program that ignored the flags still answers by the plain protocol.
  if (exit.code === 0 && lines.length > 0 && lines.every((l) => parseObject(l) === undefined)) {
    return { ok: true, reply: exit.stdout.trim() };
  }
  const reason = exit.code === 0 ? "ended without a result" : base.reason;
  return { ok: false, failure: { ...base, reason } };
}

function resumeFailure(detail: string): BrainFailure {
  return {
    reason: "could not resume the conversation",
    detail,
    final: true,
    resumeFailed: true,
  };
}

/** The API errors (an assistant line's `error`) that another attempt won't cure. */
const FINAL_API_ERRORS = new Set([
  "authentication_failed",
  "oauth_org_not_allowed",
  "account_on_hold",
  "verification_required",
  "billing_error",
  "invalid_request",
  "model_not_found",
  "cloud_credential_error",
]);

/** What an error result says failed, and whether another attempt could pass. */
function errorCause(result: ResultLine, apiError?: string): { reason: string; final: boolean } {
  const status = result.apiErrorStatus;
  const http = status === undefined ? "" : ` (HTTP ${status})`;
  if (result.subtype === "error_max_turns") return { reason: "it hit its turn limit", final: true };
  if (result.subtype === "error_max_budget_usd") {
    return { reason: "it hit its budget limit", final: true };
  }
  if (
    /not logged in/i.test(result.text) || apiError === "authentication_failed" || status === 401
  ) {
    return { reason: "it is not logged in", final: true };
  }
  if (status === 529 || apiError === "overloaded") {
    return { reason: `Claude's API is overloaded${http}`, final: false };
  }
  if (status === 429 || apiError === "rate_limit") {
    return { reason: `Claude's API rate limit was hit${http}`, final: false };
  }
  if ((status !== undefined && status >= 500) || apiError === "server_error") {
    return { reason: `Claude's API failed${http}`, final: false };
  }
  if (status !== undefined || (apiError !== undefined && FINAL_API_ERRORS.has(apiError))) {
    const what = apiError === undefined ? "" : `: ${apiError.replaceAll("_", " ")}`;
    return { reason: `Claude's API refused the request${http}${what}`, final: true };
  }
  return { reason: "reported an error", final: false };
}

/** The cost, duration and turns of the result, as far as it says. */
function usageOf(result: ResultLine): Usage {
  const count = (value: number | undefined) =>
    value !== undefined && value >= 0 ? value : undefined;
  return {
    costUsd: count(result.costUsd),
    durationMs: count(result.durationMs),
    turns: count(result.turns),
  };
}

/** A subscription usage limit: a rejected limit event, or the CLI's words for one. */
function usageLimit(end: TurnEnd, said: string): BrainFailure | undefined {
  const now = Date.now();
  const words = claudeUsageLimit(said, now) ?? claudeUsageLimit(end.text, now);
  if (end.limit === undefined && words === undefined) return undefined;
  const resetsAt = end.limit?.resetsAt ?? words?.resetsAt;
  return {
    reason: "hit Claude's usage limit",
    detail: "",
    final: true,
    retryAt: resetsAt !== undefined && resetsAt > now ? resetsAt : now + UNKNOWN_RESET_MS,
    waitReason: "Claude's usage limit is reached",
  };
}
