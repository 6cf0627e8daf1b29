/**
 * A message's input step: what the brain is given. Text as it is; a voice note fetched and
 * transcribed (and the transcript shown back); a photo or document fetched into the message's
 * folder; anything else answered with what is supported. Every fetch has its deadlines and hears
 * the cancel. Then an edit made while the message waited replaces its text.
 *
 * A new kind of input plugs in here: a case in `messageInput` (`shared/update.ts`) and a branch in
 * {@linkcode getInput}.
 *
 * @module
 */

import { attachmentDir } from "../shared/attachments.ts";
import { type MessageInput, quotedText } from "../shared/update.ts";
import { unmarked } from "../shared/command.ts";
import { REACTIONS } from "./feedback.ts";
import { attachmentText, downloadFile } from "./files.ts";
import { childEnv } from "../shared/child_env.ts";
import { describeError } from "../shared/telegram.ts";
import { sendReply } from "./reply.ts";
import {
  fetchFailedText,
  NO_VOICE_TEXT,
  transcriptEcho,
  transcriptionFailedText,
} from "./texts.ts";
import { transcribe } from "./transcribe.ts";
import type { Work } from "./work.ts";

/** The brain's input, or "answered" when the message got its final reply instead. */
export type Input = { text: string; attachments: string[] } | "answered";

/** Options for {@linkcode getInput}. */
export interface GetInputOptions {
  /** Stops a fetch or a transcription (cancel or stop). Required. */
  signal: AbortSignal;
}

/** Gets what the brain is given (see the module doc). `signal` stops a fetch (cancel or stop). */
export async function getInput(
  work: Work,
  input: MessageInput,
  options: GetInputOptions,
): Promise<Input> {
  // A `/steer` or `!` asked how to meet a working brain (the scheduler saw to it): not for the
  // brain. Someone else's words are fenced (`quote.ts`).
  if (input.kind === "text") {
    return { text: quotedText(unmarked(input.text), input.origin), attachments: [] };
  }
  if (input.kind === "unsupported") {
    await work.reply(
      `I can pass on photos, documents, text, captions and voice notes; ${input.what} is not something I can send to the brain.`,
      REACTIONS.unsupported,
    );
    return "answered";
  }
  if (input.kind === "audio") return await transcribeVoice(work, input, options);
  return await fetchAttachment(work, input, options);
}

/** What a cancelled message was doing before its brain. */
export function inputStage(input: MessageInput): string {
  if (input.kind === "audio") return "its voice note was fetched and transcribed";
  if (input.kind === "file") return "its file was fetched";
  return "it started";
}

async function transcribeVoice(
  work: Work,
  input: Extract<MessageInput, { kind: "audio" }>,
  options: GetInputOptions,
): Promise<Input> {
  const { config, ids, log, replyApi } = work;
  const { signal } = options;
  if (config.transcribeCommand === undefined) {
    await work.reply(NO_VOICE_TEXT, REACTIONS.failed);
    return "answered";
  }
  const transcript = await transcribe({
    api: replyApi,
    token: config.token,
    apiRoot: config.apiRoot,
    fileId: input.fileId,
    command: config.transcribeCommand,
    workDir: `${config.stateDir}/tmp`,
    env: childEnv(work.env, ids),
    timeoutMs: config.transcribeTimeoutMs,
    download: { timeoutMs: config.downloadTimeoutMs, stallMs: config.downloadStallMs },
    signal,
  });
  if (signal.aborted) return "answered";
  if (!transcript.ok) {
    log.warn("transcription failed for update {updateId}: {reason}; last output: {detail}", {
      ...ids,
      reason: transcript.reason,
      detail: transcript.detail || "none",
    });
    const privateChat = work.update.message.chat.type === "private";
    await work.reply(transcriptionFailedText(transcript, { privateChat }), REACTIONS.failed);
    return "answered";
  }
  // What was heard, before the brain's answer: the person can tell a mishearing at once. Shown
  // on the droppable client, once: the brain's answer must not wait for it, nor fail with it.
  await sendReply(work.api, {
    chatId: ids.chatId,
    replyTo: ids.messageId,
    text: transcriptEcho(transcript.text),
    formatted: false,
    signal,
  }).catch((error) => {
    if (signal.aborted) return;
    log.warn("update {updateId}: the transcript could not be shown: {error}", {
      ...ids,
      error: describeError(error),
    });
  });
  return { text: quotedText(transcript.text, input.origin), attachments: [] };
}

/** Saved where the brain can read it, in the message's folder, which goes when it is finished. */
async function fetchAttachment(
  work: Work,
  input: Extract<MessageInput, { kind: "file" }>,
  options: GetInputOptions,
): Promise<Input> {
  const { config, ids, log, replyApi } = work;
  const { signal } = options;
  const dir = attachmentDir(config.stateDir, ids.updateId);
  const what = work.update.message.photo ? "the photo" : "the file";
  await Deno.mkdir(dir, { recursive: true });
  const saved = await downloadFile({
    api: replyApi,
    token: config.token,
    apiRoot: config.apiRoot,
    fileId: input.fileId,
    knownSize: input.fileSize,
    saveAs: () => `${dir}/${input.name}`,
    what,
    timeoutMs: config.downloadTimeoutMs,
    stallMs: config.downloadStallMs,
    signal,
  });
  if (signal.aborted) return "answered";
  if (!saved.ok) {
    log.warn("attachment of update {updateId} not saved: {reason}", {
      ...ids,
      reason: saved.reason,
    });
    await work.reply(fetchFailedText(what, saved), REACTIONS.failed);
    return "answered";
  }
  const files = [{ path: saved.path, originalName: input.originalName }];
  const text = attachmentText(files, { caption: input.caption, origin: input.origin });
  return { text, attachments: [saved.path] };
}

/** Options for {@linkcode applyEdit}. */
export interface ApplyEditOptions {
  /** What the person sent (a voice note goes by its transcript, whatever the edit). Required. */
  input: MessageInput;
  /** What {@linkcode getInput} got from it, before any edit. Required. */
  got: { text: string; attachments: string[] };
}

/**
 * The message's text as the brain gets it: an edit made while it waited (the poll process keeps
 * it in the entry), or one that came over the line since its handler started, replaces what the
 * person first sent. From here on an edit is too late (`line.ts` says so to the poll process).
 */
export function applyEdit(work: Work, options: ApplyEditOptions): string {
  const { ids, entry, line, log } = work;
  const { input, got } = options;
  const live = line.takeEdit();
  // Kept in the entry: a re-run (a restart, a death) goes with the edited text too.
  if (live !== undefined) work.record.update({ edit: live });
  const edit = live ?? entry.edit;
  if (edit === undefined) return got.text;
  if (input.kind === "audio") {
    log.info("update {updateId}: edit {edit} ignored; a voice note goes by its transcript", {
      ...ids,
      edit: edit.editUpdateId,
    });
    return got.text;
  }
  log.info("update {updateId} goes to the brain as edited by update {edit}", {
    ...ids,
    edit: edit.editUpdateId,
  });
  if (input.kind === "file") {
    const files = got.attachments.map((path) => ({ path, originalName: input.originalName }));
    return attachmentText(files, { caption: edit.text, origin: input.origin });
  }
  const origin = input.kind === "text" ? input.origin : undefined;
  return edit.text.trim() === "" ? got.text : quotedText(edit.text, origin);
}
