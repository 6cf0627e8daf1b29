/**
 * The texts the person reads in the chat about a message (as opposed to the brain's answers), in
 * one place, so that they stay consistent and tests can import rather than copy them. The answers
 * to the bot's own commands are those commands' output, beside them (`commands.ts`, `status.ts`).
 *
 * @module
 */

import type { BrainFailure } from "./brain_failure.ts";
import { formatDuration } from "../shared/duration.ts";
import type { CancelledBy } from "../shared/line.ts";
import { withLoginHint } from "../shared/claude_login.ts";
import { MAX_OUTPUT_BYTES } from "../shared/process_tree.ts";

/** The line a reply starts with when its brain had been cut off by a restart and was run again. */
export const RERUN_NOTE = "(re-run: an earlier run was cut off before it answered)";

/** The reply to a message withdrawn by `/cancel` before it started. */
export const WITHDRAWN_TEXT = "🚫 Withdrawn by /cancel: the brain never saw this message.";

/** The reply to a message whose journal entry was found cut (a disk failure) at start. */
export const LOST_TEXT =
  "⚠️ This message was lost in a disk failure on the bot's box before it was answered. Please send it again.";

/** The note to a message that was meant for a working brain that can't take one. */
export const UNSTEERABLE_TEXT =
  "⏳ This brain can't take a message while it works: yours waits for the current task. (Said once.)";

/** Where a message stood when `/cancel` stopped it. */
export type CancelledAt =
  | { stage: "input"; what: string }
  | { stage: "brain"; attempt: number; maxAttempts: number };

/** How each kind of stop starts its reply. */
const STOPPED_BY: Record<CancelledBy, string> = {
  "/cancel": "🛑 Cancelled by /cancel",
  "Stop": "🛑 Stopped from the phone",
  "/stop": "🛑 Stopped by /stop",
  "!": "🛑 Stopped for a newer message sent with !",
};

/** The reply to a message that `/cancel` (or a Stop press) stopped while it was worked on. */
export function cancelledText(at: CancelledAt, by: CancelledBy = "/cancel"): string {
  const head = STOPPED_BY[by];
  if (at.stage === "input") {
    return `${head} while ${at.what}: the brain never saw this message.`;
  }
  return `${head}: the brain was stopped during attempt ${at.attempt} of ${at.maxAttempts}. ` +
    "It may have done part of the work.";
}

/**
 * The answer of a turn that was interrupted (`/stop`, a Stop button, a `!`): what the brain had by
 * then, marked as stopped; the conversation keeps what it did.
 */
export function stoppedText(reply: string, by: CancelledBy): string {
  const head = `${STOPPED_BY[by]}; the conversation keeps what it did.`;
  return reply.trim() === "" ? `${head} It had no answer yet.` : `${head} What it had:\n\n${reply}`;
}

/** The first line of a reply to a message that waited long for its turn. */
export function waitNote(waitedMs: number): string {
  return `(waited ${formatDuration(waitedMs)} for its turn)`;
}

/** Options for {@linkcode failureText} and {@linkcode transcriptionFailedText}. */
export interface FailureTextOptions {
  /** Attempts made. Default: 1. */
  attempts?: number;
  /**
   * The chat is the person's private chat: the last lines of output may be shown. In a group its
   * members would read them, so they go only to the log. Default: false.
   */
  privateChat?: boolean;
}

/**
 * The ⚠️ reply for a brain that failed every attempt: why, and in a private chat the last lines
 * of its output.
 */
export function failureText(failure: BrainFailure, options: FailureTextOptions = {}): string {
  const { attempts = 1, privateChat = false } = options;
  const tries = attempts === 1 ? "1 attempt" : `${attempts} attempts`;
  const head = `⚠️ The brain failed after ${tries}: ${failure.reason}.`;
  // The Claude CLI's "Please run /login" would send the person to the bot: say what to run instead.
  const detail = withLoginHint(failure.detail);
  if (detail === "") return head;
  return privateChat
    ? `${head}\n\nLast output:\n${detail}`
    : `${head} Its last output is in the bot's log.`;
}

/**
 * The last line of an answer whose end was dropped: the brain printed more than the bot keeps
 * (`MAX_OUTPUT_BYTES`, 1 MiB), and `droppedBytes` more.
 */
export function cutNote(droppedBytes: number): string {
  const dropped = droppedBytes.toLocaleString("en-US");
  const kept = `${MAX_OUTPUT_BYTES / 1024 / 1024} MiB`;
  return `✂️ Cut here: the brain's answer was longer than the ${kept} the bot keeps; the last ${dropped} bytes were dropped.`;
}

/** The reply to a message given up on after the poison limit: how often and how it was cut off. */
export function giveUpText(deaths: number, lastEnd?: string): string {
  const last = lastEnd === undefined ? "" : ` (the last: ${lastEnd})`;
  return `⚠️ I gave up on this message: its handler died ${deaths} times before it could answer${last}. Send it again if it still matters.`;
}

/** Options for {@linkcode parkedText}. */
export interface ParkedTextOptions {
  /** When the message will run (the limit's reset), in ms since the epoch. Required. */
  until: number;
  /** The time now, in ms since the epoch: the wait is counted from it. Required. */
  now: number;
}

/** The note to a message that waits for a usage limit's reset (sent once; not its answer). */
export function parkedText(reason: string, options: ParkedTextOptions): string {
  const { until, now } = options;
  const at = new Date(until).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
  const day = new Date(until).toDateString() === new Date(now).toDateString()
    ? ""
    : ` on ${new Date(until).toLocaleDateString("en-GB", { day: "numeric", month: "short" })}`;
  return `⏳ ${capitalized(reason)}; I'll run this at ${at}${day}, in ${
    formatDuration(Math.max(0, until - now))
  }. /cancel drops it.`;
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The note an edit that came too late gets: the brain was working on the message, or done. */
export function lateEditText(standing: "working" | "answered"): string {
  return standing === "working"
    ? "✏️ Edit ignored: the brain was already working on this message."
    : "✏️ Edit ignored: the brain had already answered it.";
}

/** The reply to a voice note when no transcriber is configured. */
export const NO_VOICE_TEXT =
  "⚠️ Voice is not set up on this bot (COORD_TRANSCRIBE_CMD is not set). Please send text.";

/**
 * The reply to a voice note whose transcription failed; the transcriber's last output (`detail`)
 * only in a private chat (see {@linkcode FailureTextOptions}).
 */
export function transcriptionFailedText(
  failure: { reason: string; detail?: string },
  options: Pick<FailureTextOptions, "privateChat"> = {},
): string {
  const { reason, detail = "" } = failure;
  const shown = detail !== "" && options.privateChat ? `: ${detail}` : "";
  return `⚠️ I could not transcribe this voice note: ${reason}${shown}.`;
}

/** The reply to a photo or file that could not be fetched (`what`: "the photo", "the file"). */
export function fetchFailedText(what: string, failure: { reason: string; tooBig?: boolean }) {
  return failure.tooBig
    ? `⚠️ I can't fetch ${what}: it is over Telegram's 20 MB download limit for bots. ` +
      "Please send something smaller, or a link to it."
    : `⚠️ I could not fetch ${what}: ${failure.reason}. Please send it again.`;
}

/** The reply to a message whose chat lock was refused (`LockRefusedError`): nothing was run. */
export function lockRefusedText(reason: string): string {
  return `⚠️ I did not run this: ${reason}, so the chat's lock can't be trusted. ` +
    "Nothing was run; the bot's log has the details.";
}

/** The reply when the handler itself failed. */
export const CRASH_TEXT =
  "⚠️ Something went wrong while handling this message; the bot's log has the details.";

/** Characters of a transcript shown back. */
const ECHO_CHARS = 300;

/** The short quoted transcript sent back for a voice note. */
export function transcriptEcho(transcript: string): string {
  const flat = transcript.replace(/\s+/g, " ").trim();
  const shown = flat.length > ECHO_CHARS ? flat.slice(0, ECHO_CHARS - 1) + "…" : flat;
  return `🎙 “${shown}”`;
}
