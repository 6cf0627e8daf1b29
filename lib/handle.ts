/**
 * One message, start to finish: acknowledge at once, get its text, wait for the chat's turn, ask
 * the brain, reply.
 *
 * @module
 */

import type { Api } from "grammy/web";
import type { Message, ReactionTypeEmoji, Update } from "grammy/types";
import { sleep } from "./abort.ts";
import { type BrainFailure, callBrain } from "./brain.ts";
import { CancelBox } from "./cancel.ts";
import { EditBox } from "./edits.ts";
import { claudeVerdict, RESUME_NOTE } from "./claude.ts";
import { converse } from "./conversation.ts";
import { parseCommand } from "./command.ts";
import { handleCommand } from "./commands.ts";
import { type Config, POLL_PROCESS_VARIABLES, TOKEN_VARIABLES } from "./config.ts";
import { formatDuration } from "./duration.ts";
import { entryRecord, type Journal } from "./journal.ts";
import type { Logger } from "./log.ts";
import { sendReply } from "./reply.ts";
import { SessionStore, startsFresh } from "./session.ts";
import { killGroup } from "./process_tree.ts";
import { apiSignal, describeError } from "./telegram.ts";
import { transcribe } from "./transcribe.ts";
import { attachmentDir, attachmentText, downloadFile, removeAttachments } from "./files.ts";
import { takeTurn } from "./turn.ts";
import { messageInput } from "./update.ts";

/** The reactions that tell where a message stands (all in Telegram's fixed set). */
export const REACTIONS = {
  received: "👀",
  // U+270D alone: Telegram's list has no U+FE0F variant.
  working: "✍",
  done: "👌",
  failed: "👎",
  unsupported: "🤷",
} as const satisfies Record<string, ReactionTypeEmoji["emoji"]>;

/** The longest a reaction or typing call may take: they are worth little once late. */
const DROPPABLE_CALL_MS = 10_000;

/** How long a brain's death by SIGTERM may precede our own stop signal. */
const STOP_SIGNAL_GRACE_MS = 500;

/** How often the typing action is renewed while the brain works (Telegram shows it about 5 s). */
const TYPING_EVERY_MS = 4000;

/** Options for {@linkcode handleMessage}. */
export interface HandleOptions {
  /** For the droppable calls (reactions, typing): no retries, each bounded by a short timeout. */
  api: Api;
  /** For the calls that must land (replies, files): retries 429 and 5xx. Default: `api`. */
  replyApi?: Api;
  config: Config;
  update: Update & { message: Message };
  /** The bot's environment; the brain gets it without the token variables. */
  env: Readonly<Record<string, string>>;
  log: Logger;
  /** Aborted when the handler must stop (SIGTERM, or the poll process is gone). */
  signal: AbortSignal;
  /** The journal the poll loop recorded the message in. Default: none (nothing recorded). */
  journal?: Journal;
  /** Called once the acknowledgement is out: for work that must not delay it (loading plugins). */
  afterAck?: () => Promise<void>;
}

/** The line a reply starts with when its brain had been cut off by a restart and was run again. */
export const RERUN_NOTE = "(re-run after a restart)";

/**
 * Handles one message. Failures the person should know of are replied; the rest is logged. If
 * `signal` aborts, it returns without a reply: the message stays in the journal and runs again.
 */
export async function handleMessage(options: HandleOptions): Promise<void> {
  const { api, replyApi = api, config, update, env, log, signal, journal, afterAck } = options;
  const message = update.message;
  const chatId = message.chat.id;
  const messageId = message.message_id;
  const ids = { updateId: update.update_id, chatId, messageId };
  const record = entryRecord(journal, ids.updateId, log);
  const entry = record.read();
  const cancels = new CancelBox(config.stateDir);
  const edits = new EditBox(config.stateDir);

  // Reactions go one after the other, so that the last one set is the last one meant.
  let reactions = Promise.resolve();
  const react = (emoji: ReactionTypeEmoji["emoji"]) => {
    reactions = reactions.then(() => setReaction(emoji));
    return reactions;
  };
  const setReaction = async (emoji: ReactionTypeEmoji["emoji"]) => {
    try {
      await api.setMessageReaction(
        chatId,
        messageId,
        [{ type: "emoji", emoji }],
        undefined,
        apiSignal(AbortSignal.timeout(DROPPABLE_CALL_MS)),
      );
    } catch (error) {
      log.warn("reaction {emoji} not set on update {updateId}: {error}", {
        emoji,
        ...ids,
        error: describeError(error),
      });
    }
  };
  const typing = async () => {
    try {
      await api.sendChatAction(
        chatId,
        "typing",
        undefined,
        apiSignal(AbortSignal.timeout(DROPPABLE_CALL_MS)),
      );
    } catch (error) {
      log.warn("typing not shown for update {updateId}: {error}", {
        ...ids,
        error: describeError(error),
      });
    }
  };
  /** Sends the message's final reply, then marks it answered: it leaves the journal. */
  const notes: string[] = entry?.rerun ? [RERUN_NOTE] : [];
  const finalReply = async (text: string, emoji: ReactionTypeEmoji["emoji"]) => {
    await sendReply(replyApi, {
      chatId,
      replyTo: messageId,
      text: [...notes, text].join("\n"),
      onPlainFallback: (part, description) =>
        log.info("reply part {part} sent as plain text: {description}", { part, description }),
    });
    // Before "replied" is recorded: an answered message never leaves its files behind.
    removeAttachments(config.stateDir, ids.updateId);
    record.update({ stage: "replied" });
    await react(emoji);
    record.finish();
    cancels.clear(ids.updateId);
    edits.clear(ids.updateId);
  };

  if (entry?.giveUp) {
    await finalReply(
      `⚠️ I gave up on this message: handling it was cut off ${
        entry.dispatches - 1
      } times (the bot crashed or was restarted each time). Send it again if it still matters.`,
      REACTIONS.failed,
    );
    return;
  }

  /** Session files are a convenience: a failure is logged and the message goes on without. */
  const guarded = <T>(fn: () => T, fallback: T): T => {
    try {
      return fn();
    } catch (error) {
      log.warn("session folder of chat {chatId} unusable: {error}", {
        chatId,
        error: String(error),
      });
      return fallback;
    }
  };

  // 0. The bot's own commands: answered at once, never behind the chat's turn.
  const command = parseCommand(message.text);
  if (command !== undefined) {
    await handleCommand({ api: replyApi, config, update, command, journal, log, signal });
    return;
  }

  // 1. The acknowledgement, before anything slow: it is what the person sees first.
  await Promise.all([react(REACTIONS.received), typing()]);
  // A re-run waits for its turn again: edits may reach it until it has it.
  record.update({ stage: "acked", turnAt: undefined });
  await afterAck?.();

  // 2. What the brain gets.
  const input = messageInput(message);
  let text: string;
  let attachments: string[] = [];
  if (input.kind === "unsupported") {
    await finalReply(
      `I can pass on photos, documents, text, captions and voice notes; ${input.what} is not something I can send to the brain.`,
      REACTIONS.unsupported,
    );
    return;
  } else if (input.kind === "audio") {
    if (config.transcribeCommand === undefined) {
      await finalReply(
        "⚠️ Voice is not set up on this bot (COORD_TRANSCRIBE_CMD is not set). Please send text.",
        REACTIONS.failed,
      );
      return;
    }
    const transcript = await transcribe({
      api: replyApi,
      token: config.token,
      apiRoot: config.apiRoot,
      fileId: input.fileId,
      command: config.transcribeCommand,
      workDir: `${config.stateDir}/tmp`,
      env: brainEnv(env, ids),
      timeoutMs: config.brainTimeoutMs,
      signal,
    });
    if (signal.aborted) return;
    if (!transcript.ok) {
      log.warn("transcription failed for update {updateId}: {reason}", {
        ...ids,
        reason: transcript.reason,
      });
      await finalReply(
        `⚠️ I could not transcribe this voice note: ${transcript.reason}.`,
        REACTIONS.failed,
      );
      return;
    }
    text = transcript.text;
    // What was heard, before the brain's answer: the person can tell a mishearing at once.
    await sendReply(replyApi, {
      chatId,
      replyTo: messageId,
      text: transcriptEcho(text),
      formatted: false,
    });
  } else if (input.kind === "file") {
    // Saved where the brain can read it, in a folder of its own that goes when the message is done.
    const dir = attachmentDir(config.stateDir, ids.updateId);
    const what = message.photo ? "the photo" : "the file";
    await Deno.mkdir(dir, { recursive: true });
    const download = await downloadFile({
      api: replyApi,
      token: config.token,
      apiRoot: config.apiRoot,
      fileId: input.fileId,
      knownSize: input.fileSize,
      saveAs: () => `${dir}/${input.name}`,
      what,
      signal,
    });
    if (signal.aborted) return;
    if (!download.ok) {
      log.warn("attachment of update {updateId} not saved: {reason}", {
        ...ids,
        reason: download.reason,
      });
      await finalReply(
        download.tooBig
          ? `⚠️ I can't fetch ${what}: it is over Telegram's 20 MB download limit for bots. ` +
            "Please send something smaller, or a link to it."
          : `⚠️ I could not fetch ${what}: ${download.reason}. Please send it again.`,
        REACTIONS.failed,
      );
      return;
    }
    attachments = [download.path];
    text = attachmentText(input.caption, attachments);
  } else {
    text = input.text;
  }

  // 3. The chat's turn: brain calls of one chat run one at a time, in update_id order.
  await using turn = await takeTurn({
    lockDir: config.lockDir,
    chatId,
    updateId: update.update_id,
    signal,
    onWait: (ahead) =>
      log.info("update {updateId} waits for its turn behind {ahead}", { ...ids, ahead }),
    onUnlocked: (error) =>
      log.warn("lock folder {dir} unusable ({error}); running the brain without the chat lock", {
        dir: config.lockDir,
        error: String(error),
      }),
  });
  if (entry !== undefined && (record.isGone() || record.read()?.stage === "replied")) {
    // A handler of an earlier run answered it while this one waited for the turn.
    log.info("update {updateId} was answered meanwhile; nothing to do", ids);
    removeAttachments(config.stateDir, ids.updateId);
    return;
  }

  if (cancels.requested(ids.updateId)) {
    // Withdrawn by a /cancel while it waited: it gives up its turn without a brain.
    record.update({ cancelled: "waiting" });
    log.info("update {updateId} was withdrawn by /cancel", ids);
    await finalReply(WITHDRAWN_TEXT, REACTIONS.failed);
    return;
  }
  // An edit made while it waited: recorded first, then looked for (see edits.ts), so that an
  // edit either reaches the brain or is told it came too late.
  record.update({ turnAt: new Date().toISOString() });
  const edit = edits.take(ids.updateId);
  if (edit !== undefined) {
    if (input.kind === "audio") {
      log.info("update {updateId}: edit {edit} ignored; a voice note goes by its transcript", {
        ...ids,
        edit: edit.editUpdateId,
      });
    } else {
      text = input.kind === "file"
        ? attachmentText(edit.text, attachments)
        : edit.text.trim() === ""
        ? text
        : edit.text;
      log.info("update {updateId} goes to the brain as edited by update {edit}", {
        ...ids,
        edit: edit.editUpdateId,
      });
    }
  }
  if (turn.waitedMs >= config.waitNoteMs) notes.push(waitNote(turn.waitedMs));

  // 4. The brain, with ✍ while it works and the typing action renewed. Not awaited: the reactions
  // are chained, so the ✍ still lands before the final 👌 or 👎.
  void react(REACTIONS.working);
  void typing();
  // A /cancel leaves a marker (and stops the brain's group itself); it is looked at whenever the
  // brain starts or ends, and with each typing renewal.
  const cancel = new AbortController();
  const checkCancel = () => {
    if (cancels.requested(ids.updateId)) cancel.abort(new Error("cancelled by /cancel"));
  };
  const renew = setInterval(() => {
    checkCancel();
    void typing();
  }, TYPING_EVERY_MS);
  let attemptNow = 0;
  let brainPid: number | undefined;
  // One conversation per chat: its folder goes to every brain; the default Claude brain resumes
  // the chat's conversation itself.
  const sessions = new SessionStore(config.stateDir, chatId);
  const saved = guarded(() => sessions.saved(), undefined);
  const newAt = guarded(() => sessions.newAt(), undefined);
  const baseEnv = brainEnv(env, ids);
  if (attachments.length > 0) baseEnv.COORD_ATTACHMENTS = attachments.join("\n");
  if (guarded(() => (sessions.open(), true), false)) baseEnv.COORD_SESSION_DIR = sessions.dir;
  if (startsFresh(saved, newAt, ids.updateId)) baseEnv.COORD_NEW_CONVERSATION = "1";
  let brainStartedAt: string | undefined;
  const ask = (command: readonly string[]) =>
    callBrain({
      command,
      parse: config.claudeSessions ? claudeVerdict : undefined,
      input: text,
      env: baseEnv,
      timeoutMs: config.brainTimeoutMs,
      maxAttempts: config.brainMaxAttempts,
      signal: AbortSignal.any([signal, cancel.signal]),
      onAttempt: (attempt) => {
        attemptNow = attempt;
        record.update({
          stage: "brain",
          attempt,
          brainStartedAt: brainStartedAt ??= new Date().toISOString(),
        });
        log.info("brain attempt {attempt} of {max} for update {updateId} (waited {waited} s)", {
          attempt,
          max: config.brainMaxAttempts,
          ...ids,
          waited: Number((turn.waitedMs / 1000).toFixed(2)),
        });
      },
      onSpawn: (pid) => {
        brainPid = pid;
        // Recorded first, then the marker looked at: a /cancel writes its marker first, then reads
        // the entry, so one of the two always sees the other.
        record.update({ brainPid: pid });
        checkCancel();
      },
      onFailure: (attempt, failure) => {
        checkCancel();
        if (cancel.signal.aborted) return;
        log.warn("brain attempt {attempt} for update {updateId} failed: {reason}", {
          attempt,
          ...ids,
          reason: failure.reason,
        });
      },
    });
  let outcome;
  try {
    outcome = await converse({
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
        notes.push(RESUME_NOTE);
      },
      guard: guarded,
    });
  } finally {
    clearInterval(renew);
  }
  if (
    !outcome.ok && !signal.aborted && (cancel.signal.aborted || cancels.requested(ids.updateId))
  ) {
    // Whatever of its group ignored the SIGTERM goes too.
    if (brainPid !== undefined) killGroup(brainPid, "SIGKILL");
    record.update({ cancelled: "running" });
    log.info("update {updateId}: brain cancelled by /cancel during attempt {attempt}", {
      ...ids,
      attempt: attemptNow,
    });
    await finalReply(cancelledText(attemptNow, config.brainMaxAttempts), REACTIONS.failed);
    return;
  }
  if (!outcome.ok && outcome.failure.signal === "SIGTERM") {
    // Under systemd's KillMode=control-group the brain gets the stop signal at the same moment as
    // we do. Give ours a moment to arrive rather than answer "killed by SIGTERM" at a shutdown.
    await sleep(STOP_SIGNAL_GRACE_MS, signal);
  }

  // 5. The reply, still within the turn so that replies keep the chat's order. A handler that is
  // being stopped sends none: the message stays in the journal and runs again at the next start.
  if (outcome.ok) {
    await finalReply(outcome.reply, REACTIONS.done);
    log.info("update {updateId} answered after {attempts} attempt(s)", {
      ...ids,
      attempts: outcome.attempts,
    });
  } else if (!outcome.aborted && !signal.aborted) {
    await finalReply(failureText(outcome.failure, outcome.attempts), REACTIONS.failed);
  }
}

/** Tells the person that their message could not be handled (the handler itself failed). */
export async function reportCrash(
  api: Api,
  update: Update & { message: Message },
  options: { signal: AbortSignal; journal?: Journal; log: Logger; stateDir?: string },
): Promise<void> {
  const { signal, journal, log, stateDir } = options;
  const { chat, message_id } = update.message;
  await sendReply(api, {
    chatId: chat.id,
    replyTo: message_id,
    text: "⚠️ Something went wrong while handling this message; the bot's log has the details.",
    signal,
  });
  // That was its final reply: it must not run again, and its files go.
  if (stateDir !== undefined) removeAttachments(stateDir, update.update_id);
  entryRecord(journal, update.update_id, log).finish();
  await api.setMessageReaction(chat.id, message_id, [{ type: "emoji", emoji: REACTIONS.failed }]);
}

/** Characters of a transcript shown back. */
const ECHO_CHARS = 300;

/** The short quoted transcript sent back for a voice note. */
export function transcriptEcho(transcript: string): string {
  const flat = transcript.replace(/\s+/g, " ").trim();
  const shown = flat.length > ECHO_CHARS ? flat.slice(0, ECHO_CHARS - 1) + "…" : flat;
  return `🎙 “${shown}”`;
}

/** The reply to a message withdrawn by `/cancel` before its turn. */
export const WITHDRAWN_TEXT = "🚫 Withdrawn by /cancel: the brain never saw this message.";

/** The reply to a message whose brain `/cancel` stopped. */
export function cancelledText(attempt: number, maxAttempts: number): string {
  return `🛑 Cancelled by /cancel: the brain was stopped during attempt ${attempt} of ${maxAttempts}. ` +
    "It may have done part of the work.";
}

/** The first line of a reply to a message that waited long for its turn. */
export function waitNote(waitedMs: number): string {
  return `(waited ${formatDuration(waitedMs)} for its turn)`;
}

/** The ⚠️ reply for a brain that failed every attempt. */
export function failureText(failure: BrainFailure, attempts: number): string {
  const tries = attempts === 1 ? "1 attempt" : `${attempts} attempts`;
  const head = `⚠️ The brain failed after ${tries}: ${failure.reason}.`;
  return failure.detail === "" ? head : `${head}\n\nLast output:\n${failure.detail}`;
}

/** The brain's environment: the bot's, minus the token, plus the message's ids. */
export function brainEnv(
  env: Readonly<Record<string, string>>,
  ids: { updateId: number; chatId: number; messageId: number },
): Record<string, string> {
  const out: Record<string, string> = { ...env };
  for (const name of [...TOKEN_VARIABLES, ...POLL_PROCESS_VARIABLES]) delete out[name];
  // Set per message, only for one with attachments.
  delete out.COORD_ATTACHMENTS;
  out.COORD_CHAT_ID = String(ids.chatId);
  out.COORD_MESSAGE_ID = String(ids.messageId);
  out.COORD_UPDATE_ID = String(ids.updateId);
  return out;
}
