/**
 * A journal entry: one message, how far it got (its {@linkcode Stage}), and its final reply once
 * decided (the outbox). The shape every process reads and writes, checked when read back
 * ({@linkcode parseEntry}), and the questions asked of an entry alone (is it running, is it
 * parked). The store that keeps entries on disk is `journal.ts`.
 *
 * The poll process owns every entry (`lib/loop/scheduler.ts`): it holds it in memory, decides
 * from memory, and writes it to disk when the disk lets it. While a message's handler runs, that
 * handler writes the entry's changes too, and reports each one over the line
 * (`lib/handler/entry_record.ts`), so the poll process's copy stays whole whatever the disk does:
 *
 * | process | writes | when |
 * | --- | --- | --- |
 * | poll process | the entry (`received`), `edit`, `startedAt`, `dispatches`, `stage: "started"` | on arrival; an edit while it waits; as it starts the handler |
 * | poll process | `stage: "received"`, `rerun`, `deaths`, `lastEnd`, `parkedUntil`; removes a finished one | after that handler has exited; at start-up |
 * | message handler (reported) | `stage: "brain"`, `attempt`, `brainStartedAt`, `brainRun`, `parkedUntil`, `parkNotified` | while the poll process waits for it to exit |
 * | message handler (reported) | `stage: "answered"` and `answer` (the outbox), `stage: "replied"`; removes it | at its end |
 *
 * @module
 */

import type { Edit, Steer } from "./line.ts";

/** How far a message got. */
export type Stage =
  /**
   * Written by the scheduler before the update is confirmed to Telegram, and again when a message
   * goes back to waiting (its handler died, or the bot restarted): it waits for its chat's turn.
   */
  | "received"
  /** The scheduler started its handler: it is the chat's running message. */
  | "started"
  /** Written by bots before the front desk; read as "started". */
  | "acked"
  /** The handler started brain attempt `attempt`. */
  | "brain"
  /**
   * The final reply (`answer`) is decided and durable; only sending it is left. The brain never
   * runs again for this message, across crashes and restarts.
   */
  | "answered"
  /** The final reply was sent; only removing the entry is left. */
  | "replied";

/** A message's final reply, journaled before it is sent (the outbox). */
export interface Outgoing {
  /** Our notes above the answer (re-run, wait, resume), "" when none. */
  head: string;
  /** The answer (the brain's reply, or our ⚠️/🛑/🚫 text). */
  body: string;
  /** The reaction set once it is delivered. */
  emoji: string;
  /** Messages of it already sent (a restart goes on with the next). */
  sent: number;
  /** The whole answer also went as a document. */
  documentSent?: boolean;
  /** Since when its delivery has been held up (Telegram or the network failing), if it has. */
  heldUpSince?: string;
  /** Files sent after the text, in this order (`<state>/send/<update_id>/`, `outgoing_files.ts`). */
  files?: OutgoingFile[];
  /** Files of `files` already sent, or kept in `undelivered/` (a restart goes on with the next). */
  filesSent?: number;
}

/** A file an answer sends after its text. */
export interface OutgoingFile {
  /** Where it is on the box. */
  path: string;
  /** The name the person sees. */
  name: string;
  /** A photo (shown in the chat) or a document. */
  kind: "photo" | "document";
}

/**
 * A job from the box (`forge-coordinator send` or `ask`, `spool_job.ts`): its message id is one of
 * the spool's, never Telegram's ({@linkcode SPOOL_ID_BASE}).
 */
export interface SpoolOrigin {
  /** `send`: only delivering is left (its answer is decided); `ask`: a prompt for the brain. */
  kind: "send" | "ask";
  /**
   * Its place among its chat's messages: just after the last update taken from Telegram when it
   * was taken (that update id + 0.5), so that it waits behind what came before it and ahead of
   * what comes after.
   */
  order: number;
  /** An ask's prompt was shown in the chat (or that failed): it is not shown again. */
  shown?: boolean;
}

/**
 * The first message id of a job from the box. Telegram's update ids count up by one from a
 * positive start (about 10^9 today); those from the spool start at 2^52 and stay below 2^53, so
 * they stay exact in JSON, and an update from Telegram with an id this high is refused (`held.ts`).
 */
export const SPOOL_ID_BASE = 2 ** 52;

/**
 * A message's place in its chat, for its queue and its conversation: Telegram's `update_id`, or
 * for a job from the box the place it was taken at ({@linkcode SpoolOrigin.order}).
 */
export function positionOf(entry: Pick<JournalEntry, "updateId" | "spool">): number {
  return entry.spool?.order ?? entry.updateId;
}

/** One message in the journal. */
export interface JournalEntry {
  updateId: number;
  chatId: number;
  /** The update as Telegram sent it. */
  update: unknown;
  stage: Stage;
  /** The brain attempt under way, once `stage` is "brain". */
  attempt?: number;
  /**
   * The marker (`COORD_BRAIN_RUN`) of the brain attempt under way: if its handler dies, the loop
   * sweeps every process carrying it. A marker, unlike a pid, can't be reused by another process.
   */
  brainRun?: string;
  /** An edit made while it waited: the brain gets this text instead. */
  edit?: Edit;
  /** Messages steered into its brain's turn, in order (a re-run takes them in again). */
  steers?: Steer[];
  /** Steered into this message's turn: it ends with that message. */
  steeredInto?: number;
  /** Sent with `!`: it goes ahead of its chat's waiting messages. */
  urgent?: boolean;
  /** The progress message shown in a group while its brain works (a reply to it steers). */
  progressMessageId?: number;
  /**
   * The asks to use a tool its brain waits for the person to answer (the brain may ask for
   * several at once): each by its number within this handler's run, and the tool.
   */
  asking?: { seq: number; tool: string }[];
  /** When the scheduler last started its handler (ISO 8601): its wait for its turn ended then. */
  startedAt?: string;
  /** When its first brain attempt started (ISO 8601). */
  brainStartedAt?: string;
  /** How many handlers have been started for it (across restarts). */
  dispatches: number;
  /**
   * How many of its handlers died without a final reply (crashed, killed, or cut off by a restart
   * while they worked): the poison limit counts these, never outages, which handlers wait out.
   */
  deaths?: number;
  /** How the last of those ended ("killed by SIGKILL", "exit status 1", "cut off by a restart"). */
  lastEnd?: string;
  /** Its final reply, once decided (stage "answered"). */
  answer?: Outgoing;
  /**
   * Its brain asked to be run again later (a usage limit, or exit 75): it waits until then (ISO
   * 8601), and its chat's later messages wait behind it.
   */
  parkedUntil?: string;
  /**
   * How long the wait was when it was announced, in ms: `parkedUntil` minus the time then. A wall
   * clock stepped back must not make it longer ({@linkcode parkedFor}).
   */
  parkedMs?: number;
  /** The person was told it waits (once per message). */
  parkNotified?: boolean;
  /** Its brain was cut off by a restart or crash: the reply must say it was run again. */
  rerun?: boolean;
  /** Handlers were started for it too often: the next one only says so and finishes it. */
  giveUp?: boolean;
  /** Withdrawn by `/cancel` before it started: only the desk's reply saying so is left. */
  withdrawn?: boolean;
  /** When the scheduler took it (ISO 8601). */
  receivedAt: string;
  /** It came from the box, not from Telegram. */
  spool?: SpoolOrigin;
}

/**
 * `entry` with `patch` applied; a field patched to `undefined` or `null` (how a removal travels in
 * a report) is removed.
 */
export function patched(entry: JournalEntry, patch: Partial<JournalEntry>): JournalEntry {
  const out: Record<string, unknown> = { ...entry };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined || value === null) delete out[key];
    else out[key] = value;
  }
  out.updateId = entry.updateId;
  return out as unknown as JournalEntry;
}

const STAGES: readonly Stage[] = ["received", "started", "acked", "brain", "answered", "replied"];

/** Parses and checks one entry's text; throws `SyntaxError` when it is not a valid entry. */
export function parseEntry(text: string, updateId: number): JournalEntry {
  const entry = JSON.parse(text) as Partial<JournalEntry>;
  if (
    typeof entry !== "object" || entry === null || entry.updateId !== updateId ||
    typeof entry.chatId !== "number" || !STAGES.includes(entry.stage as Stage) ||
    typeof entry.dispatches !== "number" || typeof entry.update !== "object"
  ) {
    throw new SyntaxError(`Cannot read journal entry ${updateId}: not a valid entry`);
  }
  return entry as JournalEntry;
}

/** True for a message whose handler is (or was, before a crash) working on it. */
export function isRunning(entry: JournalEntry): boolean {
  return entry.stage === "started" || entry.stage === "acked" || entry.stage === "brain";
}

/** A park never waits longer than it was announced to, plus this. */
export const PARK_SLACK_MS = 60_000;

/**
 * How long from now a waiting entry is parked, in ms; `undefined` when it isn't. Never more than
 * the wait announced (`parkedMs`) plus {@linkcode PARK_SLACK_MS}, whatever the wall clock did
 * meanwhile: the poll loop then holds the message that long on its monotonic clock, and after a
 * restart this caps a wait that a clock stepped back would stretch.
 */
export function parkedFor(entry: JournalEntry, now = Date.now()): number | undefined {
  if (entry.parkedUntil === undefined) return undefined;
  const until = Date.parse(entry.parkedUntil);
  if (Number.isNaN(until)) return undefined;
  const left = Math.max(0, until - now);
  const announced = entry.parkedMs;
  return typeof announced === "number" && announced >= 0
    ? Math.min(left, announced + PARK_SLACK_MS)
    : left;
}
