/**
 * What becomes of a message when its handler process ends: finished, parked until its brain may
 * run again, left for the next start, or queued again after a back-off (a death). Decided from the
 * journal entry, how the handler ended and whether the bot is stopping; `Starter` carries it out
 * (and `Intake`, for a handler that an earlier run's end cut off).
 *
 * @module
 */

import { backoffMs } from "../shared/backoff.ts";
import { type JournalEntry, parkedFor } from "../shared/journal_entry.ts";

/** The first wait before a message whose handler died starts again; it doubles with each death. */
const REQUEUE_BASE_MS = 1000;
const REQUEUE_MAX_MS = 60_000;

/** What {@linkcode afterHandler} decided. */
export type HandlerEnd =
  /** It was answered and the answer delivered: the entry can go. */
  | { kind: "finished" }
  /** Its brain asked to be run later: not a death; it waits at its chat's head until then. */
  | { kind: "parked"; waitMs: number }
  /** The bot is stopping: not a death; it waits for the next start as it stands, with `patch`. */
  | { kind: "left"; patch?: Partial<JournalEntry> }
  /** It ended without a final reply: a death, queued again after `waitMs`, with `patch`. */
  | { kind: "died"; patch: Partial<JournalEntry>; waitMs: number; end: string };

/** The state of the handler's end, as the intake knows it. */
export interface EndContext {
  status: Deno.CommandStatus | undefined;
  /** The bot is stopping: it stopped the handler. */
  stopping: boolean;
  /** The wall clock, ms since the epoch (for parked messages). */
  wallNow: number;
}

/** Decides what becomes of `entry` now that its handler has ended; see the module doc. */
export function afterHandler(entry: JournalEntry, context: EndContext): HandlerEnd {
  if (entry.stage === "replied") return { kind: "finished" };
  const parked = parkedFor(entry, context.wallNow);
  if (parked !== undefined && entry.stage === "received") {
    return context.stopping ? { kind: "left" } : { kind: "parked", waitMs: parked };
  }
  // An answered message keeps its stage: its next handler only sends the journaled answer.
  const waiting: Partial<JournalEntry> = entry.stage === "answered"
    ? { brainPid: undefined, brainRun: undefined }
    : {
      stage: "received",
      rerun: entry.rerun || entry.stage === "brain",
      brainPid: undefined,
      brainRun: undefined,
    };
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
  if (entry.stage !== "started" && entry.stage !== "acked" && entry.stage !== "brain") return;
  return {
    stage: "received",
    rerun: entry.rerun || entry.stage === "brain",
    brainPid: undefined,
    brainRun: undefined,
    deaths: (entry.deaths ?? 0) + 1,
    lastEnd: "cut off when the bot stopped unexpectedly",
  };
}

/** How a handler ended, for the log and the give-up text. */
function describeEnd(status: Deno.CommandStatus | undefined): string {
  if (status?.signal) return `killed by ${status.signal}`;
  return status === undefined ? "ended" : `exit status ${status.code}`;
}
