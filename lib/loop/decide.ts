/**
 * The scheduler's decisions, as pure functions of what a handler reported and what the scheduler
 * holds in memory, never of a re-read of the disk: what becomes of a message when its handler
 * ends (finished, parked, left for the next start, or queued again after a death), how it starts
 * (or is given up on), and what a `/cancel` means for a chat's messages.
 *
 * @module
 */

import { backoffMs } from "../shared/backoff.ts";
import { isRunning, type JournalEntry, parkedFor } from "../shared/journal_entry.ts";
import type { CancelVerdict } from "../shared/line.ts";
import { markOf } from "../shared/command.ts";

/** The first wait before a message whose handler died starts again; it doubles with each death. */
const REQUEUE_BASE_MS = 1000;
const REQUEUE_MAX_MS = 60_000;
/** The wait before a message whose handler could not be spawned is tried again. */
export const SPAWN_RETRY_MS = 2000;

/** What {@linkcode afterHandler} decided. */
export type HandlerEnd =
  /** Its final reply was delivered (or kept as undelivered): the entry can go. */
  | { kind: "finished" }
  /** Its brain asked to be run later: not a death; it waits at its chat's head until then. */
  | { kind: "parked"; waitMs: number }
  /** The bot is stopping: not a death; it waits for the next start as it stands, with `patch`. */
  | { kind: "left"; patch?: Partial<JournalEntry> }
  /** It ended without a final reply: a death, queued again after `waitMs`, with `patch`. */
  | { kind: "died"; patch: Partial<JournalEntry>; waitMs: number; end: string };

/** How a handler ended, as the scheduler knows it. */
export interface EndContext {
  /** The handler reported its message finished. */
  finished: boolean;
  /** Its exit status. */
  status: Deno.CommandStatus | undefined;
  /** The bot is stopping: it stopped the handler. */
  stopping: boolean;
  /** The wall clock, ms since the epoch (for parked messages). */
  wallNow: number;
}

/**
 * Decides what becomes of a message now that its handler has ended, from the entry as its
 * handler's reports left it. Whether the disk could record any of it does not matter: a message
 * reported finished is finished, and a death is counted in memory either way.
 */
export function afterHandler(entry: JournalEntry, context: EndContext): HandlerEnd {
  if (context.finished || entry.stage === "replied") return { kind: "finished" };
  const parked = parkedFor(entry, context.wallNow);
  if (parked !== undefined && entry.stage === "received") {
    return context.stopping ? { kind: "left" } : { kind: "parked", waitMs: parked };
  }
  const waiting = backToWaiting(entry);
  if (context.stopping) return { kind: "left", patch: waiting };
  const end = describeEnd(context.status);
  const deaths = (entry.deaths ?? 0) + 1;
  return {
    kind: "died",
    patch: { ...waiting, deaths, lastEnd: end },
    waitMs: backoffMs(deaths, { baseMs: REQUEUE_BASE_MS, maxMs: REQUEUE_MAX_MS }),
    end,
  };
}

/**
 * The patch for a message whose handler was still at work when an earlier run ended (a crash, a
 * kill, an OOM: a clean stop puts its message back to waiting first), or undefined when it was not
 * at work. Such a cut-off counts towards the poison limit, like any death.
 */
export function afterCutOff(entry: JournalEntry): Partial<JournalEntry> | undefined {
  if (!isRunning(entry)) return undefined;
  return {
    ...backToWaiting(entry),
    deaths: (entry.deaths ?? 0) + 1,
    lastEnd: "cut off when the bot stopped unexpectedly",
  };
}

/** An answered message keeps its stage (only sending is left); any other waits again. */
function backToWaiting(entry: JournalEntry): Partial<JournalEntry> {
  // Its asks died with its handler: a re-run asks again, and old buttons answer nothing.
  if (entry.stage === "answered") return { brainRun: undefined, asking: undefined };
  return {
    stage: "received",
    rerun: entry.rerun || entry.stage === "brain",
    brainRun: undefined,
    asking: undefined,
  };
}

/** Options for {@linkcode startPatch}. */
export interface StartOptions {
  /** Handler deaths after which the message is given up. Required. */
  poisonLimit: number;
  /** The wall clock, ms since the epoch. Required. */
  wallNow: number;
}

/**
 * The patch for a message whose handler starts now: an answered one keeps its stage (its handler
 * only sends the journaled answer); one whose handlers died `poisonLimit` times is given up (its
 * handler only says so).
 */
export function startPatch(entry: JournalEntry, options: StartOptions): Partial<JournalEntry> {
  const answered = entry.stage === "answered";
  return {
    stage: answered ? "answered" : "started",
    startedAt: new Date(options.wallNow).toISOString(),
    dispatches: entry.dispatches + 1,
    giveUp: !answered && (entry.giveUp || (entry.deaths ?? 0) >= options.poisonLimit),
    asking: undefined,
  };
}

/** A chat's message, as `/cancel` looks at it. */
export interface CancelCandidate {
  entry: JournalEntry;
  /** Its handler runs. */
  running: boolean;
}

/** What `/cancel` does: the message it is for (if any) and what the person is told. */
export type CancelDecision =
  | { verdict: CancelVerdict; target?: undefined }
  | { verdict: CancelVerdict; target: number; action: "withdraw" | "stop" };

/**
 * What `/cancel` means for a chat's unfinished messages (in `update_id` order): with `replyTo`,
 * the message it replies to; without, the running one (not one whose answer is on its way and not
 * held up: to the person, that one is done), else one parked until a usage limit's reset.
 */
export function decideCancel(
  messages: readonly CancelCandidate[],
  replyTo: number | undefined,
): CancelDecision {
  const working = (m: CancelCandidate) =>
    m.running && (m.entry.stage !== "answered" || m.entry.answer?.heldUpSince !== undefined);
  const found = replyTo === undefined
    ? messages.find(working) ?? messages.find((m) => m.entry.parkedUntil !== undefined)
    : messages.find((m) => messageIdOf(m.entry) === replyTo);
  if (found === undefined) {
    return { verdict: { kind: replyTo === undefined ? "nothing" : "not-found" } };
  }
  const { entry, running } = found;
  const messageId = messageIdOf(entry) ?? 0;
  if (entry.stage === "answered") return { verdict: { kind: "delivering", messageId } };
  if (!running) {
    return {
      verdict: { kind: "withdrawn", messageId },
      target: entry.updateId,
      action: "withdraw",
    };
  }
  const verdict: CancelVerdict = { kind: "stopping", messageId, brain: entry.stage === "brain" };
  return { verdict, target: entry.updateId, action: "stop" };
}

/** What a plain message does while its chat's brain works (`COORD_BUSY_MODE`). */
export type BusyMode = "queue" | "steer";

/** What a new message does to its chat's working message. */
export type BusyChoice = "queue" | "steer" | "interrupt";

/**
 * How a new message meets its chat's working message (`working`, if any): a text that replies to
 * it or to its progress message, or says `/steer …`, steers into its turn (any text does with
 * `busyMode` "steer"); `!…` interrupts it and goes next; anything else waits its turn.
 */
export function decideBusy(
  message: JournalEntry,
  working: JournalEntry | undefined,
  options: { busyMode: BusyMode },
): BusyChoice {
  // An ask from the box is a task of its own, never words for the working turn.
  if (working === undefined || message.spool !== undefined) return "queue";
  const update = message.update as {
    message?: { text?: unknown; reply_to_message?: { message_id?: unknown } };
  };
  const text = update.message?.text;
  // Someone else's words (a forward, an inline bot's) go in fenced, as a message of their own.
  if (typeof text !== "string" || hasOrigin(update.message)) return "queue";
  const mark = markOf(text);
  if (mark === "urgent") return "interrupt";
  const replyTo = update.message?.reply_to_message?.message_id;
  const repliesToIt = replyTo !== undefined &&
    (replyTo === messageIdOf(working) || replyTo === working.progressMessageId);
  if (mark === "steer" || repliesToIt || options.busyMode === "steer") return "steer";
  return "queue";
}

/** True for a message that carries someone else's words: forwarded, or an inline bot's. */
function hasOrigin(message: unknown): boolean {
  const fields = ["forward_origin", "forward_from", "forward_from_chat", "forward_sender_name"];
  const m = message as Record<string, unknown> | undefined;
  return m !== undefined && [...fields, "via_bot"].some((field) => m[field] !== undefined);
}

/** The `message_id` of an entry's message. */
export function messageIdOf(entry: JournalEntry): number | undefined {
  const update = entry.update as { message?: { message_id?: unknown } } | null;
  const id = update?.message?.message_id;
  return typeof id === "number" ? id : undefined;
}

/** How a handler ended, for the log and the give-up text. */
function describeEnd(status: Deno.CommandStatus | undefined): string {
  if (status?.signal) return `killed by ${status.signal}`;
  return status === undefined ? "ended" : `exit status ${status.code}`;
}
