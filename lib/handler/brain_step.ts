/**
 * A message's brain step: the brain runs with ✍ shown and its progress on the phone, in the
 * chat's conversation, and its outcome becomes the message's ending: the answer (with the cost
 * footer if asked for), a ⚠️, the cancel, or a wait until the time the brain asked for.
 *
 * @module
 */

import { type BrainOutcome, callBrain } from "./brain.ts";
import { claudeVerdict, RESUME_NOTE } from "./claude.ts";
import { converse } from "./conversation.ts";
import { costFooter, recordCost } from "./costs.ts";
import { REACTIONS } from "./feedback.ts";
import { park } from "./park.ts";
import { watchBrain } from "./brain_watch.ts";
import { SessionStore, startsFresh } from "./session.ts";
import { cancelledText, failureText } from "./texts.ts";
import { attachmentDir } from "../shared/attachments.ts";
import { childEnv } from "../shared/child_env.ts";
import { killGroup } from "../shared/process_tree.ts";
import type { Work } from "./work.ts";

/** What the brain step needs besides the message's work. */
export interface BrainStep {
  text: string;
  attachments: string[];
  /** Aborts when the person cancels the message. */
  cancel: AbortSignal;
  /** Looks at the cancel marker now; true when the message is cancelled. */
  checkCancel: () => boolean;
  /** How long the chat's lock was waited for (for the log). */
  lockWaitedMs: number;
}

/** Runs the brain and ends the message by its outcome (see the module doc). */
export async function askBrain(work: Work, step: BrainStep): Promise<void> {
  // Not awaited: the reactions are chained, so the ✍ still lands before the final 👌 or 👎.
  void work.react(REACTIONS.working);
  const run = { attempt: 0, pid: undefined as number | undefined };
  const outcome = await runBrain(work, step, run);
  await endWith(work, step, outcome, run);
}

/** The brain in the chat's conversation, its progress shown while it works. */
async function runBrain(
  work: Work,
  step: BrainStep,
  run: { attempt: number; pid?: number },
): Promise<BrainOutcome> {
  const { config, ids, log, record } = work;
  const sessions = new SessionStore(config.stateDir, ids.chatId);
  const guarded = <T>(fn: () => T, fallback: T): T => {
    try {
      return fn();
    } catch (error) {
      // Session files are a convenience: the message goes on without.
      log.warn("session folder of chat {chatId} unusable: {error}", {
        ...ids,
        error: String(error),
      });
      return fallback;
    }
  };
  const saved = guarded(() => sessions.saved(), undefined);
  const newAt = guarded(() => sessions.newAt(), undefined);
  const env = childEnv(work.env, ids);
  if (step.attachments.length > 0) env.COORD_ATTACHMENTS = step.attachments.join("\n");
  if (guarded(() => (sessions.open(), true), false)) env.COORD_SESSION_DIR = sessions.dir;
  if (startsFresh(saved, newAt, ids.updateId)) env.COORD_NEW_CONVERSATION = "1";
  const watch = watchBrain({
    api: work.api,
    ids,
    privateChat: work.update.message.chat.type === "private",
    log,
    dir: attachmentDir(config.stateDir, ids.updateId),
    env,
    claudeStream: config.claudeSessions,
  });
  let brainStartedAt: string | undefined;
  const ask = (command: readonly string[]) =>
    callBrain({
      command,
      parse: config.claudeSessions ? claudeVerdict : undefined,
      input: step.text,
      env,
      timeoutMs: config.brainTimeoutMs,
      maxAttempts: config.brainMaxAttempts,
      signal: AbortSignal.any([work.signal, step.cancel]),
      onStdout: watch.onStdout,
      onAttempt: (attempt) => {
        run.attempt = attempt;
        brainStartedAt ??= new Date().toISOString();
        record.update({ stage: "brain", parkedUntil: undefined, attempt, brainStartedAt });
        log.info("brain attempt {attempt} of {max} for update {updateId} (lock wait {waited} s)", {
          attempt,
          max: config.brainMaxAttempts,
          ...ids,
          waited: Number((step.lockWaitedMs / 1000).toFixed(2)),
        });
      },
      onRun: (marker) => record.update({ brainRun: marker }),
      onSpawn: (pid) => {
        run.pid = pid;
        // Recorded first, then the marker looked at: a /cancel writes its marker first, then reads
        // the entry, so one of the two always sees the other.
        record.update({ brainPid: pid });
        step.checkCancel();
      },
      onFailure: (attempt, failure) => {
        // The attempt is over: its pid may belong to anyone from now on.
        record.update({ brainPid: undefined, brainRun: undefined });
        // A /cancel's SIGTERM may end the attempt before the watch sees the marker: no retry then.
        if (step.checkCancel()) return;
        log.warn("brain attempt {attempt} for update {updateId} failed: {reason}", {
          attempt,
          ...ids,
          reason: failure.reason,
        });
      },
    });
  return await converse({
    sessions,
    saved,
    newAt,
    updateId: ids.updateId,
    brainCommand: config.brainCommand,
    claudeSessions: config.claudeSessions,
    ask,
    onResumeFailed: (session) => {
      log.warn("update {updateId}: conversation {session} could not be resumed; starting anew", {
        ...ids,
        session,
      });
      work.notes.push(RESUME_NOTE);
    },
    guard: guarded,
  }).finally(() => watch.stop());
}

/**
 * The message's ending, by the brain's outcome. An answer is always journaled (even by a handler
 * being stopped: the next run sends it); a handler being stopped sends no other ending.
 */
async function endWith(
  work: Work,
  step: BrainStep,
  outcome: BrainOutcome,
  run: { attempt: number; pid?: number },
): Promise<void> {
  const { config, ids, log, signal } = work;
  if (outcome.ok) {
    recordCost(config.stateDir, ids.chatId, outcome.usage?.costUsd ?? 0);
    const footer = config.showCost ? costFooter(outcome.usage) : "";
    await work.reply(
      footer === "" ? outcome.reply : `${outcome.reply}\n\n${footer}`,
      REACTIONS.done,
    );
    log.info("update {updateId} answered after {attempts} attempt(s)", {
      ...ids,
      attempts: outcome.attempts,
    });
    return;
  }
  if (signal.aborted) return;
  if (step.checkCancel()) {
    // Whatever of its group ignored the SIGTERM goes too.
    if (run.pid !== undefined) killGroup(run.pid, "SIGKILL");
    log.info("update {updateId}: brain cancelled during attempt {attempt}", {
      ...ids,
      attempt: run.attempt,
    });
    const at = {
      stage: "brain",
      attempt: run.attempt,
      maxAttempts: config.brainMaxAttempts,
    } as const;
    return work.reply(cancelledText(at, work.cancels.by(ids.updateId)), REACTIONS.failed);
  }
  if (outcome.failure.retryAt !== undefined) {
    const { retryAt: until, waitReason: reason = "the brain asked to be run later" } =
      outcome.failure;
    return park({ ...work, entry: work.record.read(), until, reason });
  }
  if (!outcome.aborted) {
    await work.reply(failureText(outcome.failure, outcome.attempts), REACTIONS.failed);
  }
}
