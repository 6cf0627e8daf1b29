/**
 * One brain call within the chat's conversation: a Claude brain resumes the chat's conversation
 * (and starts a new one when that is gone, or tries an empty result once more in it); a plain
 * brain keeps its own, and only learns of a `/new`.
 *
 * @module
 */

import type { BrainOutcome } from "./brain.ts";
import { claudeCommand } from "./claude.ts";
import type { BrainKind } from "../shared/config.ts";
import { type SavedSession, type SessionStore, sessionToResume } from "./session.ts";

/** Options for {@linkcode converse}. */
export interface ConverseOptions {
  /** The chat's conversation folder. */
  sessions: SessionStore;
  /** The chat's conversation as saved when the message started, if any. */
  saved: SavedSession | undefined;
  /** The update id of the chat's last `/new`, if any. */
  newAt: number | undefined;
  updateId: number;
  /** The brain's argv, as configured. */
  brainCommand: readonly string[];
  /** The brain's protocol: a Claude brain's conversations are kept by the bot. */
  brainKind: BrainKind;
  /** Runs the brain with one command line. */
  ask(command: readonly string[]): Promise<BrainOutcome>;
  /** Told when the conversation to resume is gone and a new one is started instead. */
  onResumeFailed(session: string | undefined): void;
  /** Told when a turn came back empty and is tried once more in its conversation. Default: nothing. */
  onEmptyResult?(session: string): void;
  /** Runs a session-file operation; a failure is the caller's to log, and gives `fallback`. */
  guard<T>(fn: () => T, fallback: T): T;
}

/** Asks the brain, resuming (or starting) the chat's conversation, and remembers where it is. */
export async function converse(options: ConverseOptions): Promise<BrainOutcome> {
  const { sessions, saved, newAt, updateId, brainCommand, ask, guard } = options;
  if (options.brainKind !== "claude") {
    const outcome = await ask(brainCommand);
    // A plain brain keeps its own conversation; this only records that one went on after a /new.
    if (outcome.ok) guard(() => sessions.save({ sessionId: "", updateId }), undefined);
    return outcome;
  }
  const resume = sessionToResume(updateId, { saved, newAt });
  let outcome = await ask(claudeCommand(brainCommand, resume));
  if (!outcome.ok && !outcome.aborted && outcome.failure.resumeFailed) {
    options.onResumeFailed(resume);
    // One CLI per conversation at a time: the last one is gone before the next starts.
    await outcome.settled;
    outcome = await ask(claudeCommand(brainCommand));
  }
  outcome = await retryEmpty(outcome, options);
  if (outcome.ok && outcome.sessionId !== undefined) {
    const sessionId = outcome.sessionId;
    guard(() => sessions.save({ sessionId, updateId }), undefined);
  }
  return outcome;
}

/**
 * A turn that came back empty, without a word (a resumed session may return at once with 0 turns
 * and nothing said), is asked once more in its conversation; a second empty one is the outcome.
 */
async function retryEmpty(outcome: BrainOutcome, options: ConverseOptions): Promise<BrainOutcome> {
  if (outcome.ok || outcome.aborted || !outcome.failure.emptyResult) return outcome;
  const session = outcome.failure.sessionId;
  if (session === undefined) return outcome;
  options.onEmptyResult?.(session);
  await outcome.settled;
  const again = await options.ask(claudeCommand(options.brainCommand, session));
  return { ...again, attempts: outcome.attempts + again.attempts };
}
