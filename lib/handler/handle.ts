/**
 * One message, start to finish, in its own handler process: take the chat's lock, get its input
 * (download, transcribe), ask the brain, reply. The poll loop starts this handler only when the
 * message can start (its chat idle, a brain slot free) and after the desk's 👀 is out.
 *
 * The person may `/cancel` it at any stage: the desk leaves a marker, looked at here every
 * {@linkcode CANCEL_POLL_MS}, which stops whatever runs (a download, the transcriber, the brain).
 *
 * @module
 */

import type { Api } from "grammy/web";
import type { Message, Update } from "grammy/types";
import { callBrain } from "./brain.ts";
import { CancelBox } from "./cancel.ts";
import { takeChatLock } from "./chat_lock.ts";
import { EditBox } from "./edits.ts";
import { claudeVerdict, RESUME_NOTE } from "./claude.ts";
import { converse } from "./conversation.ts";
import { type Config, POLL_PROCESS_VARIABLES, TOKEN_VARIABLES } from "../shared/config.ts";
import {
  type MessageRef,
  type Reaction,
  reactionChain,
  REACTIONS,
  showTyping,
} from "./feedback.ts";
import { entryRecord, type Journal } from "../shared/journal.ts";
import { deliver, finish } from "./outbox.ts";
import { costFooter, recordCost } from "./costs.ts";
import { park } from "./park.ts";
import { watchBrain } from "./progress.ts";
import type { Logger } from "../shared/log.ts";
import { sendReply } from "./reply.ts";
import { SessionStore, startsFresh } from "./session.ts";
import { killGroup } from "../shared/process_tree.ts";
import { transcribe } from "./transcribe.ts";
import { attachmentDir, removeAttachments } from "../shared/attachments.ts";
import { attachmentText, downloadFile } from "./files.ts";
import {
  cancelledText,
  CRASH_TEXT,
  failureText,
  giveUpText,
  RERUN_NOTE,
  transcriptEcho,
  waitNote,
  WITHDRAWN_TEXT,
} from "./texts.ts";
import { type MessageInput, messageInput } from "../shared/update.ts";

/** How often the typing action is renewed while the message is worked on (Telegram shows it ~5 s). */
const TYPING_EVERY_MS = 4000;

/** How often the cancel marker is looked at. */
export const CANCEL_POLL_MS = 250;

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
}

/** The brain's input, or the final reply already sent instead. */
type Input = { text: string; attachments: string[] } | "answered";

/**
 * Handles one message. Failures the person should know of are replied; the rest is logged. If
 * `signal` aborts, it returns without a reply: the message stays in the journal and runs again.
 */
export async function handleMessage(options: HandleOptions): Promise<void> {
  const { api, config, update, log, signal, journal } = options;
  const message = update.message;
  const ids: MessageRef = {
    updateId: update.update_id,
    chatId: message.chat.id,
    messageId: message.message_id,
  };
  const record = entryRecord(journal, ids.updateId, log);
  const entry = record.read();
  const cancels = new CancelBox(config.stateDir);
  const edits = new EditBox(config.stateDir);
  const react = reactionChain(api, ids, log);
  const notes: string[] = entry?.rerun ? [RERUN_NOTE] : [];
  const reply = (text: string, emoji: Reaction) =>
    finish({ ...options, ids, notes, text, emoji, react });

  if (entry?.stage === "answered" && entry.answer !== undefined) {
    // Decided by an earlier handler: only sending is left, from where it stopped.
    log.info("update {updateId}: delivering its journaled answer", ids);
    return deliver({ ...options, ids, outgoing: entry.answer, react });
  }
  if (entry?.giveUp) {
    return reply(giveUpText(entry.deaths ?? entry.dispatches - 1, entry.lastEnd), REACTIONS.failed);
  }

  await using lock = await takeChatLock({
    lockDir: config.lockDir,
    chatId: ids.chatId,
    signal,
    onWait: () => log.info("update {updateId} waits for the chat's lock", ids),
    onUnlocked: (error) =>
      log.warn("lock folder {dir} unusable ({error}); running the brain without the chat lock", {
        dir: config.lockDir,
        error: String(error),
      }),
  });
  if (entry !== undefined && (record.isGone() || record.read()?.stage === "replied")) {
    // A handler of an earlier run answered it while this one waited for the lock.
    log.info("update {updateId} was answered meanwhile; nothing to do", ids);
    removeAttachments(config.stateDir, ids.updateId);
    return;
  }
  if (cancels.requested(ids.updateId)) {
    // Withdrawn by a /cancel just as it was started.
    log.info("update {updateId} was withdrawn by /cancel", ids);
    return reply(WITHDRAWN_TEXT, REACTIONS.failed);
  }

  // From here on a /cancel stops whatever runs; the typing action shows that something does.
  const cancel = new AbortController();
  const watch = setInterval(() => {
    if (cancels.requested(ids.updateId)) cancel.abort(new Error("cancelled by /cancel"));
  }, CANCEL_POLL_MS);
  void showTyping(api, ids, log);
  const renew = setInterval(() => void showTyping(api, ids, log), TYPING_EVERY_MS);
  try {
    const work = AbortSignal.any([signal, cancel.signal]);
    const input = messageInput(message);
    const got = await getInput({ ...options, ids, input, signal: work, reply });
    if (signal.aborted) return;
    if (cancel.signal.aborted) {
      log.info("update {updateId} cancelled by /cancel before its brain started", ids);
      const at = { stage: "input", what: inputStage(input) } as const;
      return reply(cancelledText(at, cancels.by(ids.updateId)), REACTIONS.failed);
    }
    if (got === "answered") return;
    const text = applyEdit({ ...options, ids, input, text: got.text, got, edits, record });
    // From its arrival until the loop started it: the time it spent behind other messages.
    const waited = Date.parse(entry?.startedAt ?? "") - Date.parse(entry?.receivedAt ?? "");
    if (!entry?.rerun && waited >= config.waitNoteMs) notes.push(waitNote(waited));
    await askBrain({
      ...options,
      ids,
      text,
      attachments: got.attachments,
      notes,
      react,
      reply,
      cancel,
      cancels,
      record,
      lockWaitedMs: lock.waitedMs,
    });
  } finally {
    clearInterval(watch);
    clearInterval(renew);
  }
}

/** What a cancelled message was doing before its brain. */
function inputStage(input: MessageInput): string {
  if (input.kind === "audio") return "its voice note was fetched and transcribed";
  if (input.kind === "file") return "its file was fetched";
  return "it started";
}

type Reply = (text: string, emoji: Reaction) => Promise<void>;

/** Gets what the brain is given: the text, a transcript, or a saved file's path. */
async function getInput(
  options: HandleOptions & { ids: MessageRef; input: MessageInput; reply: Reply },
): Promise<Input> {
  const { replyApi = options.api, config, ids, input, log, signal, reply } = options;
  if (input.kind === "text") return { text: input.text, attachments: [] };
  if (input.kind === "unsupported") {
    await reply(
      `I can pass on photos, documents, text, captions and voice notes; ${input.what} is not something I can send to the brain.`,
      REACTIONS.unsupported,
    );
    return "answered";
  }
  const download = { timeoutMs: config.downloadTimeoutMs, stallMs: config.downloadStallMs };
  if (input.kind === "audio") {
    if (config.transcribeCommand === undefined) {
      await reply(
        "⚠️ Voice is not set up on this bot (COORD_TRANSCRIBE_CMD is not set). Please send text.",
        REACTIONS.failed,
      );
      return "answered";
    }
    const transcript = await transcribe({
      api: replyApi,
      token: config.token,
      apiRoot: config.apiRoot,
      fileId: input.fileId,
      command: config.transcribeCommand,
      workDir: `${config.stateDir}/tmp`,
      env: brainEnv(options.env, ids),
      timeoutMs: config.transcribeTimeoutMs,
      download,
      signal,
    });
    if (signal.aborted) return "answered";
    if (!transcript.ok) {
      log.warn("transcription failed for update {updateId}: {reason}", {
        ...ids,
        reason: transcript.reason,
      });
      await reply(
        `⚠️ I could not transcribe this voice note: ${transcript.reason}.`,
        REACTIONS.failed,
      );
      return "answered";
    }
    // What was heard, before the brain's answer: the person can tell a mishearing at once.
    await sendReply(replyApi, {
      chatId: ids.chatId,
      replyTo: ids.messageId,
      text: transcriptEcho(transcript.text),
      formatted: false,
    });
    const heard = input.forwarded === undefined
      ? transcript.text
      : `${input.forwarded}\n${transcript.text}`;
    return { text: heard, attachments: [] };
  }
  // Saved where the brain can read it, in a folder of its own that goes when the message is done.
  const dir = attachmentDir(config.stateDir, ids.updateId);
  const what = options.update.message.photo ? "the photo" : "the file";
  await Deno.mkdir(dir, { recursive: true });
  const saved = await downloadFile({
    api: replyApi,
    token: config.token,
    apiRoot: config.apiRoot,
    fileId: input.fileId,
    knownSize: input.fileSize,
    saveAs: () => `${dir}/${input.name}`,
    what,
    ...download,
    signal,
  });
  if (signal.aborted) return "answered";
  if (!saved.ok) {
    log.warn("attachment of update {updateId} not saved: {reason}", {
      ...ids,
      reason: saved.reason,
    });
    await reply(
      saved.tooBig
        ? `⚠️ I can't fetch ${what}: it is over Telegram's 20 MB download limit for bots. ` +
          "Please send something smaller, or a link to it."
        : `⚠️ I could not fetch ${what}: ${saved.reason}. Please send it again.`,
      REACTIONS.failed,
    );
    return "answered";
  }
  return { text: attachmentText(input.caption, [saved.path]), attachments: [saved.path] };
}

/**
 * An edit made while the message waited: recorded first (`turnAt`), then looked for (see
 * edits.ts), so that an edit either reaches the brain or is told it came too late.
 */
function applyEdit(
  options: HandleOptions & {
    ids: MessageRef;
    input: MessageInput;
    text: string;
    got: { attachments: string[] };
    edits: EditBox;
    record: ReturnType<typeof entryRecord>;
  },
): string {
  const { ids, input, text, got, edits, record, log } = options;
  record.update({ turnAt: new Date().toISOString() });
  const edit = edits.take(ids.updateId);
  if (edit === undefined) return text;
  if (input.kind === "audio") {
    log.info("update {updateId}: edit {edit} ignored; a voice note goes by its transcript", {
      ...ids,
      edit: edit.editUpdateId,
    });
    return text;
  }
  log.info("update {updateId} goes to the brain as edited by update {edit}", {
    ...ids,
    edit: edit.editUpdateId,
  });
  if (input.kind === "file") return attachmentText(edit.text, got.attachments);
  return edit.text.trim() === "" ? text : edit.text;
}

/** The brain, with ✍ while it works, then the reply: the answer, a ⚠️, or the cancel. */
async function askBrain(
  options: HandleOptions & {
    ids: MessageRef;
    text: string;
    attachments: string[];
    notes: string[];
    react: (emoji: Reaction) => Promise<void>;
    reply: Reply;
    cancel: AbortController;
    cancels: CancelBox;
    record: ReturnType<typeof entryRecord>;
    lockWaitedMs: number;
  },
): Promise<void> {
  const { config, ids, text, attachments, notes, react, reply, cancel, cancels, record, log } =
    options;
  const signal = options.signal;
  // Not awaited: the reactions are chained, so the ✍ still lands before the final 👌 or 👎.
  void react(REACTIONS.working);
  let attemptNow = 0;
  let brainPid: number | undefined;
  // One conversation per chat: its folder goes to every brain; the default Claude brain resumes
  // the chat's conversation itself.
  const sessions = new SessionStore(config.stateDir, ids.chatId);
  const guarded = <T>(fn: () => T, fallback: T): T => {
    try {
      return fn();
    } catch (error) {
      // Session files are a convenience: the message goes on without.
      log.warn("session folder of chat {chatId} unusable: {error}", {
        chatId: ids.chatId,
        error: String(error),
      });
      return fallback;
    }
  };
  const saved = guarded(() => sessions.saved(), undefined);
  const newAt = guarded(() => sessions.newAt(), undefined);
  const baseEnv = brainEnv(options.env, ids);
  if (attachments.length > 0) baseEnv.COORD_ATTACHMENTS = attachments.join("\n");
  if (guarded(() => (sessions.open(), true), false)) baseEnv.COORD_SESSION_DIR = sessions.dir;
  if (startsFresh(saved, newAt, ids.updateId)) baseEnv.COORD_NEW_CONVERSATION = "1";
  const watch = watchBrain({
    api: options.api,
    ids,
    privateChat: options.update.message.chat.type === "private",
    log,
    dir: attachmentDir(config.stateDir, ids.updateId),
    env: baseEnv,
    claudeStream: config.claudeSessions,
  });
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
      onStdout: watch.onStdout,
      onAttempt: (attempt) => {
        attemptNow = attempt;
        record.update({
          stage: "brain",
          parkedUntil: undefined,
          attempt,
          brainStartedAt: brainStartedAt ??= new Date().toISOString(),
        });
        log.info("brain attempt {attempt} of {max} for update {updateId} (lock wait {waited} s)", {
          attempt,
          max: config.brainMaxAttempts,
          ...ids,
          waited: Number((options.lockWaitedMs / 1000).toFixed(2)),
        });
      },
      onRun: (run) => record.update({ brainRun: run }),
      onSpawn: (pid) => {
        brainPid = pid;
        // Recorded first, then the marker looked at: a /cancel writes its marker first, then reads
        // the entry, so one of the two always sees the other.
        record.update({ brainPid: pid });
        if (cancels.requested(ids.updateId)) cancel.abort(new Error("cancelled by /cancel"));
      },
      onFailure: (attempt, failure) => {
        // The attempt is over: its pid may belong to anyone from now on.
        record.update({ brainPid: undefined, brainRun: undefined });
        // A /cancel's SIGTERM may end the attempt before the watch sees the marker: no retry then.
        if (cancels.requested(ids.updateId)) cancel.abort(new Error("cancelled by /cancel"));
        if (cancel.signal.aborted) return;
        log.warn("brain attempt {attempt} for update {updateId} failed: {reason}", {
          attempt,
          ...ids,
          reason: failure.reason,
        });
      },
    });
  const outcome = await converse({
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
  }).finally(() => watch.stop());
  if (
    !outcome.ok && !signal.aborted && (cancel.signal.aborted || cancels.requested(ids.updateId))
  ) {
    // Whatever of its group ignored the SIGTERM goes too.
    if (brainPid !== undefined) killGroup(brainPid, "SIGKILL");
    log.info("update {updateId}: brain cancelled by /cancel during attempt {attempt}", {
      ...ids,
      attempt: attemptNow,
    });
    const at = {
      stage: "brain",
      attempt: attemptNow,
      maxAttempts: config.brainMaxAttempts,
    } as const;
    return reply(cancelledText(at, cancels.by(ids.updateId)), REACTIONS.failed);
  }
  // The reply, still within the chat's lock so that replies keep the chat's order. A handler that
  // is being stopped sends none: the message stays in the journal and runs again at the next start.
  if (!outcome.ok && outcome.failure.retryAt !== undefined && !signal.aborted) {
    const { retryAt: until, waitReason: reason = "the brain asked to be run later" } =
      outcome.failure;
    return park({
      ...options,
      replyApi: options.replyApi ?? options.api,
      entry: record.read(),
      until,
      reason,
    });
  }
  if (outcome.ok) {
    recordCost(config.stateDir, ids.chatId, outcome.usage?.costUsd ?? 0);
    const footer = config.showCost ? costFooter(outcome.usage) : "";
    await reply(footer === "" ? outcome.reply : `${outcome.reply}\n\n${footer}`, REACTIONS.done);
    log.info("update {updateId} answered after {attempts} attempt(s)", {
      ...ids,
      attempts: outcome.attempts,
    });
  } else if (!outcome.aborted && !signal.aborted) {
    await reply(failureText(outcome.failure, outcome.attempts), REACTIONS.failed);
  }
}

/** Tells the person that their message could not be handled (the handler itself failed). */
export function reportCrash(
  api: Api,
  update: Update & { message: Message },
  options: { signal: AbortSignal; journal?: Journal; log: Logger; config: Config },
): Promise<void> {
  const { chat, message_id } = update.message;
  return finish({
    ...options,
    api,
    ids: { updateId: update.update_id, chatId: chat.id, messageId: message_id },
    text: CRASH_TEXT,
    emoji: REACTIONS.failed,
  });
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
