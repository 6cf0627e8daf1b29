/**
 * A message's brain step: the brain runs with ✍ shown and its progress on the phone, in the
 * chat's conversation, and its outcome becomes the message's ending: the answer (with the cost
 * footer if asked for), a ⚠️, the cancel, or a wait until the time the brain asked for.
 *
 * @module
 */

import { type BrainOptions, type BrainOutcome, callBrain } from "./brain.ts";
import { RESUME_NOTE } from "./claude.ts";
import { converse } from "./conversation.ts";
import { costFooter, recordCost } from "./costs.ts";
import { REACTIONS } from "./feedback.ts";
import { park } from "./park.ts";
import { watchBrain } from "./brain_watch.ts";
import { type SavedSession, SessionStore, startsFresh } from "./session.ts";
import { cancelledText, failureText, stoppedText } from "./texts.ts";
import { brainRunner } from "./brain_runner.ts";
import { attachmentDir } from "../shared/attachments.ts";
import { childEnv } from "../shared/child_env.ts";
import { killGroup } from "../shared/process_tree.ts";
import type { Work } from "./work.ts";
import { brainCommandFor } from "./claude_prompt.ts";
import { collectSent, prepareSendDir, SEND_DIR_ENV } from "./send_files.ts";
import { positionOf } from "../shared/journal_entry.ts";
import { sendDir } from "../shared/outgoing_files.ts";

/** What the brain step needs besides the message's work. */
export interface BrainStep {
  text: string;
  attachments: string[];
  /** How long the chat's lock was waited for (for the log). */
  lockWaitedMs: number;
}

/** The attempt running, as far as the step knows: what a cancel's ending says and kills. */
interface AttemptState {
  /** The attempt's number, from 1; 0 before the first. */
  attempt: number;
  /** Its process group, once it has started. */
  pid?: number;
}

/** A brain step under way: what it was given, and its attempt as it goes. */
interface Running {
  step: BrainStep;
  run: AttemptState;
}

/** Runs the brain and ends the message by its outcome (see the module doc). */
export async function askBrain(work: Work, step: BrainStep): Promise<void> {
  // Not awaited: the reactions are chained, so the ✍ still lands before the final 👌 or 👎.
  void work.react(REACTIONS.working);
  const running: Running = { step, run: { attempt: 0, pid: undefined } };
  const outcome = await runBrain(work, running);
  await endWith(work, { ...running, outcome });
  // The answer is out; what the brain left running (a CLI after its result) is ended by now, or
  // within seconds: the handler holds the chat until then, so the chat's next brain never meets it.
  await outcome.settled;
  // Until now a handler that died would have left the poll process the attempt's marker to sweep.
  work.record.update({ brainRun: undefined });
}

/** The brain in the chat's conversation, its progress shown while it works. */
async function runBrain(work: Work, running: Running): Promise<BrainOutcome> {
  const { config, ids, log } = work;
  const { step } = running;
  // Made again if it went with a deleted state folder; if it can't be, the brain's start says why.
  try {
    Deno.mkdirSync(config.brainWorkdir, { recursive: true, mode: 0o700 });
  } catch { /* reported by the spawn */ }
  const conversation = conversationAtStart(work);
  const env = brainEnv(work, { attachments: step.attachments, conversation });
  const watch = watchFor(work, env);
  // Each attempt (and a new conversation after one that could not be resumed) is given the
  // message with what was steered into it so far: in a re-run, into the turn that was cut off;
  // in a retry, into the attempt that failed. While an attempt runs, a steer goes into its turn.
  const input = () => work.turns.withSteers(step.text);
  work.turns.brainStarts();
  work.turns.onShow = watch.status;
  const hooks = attemptHooks(work, running);
  const ask = (command: readonly string[]) =>
    callBrain({
      command,
      runner: brainRunner(work),
      input,
      env,
      cwd: config.brainWorkdir,
      timeoutMs: config.brainTimeoutMs,
      maxAttempts: config.brainMaxAttempts,
      signal: AbortSignal.any([work.signal, work.line.cancel]),
      onStdout: watch.onStdout,
      ...hooks,
    });
  const { sessions, saved, newAt, guard } = conversation;
  return await converse({
    sessions,
    saved,
    newAt,
    updateId: positionOf(work.entry),
    brainCommand: brainCommandFor(config, { updateId: ids.updateId, log }),
    brainKind: config.brainKind,
    ask,
    onResumeFailed: (session) => {
      log.warn("update {updateId}: conversation {session} could not be resumed; starting anew", {
        ...ids,
        session,
      });
      work.notes.push(RESUME_NOTE);
    },
    onEmptyResult: (session) =>
      log.warn("update {updateId}: empty result in conversation {session}; asking once more", {
        ...ids,
        session,
      }),
    guard,
  }).finally(() => {
    work.turns.brainEnded();
    return watch.stop();
  });
}

/** The brain's progress on the phone (a reply to a group's progress message steers). */
function watchFor(work: Work, env: Record<string, string>) {
  const { config, ids, log } = work;
  return watchBrain({
    api: work.api,
    ids,
    privateChat: work.update.message.chat.type === "private",
    log,
    dir: attachmentDir(config.stateDir, ids.updateId),
    env,
    claudeStream: config.brainKind === "claude",
    onMessage: (messageId) => work.record.update({ progressMessageId: messageId }),
  });
}

/** The chat's conversation as the message finds it, read once before the brain starts. */
interface ConversationAtStart {
  sessions: SessionStore;
  saved: SavedSession | undefined;
  /** The update id of the chat's last `/new`, if any. */
  newAt: number | undefined;
  /** The chat's session folder, for a custom brain; undefined when it could not be made. */
  dir?: string;
  /** A `/new` came since the conversation was last used: the brain starts a new one. */
  fresh: boolean;
  /** Runs a session-file operation; a failure is logged and gives `fallback`. */
  guard: <T>(fn: () => T, fallback: T) => T;
}

/** Reads the chat's session folder (and makes it), never failing the message for it. */
function conversationAtStart(work: Work): ConversationAtStart {
  const { config, ids, log } = work;
  const sessions = new SessionStore(config.stateDir, ids.chatId);
  const guard = <T>(fn: () => T, fallback: T): T => {
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
  const saved = guard(() => sessions.saved(), undefined);
  const newAt = guard(() => sessions.newAt(), undefined);
  const dir = guard(() => (sessions.open(), true), false) ? sessions.dir : undefined;
  const fresh = startsFresh(positionOf(work.entry), { saved, newAt });
  return { sessions, saved, newAt, dir, fresh, guard };
}

/** The brain's environment: the bot's without the token, plus the message's files and conversation. */
function brainEnv(
  work: Work,
  message: { attachments: string[]; conversation: ConversationAtStart },
): Record<string, string> {
  const { attachments, conversation } = message;
  const env = childEnv(work.env, work.ids);
  if (attachments.length > 0) env.COORD_ATTACHMENTS = attachments.join("\n");
  if (conversation.dir !== undefined) env.COORD_SESSION_DIR = conversation.dir;
  if (conversation.fresh) env.COORD_NEW_CONVERSATION = "1";
  env[SEND_DIR_ENV] = sendDir(work.config.stateDir, work.ids.updateId);
  return env;
}

/**
 * What each attempt tells the journal and the poll process (its stage, number and marker, which
 * `/status` shows and a dead handler's orphans are swept by) and the log, and what it leaves in
 * `running.run` for the ending.
 */
function attemptHooks(
  work: Work,
  running: Running,
): Pick<BrainOptions, "onAttempt" | "onRun" | "onSpawn" | "onFailure"> {
  const { config, ids, log, record, now = Date.now } = work;
  const { step, run } = running;
  let brainStartedAt: string | undefined;
  return {
    onAttempt: (attempt) => {
      run.attempt = attempt;
      prepareSendDir(config.stateDir, ids.updateId, log);
      brainStartedAt ??= new Date(now()).toISOString();
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
    },
    onFailure: (attempt, failure) => {
      // The marker stays until the attempt's processes are gone (`askBrain` clears it then; the
      // next attempt's replaces it): a handler killed meanwhile leaves it to the scheduler's sweep.
      if (work.line.cancel.aborted) return;
      log.warn("brain attempt {attempt} for update {updateId} failed: {reason}", {
        attempt,
        ...ids,
        reason: failure.reason,
      });
    },
  };
}

/**
 * The message's ending, by the brain's outcome. An answer is always journaled (even by a handler
 * being stopped: the next run sends it); a handler being stopped sends no other ending.
 */
async function endWith(
  work: Work,
  ended: Running & { outcome: BrainOutcome },
): Promise<void> {
  const { config, ids, log, signal } = work;
  const { run, outcome } = ended;
  if (outcome.ok) {
    recordCost(config.stateDir, { chatId: ids.chatId, usd: outcome.usage?.costUsd ?? 0 });
    const footer = config.showCost ? costFooter(outcome.usage) : "";
    const by = work.turns.interruptedBy;
    const answer = outcome.stopped && by !== undefined
      ? stoppedText(outcome.reply, by)
      : outcome.reply;
    const sent = collectSent({ stateDir: config.stateDir, updateId: ids.updateId, log });
    const text = [answer, sent.lines.join("\n"), footer].filter((part) => part !== "");
    // The messages steered into it are answered with it (their 👌 comes with its own).
    await work.reply(text.join("\n\n"), REACTIONS.done, sent.files);
    log.info("update {updateId} answered after {attempts} attempt(s)", {
      ...ids,
      attempts: outcome.attempts,
    });
    return;
  }
  if (signal.aborted) return;
  if (work.line.cancel.aborted) {
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
    return work.reply(cancelledText(at, work.line.cancelledBy), REACTIONS.failed);
  }
  if (outcome.failure.retryAt !== undefined) {
    const { retryAt: until, waitReason: reason = "the brain asked to be run later" } =
      outcome.failure;
    return park({ ...work, entry: work.record.read(), until, reason });
  }
  if (!outcome.aborted) {
    const { attempts, failure } = outcome;
    const privateChat = work.update.message.chat.type === "private";
    log.warn("update {updateId}: the brain failed: {reason}; last output: {detail}", {
      ...ids,
      reason: failure.reason,
      detail: failure.detail || "none",
    });
    await work.reply(failureText(failure, { attempts, privateChat }), REACTIONS.failed);
  }
}
