/**
 * One brain call within the chat's conversation: the default Claude brain resumes the chat's
 * conversation (and starts a new one when that is gone); a custom brain keeps its own, and only
 * learns of a `/new`.
 *
 * @module
 */

import type { BrainOutcome } from "./brain.ts";
import { claudeCommand } from "./claude.ts";
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
  /** True for the default Claude brain, whose conversations the bot keeps. */
  claudeSessions: boolean;
  /** Runs the brain with one command line. */
  ask(command: readonly string[]): Promise<BrainOutcome>;
  /** Told when the conversation to resume is gone and a new one is started instead. */
  onResumeFailed(session: string | undefined): void;
  /** Runs a session-file operation; a failure is the caller's to log, and gives `fallback`. */
  guard<T>(fn: () => T, fallback: T): T;
}

/** Asks the brain, resuming (or starting) the chat's conversation, and remembers where it is. */
export async function converse(options: ConverseOptions): Promise<BrainOutcome> {
  const { sessions, saved, newAt, updateId, brainCommand, ask, guard } = options;
  if (!options.claudeSessions) {
    const outcome = await ask(brainCommand);
    // A custom brain keeps its own conversation; this only records that one went on after a /new.
    if (outcome.ok) guard(() => sessions.save({ sessionId: "", updateId }), undefined);
    return outcome;
  }
  const resume = sessionToResume(updateId, { saved, newAt });
  let outcome = await ask(claudeCommand(brainCommand, resume));
  if (!outcome.ok && !outcome.aborted && outcome.failure.resumeFailed) {
    options.onResumeFailed(resume);
    outcome = await ask(claudeCommand(brainCommand));
  }
  if (outcome.ok && outcome.sessionId !== undefined) {
    const sessionId = outcome.sessionId;
    guard(() => sessions.save({ sessionId, updateId }), undefined);
  }
  return outcome;
}
