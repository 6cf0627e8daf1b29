/**
 * The live line between the poll process and each handler it starts: JSON lines on the handler's
 * stdin (controls) and on its stdout (reports), kept open for the handler's whole life. The poll
 * process decides; a handler does the work and says what became of it.
 *
 * ```
 * poll process ── hello (the token) ──────────────▶ every handler, first
 *              ── start (the message's entry) ────▶ a message handler
 *              ── job ────────────────────────────▶ the desk, one per update
 *              ── cancel · edit · steer · interrupt ▶ a message handler, while it works
 *              ── approval · queued ─────────────▶ (the person's answer to an ask; who waits)
 *              ◀── ready ──────────────────────── the desk, once loaded
 *              ◀── patch · finished ───────────── a message handler: its entry, as it changes
 *              ◀── edit · steered ─────────────── a message handler: an edit or a steer taken, or not
 *              ◀── acked · done ───────────────── the desk: a 👀 out, a job finished
 * ```
 *
 * The token comes this way, never in a handler's environment: a brain can read its parent's
 * environment from `/proc`, not its stdin. The stdin staying open tells a handler that the poll
 * process lives: at EOF (even after a SIGKILL of the poll process) the handler stops.
 *
 * @module
 */

import type { JournalEntry } from "./journal_entry.ts";

/** What asked for a cancel (`/stop` and `!` end a brain that can't be interrupted). */
export type CancelledBy = "/cancel" | "Stop" | "/stop" | "!";

/** What asked to interrupt a working brain (it keeps what it did; see `/cancel` for the end). */
export type InterruptedBy = "/stop" | "Stop" | "!";

/** The person's answer to a brain's ask to use a tool. */
export type Decision = "allow" | "always" | "deny";

/** A message steered into a working brain's turn. */
export interface Steer {
  updateId: number;
  messageId: number;
  /** Its text for the brain (without its `/steer`). */
  text: string;
}

/** An edit of a message's text, for the brain if it comes in time. */
export interface Edit {
  /** The edit's own update id (a later edit wins). */
  editUpdateId: number;
  /** The new text, or the new caption ("" when the caption was removed). */
  text: string;
}

/** What the poll process tells a handler. */
export type Control =
  /** First, to every handler: the token, for its Bot API clients, and its role. */
  | { kind: "hello"; token: string; role: "desk" | "message" }
  /** A message handler's message: its journal entry as the poll process holds it. */
  | { kind: "start"; entry: JournalEntry }
  /** A job for the desk. */
  | { kind: "job"; job: DeskJob }
  /** The person asked to stop this message's work. */
  | { kind: "cancel"; by: CancelledBy }
  /** An edit of this message: used if its brain has not started, else reported too late. */
  | { kind: "edit"; edit: Edit }
  /** A message for this message's working turn: into it if it can, else reported not taken. */
  | { kind: "steer"; steer: Steer }
  /** Interrupt the working turn (the conversation keeps what it did), else stop the work. */
  | { kind: "interrupt"; by: InterruptedBy }
  /** The person's answer to ask number `seq` of this message's brain. */
  | { kind: "approval"; seq: number; decision: Decision }
  /** How many of the chat's messages wait behind this one (for the progress display). */
  | { kind: "queued"; waiting: number };

/** What a handler tells the poll process. */
export type Report =
  /** The desk has loaded and takes jobs. */
  | { kind: "ready" }
  /** A message's entry changed as shown (also when the journal could not be written). */
  | { kind: "patch"; updateId: number; patch: Partial<JournalEntry> }
  /** A message is finished: its final reply delivered (or kept as undelivered). */
  | { kind: "finished"; updateId: number }
  /** An edit sent to a working message was used (`taken`), or came too late. */
  | { kind: "edit"; updateId: number; editUpdateId: number; taken: boolean }
  /**
   * A steer sent to a working message went into its turn (`taken`), or not: its brain can't be
   * steered (`plain`), or its turn is over (`late`; also for one taken, then left out of the turn).
   */
  | {
    kind: "steered";
    updateId: number;
    steerUpdateId: number;
    taken: boolean;
    reason?: "plain" | "late";
  }
  /**
   * The desk: this message's 👀 is out (or its call failed): its handler may set ✍. For an ask
   * from the box, `shown` is the message that shows its prompt (absent when that failed).
   */
  | { kind: "acked"; updateId: number; shown?: number }
  /** The desk: this job is finished. */
  | { kind: "done"; updateId: number };

/** What `/cancel` (or a Stop press) came to, decided by the poll process. */
export type CancelVerdict =
  /** Nothing of this chat waits or runs. */
  | { kind: "nothing" }
  /** The message replied to is not waiting or running. */
  | { kind: "not-found" }
  /** Its answer is decided and on its way. */
  | { kind: "delivering"; messageId: number }
  /** It waited: it leaves its queue, and never reaches the brain. */
  | { kind: "withdrawn"; messageId: number }
  /** Its handler was told to stop, before its brain or during it. */
  | { kind: "stopping"; messageId: number; brain: boolean };

/** What `/stop` came to: nothing working, or the working brain told to stop its turn. */
export type StopVerdict = { kind: "nothing" } | { kind: "stopping"; messageId: number };

/** How the desk answers a button press. */
export type PressAnswer = "stopping" | "nothing" | "allowed" | "always" | "denied" | "stale";

/** A job for the desk: the quick work for one update, never waiting for a brain. */
export type DeskJob =
  /**
   * Acknowledge a message (👀 and typing); report `acked` when the reaction call has ended. With
   * `show`, an ask from the box: send that text instead (its prompt), and report the message.
   */
  | { job: "ack"; update: unknown; show?: string }
  /** Answer a command; for `/status`, `/cancel`, `/stop` the poll process says what to answer. */
  | {
    job: "command";
    update: unknown;
    status?: StatusView;
    cancel?: CancelVerdict;
    stop?: StopVerdict;
  }
  /** Answer a button press (a draft's Stop needs no answer). */
  | { job: "press"; update: unknown; answer: PressAnswer }
  /** Tell the person their message can't go into the working brain: it waits its turn. */
  | { job: "unsteerable"; update: unknown }
  /** Say that an edit came too late for its message (`late`), or nothing when it was used. */
  | { job: "edit"; update: unknown; late?: "working" | "answered" }
  /**
   * The final reply of a message withdrawn by /cancel before it started (or while parked); the
   * messages steered into it (`steered`, their message ids) end with it.
   */
  | { job: "withdraw"; update: unknown; steered?: number[] }
  /** Tell the person a message was lost in a disk failure (its entry could not be read). */
  | { job: "lost"; updateId: number; chatId: number; messageId: number };

/** Where the bot and one chat stand, as the poll process knows it, for `/status`. */
export interface StatusView {
  /** When the poll process started (ISO 8601). */
  startedAt: string;
  /** Handlers with a message, and the cap on them. */
  live: number;
  cap: number;
  /** This chat's message being worked on, if any. */
  running?: JournalEntry;
  /** This chat's messages waiting for their turn. */
  waiting: number;
  /** Waiting in every chat. */
  waitingInAll: number;
  /** This chat's answers whose delivery is held up. */
  delivering: number;
  /** A message of this chat parked until a usage limit's reset, if any. */
  parked?: JournalEntry;
  /** Since when the state folder can't be written (ISO 8601), and why, if it can't. */
  diskFailing?: { since: string; error: string };
  /** Why Telegram can't be reached right now, if it can't. */
  telegramFailing?: string;
  /** Jobs from the box not finished, and files of answers not yet sent (all chats). */
  box?: { jobs: number; files: number };
}

/** The update id a job is about. */
export function jobUpdateId(job: DeskJob): number {
  return job.job === "lost" ? job.updateId : (job.update as { update_id: number }).update_id;
}

/** One JSON line, with its newline. */
export function encodeLine(value: Control | Report): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value) + "\n");
}

const CONTROL_KINDS = new Set([
  "hello",
  "start",
  "job",
  "cancel",
  "edit",
  "steer",
  "interrupt",
  "approval",
  "queued",
]);
const REPORT_KINDS = new Set(["ready", "patch", "finished", "edit", "steered", "acked", "done"]);

/** Parses one control line; throws `TypeError` when it is not one. */
export function parseControl(line: string): Control {
  const value = parseObject(line, "control");
  if (!CONTROL_KINDS.has(value.kind as string)) {
    throw new TypeError(`Cannot parse a control: unknown kind "${String(value.kind)}"`);
  }
  return value as Control;
}

/** Parses one report line; `undefined` for anything else (the caller logs it). */
export function parseReport(line: string): Report | undefined {
  let value: Record<string, unknown>;
  try {
    value = parseObject(line, "report");
  } catch {
    return undefined;
  }
  if (!REPORT_KINDS.has(value.kind as string)) return undefined;
  if (value.kind !== "ready" && !Number.isSafeInteger(value.updateId)) return undefined;
  return value as Report;
}

function parseObject(line: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new TypeError(`Cannot parse a ${what}: invalid JSON (${line.length} characters)`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Cannot parse a ${what}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}
