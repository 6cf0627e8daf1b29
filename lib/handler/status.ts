/**
 * `/status`: where the bot and this chat stand, as the poll process sees it (its
 * {@linkcode StatusView}, which comes with the job), and today's brain costs.
 *
 * @module
 */

import { formatDuration } from "../shared/duration.ts";
import { dollars } from "./costs.ts";
import type { BrainReport } from "../shared/brain_report.ts";
import type { JournalEntry } from "../shared/journal_entry.ts";
import type { StatusView } from "../shared/line.ts";
import type { Schedule } from "./schedules.ts";

/** What {@linkcode statusText} reports. */
export interface StatusSnapshot {
  /** Where the bot and the chat stand (from the poll process). */
  view: StatusView;
  /** The brain as the poll process checked it at start, once it has (shown if of this run). */
  brain?: BrainReport;
  /** The tools always allowed in this chat (`approvals.ts`). Default: none. */
  allowed?: readonly string[];
  /** Today's brain costs in US dollars (the Claude brain's own account): this chat's and all. */
  costs?: { chat: number; total: number };
  /** Brain attempts per message. */
  maxAttempts: number;
  /** Now, ms since the epoch. */
  now: number;
  /** The bot's schedules (systemd timers), when systemd could be asked. Default: none. */
  schedules?: readonly Schedule[];
  /** Jobs from the box in the spool, not taken by the bot yet. Default: 0. */
  spooled?: number;
}

/** The `/status` reply: a few short lines. */
export function statusText(snapshot: StatusSnapshot): string {
  const { view, now } = snapshot;
  const { running, waiting, parked, delivering, waitingInAll } = view;
  // Trouble first, then the bot, then this chat, then all chats; a line with nothing to say is
  // left out.
  const lines = [
    diskLine(view.diskFailing, now),
    view.telegramFailing === undefined
      ? undefined
      : `⚠️ Telegram can't be reached right now (${view.telegramFailing}); answers wait.`,
    `Up ${since(view.startedAt, now)}; ${view.live} of ${view.cap} brain slots busy.`,
    brainLine(snapshot),
    runningLine(running, snapshot),
    waitingLine(waiting, running !== undefined),
    parked === undefined ? undefined : parkedLine(parked, now),
    waitingInAll > waiting ? `${waitingInAll} messages wait in all chats.` : undefined,
    costLine(snapshot.costs),
    deliveringLine(delivering),
    snapshot.allowed?.length
      ? `Always allowed in this chat, without asking: ${snapshot.allowed.join(", ")}.`
      : undefined,
    boxLine(view.box, snapshot.spooled ?? 0),
    ...scheduleLines(snapshot.schedules ?? [], now),
  ];
  return lines.filter((line) => line !== undefined).join("\n");
}

/**
 * The brain as the poll process checked it at start, when something is wrong (missing, not logged
 * in) or it couldn't tell; a brain found fine goes unsaid, and so does an earlier run's finding
 * (another `startedAt`).
 */
function brainLine(snapshot: Pick<StatusSnapshot, "view" | "brain">): string | undefined {
  const { view, brain } = snapshot;
  if (brain === undefined || brain.ok === true || brain.startedAt !== view.startedAt) return;
  return `${brain.ok === false ? "⚠️ " : ""}Brain: ${brain.note}.`;
}

/** The state folder can't be written: since when, and what that means for the messages. */
function diskLine(failing: StatusView["diskFailing"], now: number): string | undefined {
  if (failing === undefined) return undefined;
  return `⚠️ The state folder can't be written for ${
    since(failing.since, now)
  } (${failing.error}): new messages are seen but wait until it can.`;
}

/** The chat's running message, if any: its brain since when and which attempt, or its input. */
function runningLine(
  running: JournalEntry | undefined,
  at: Pick<StatusSnapshot, "maxAttempts" | "now">,
): string {
  if (running === undefined) return "Nothing is running in this chat.";
  const message = (running.update as { message?: { message_id?: number; text?: string } })
    ?.message;
  const preview = previewOf(message?.text);
  const head = running.stage === "brain"
    ? `Working on message ${message?.message_id ?? "?"}${preview} for ${
      since(running.brainStartedAt, at.now)
    }, attempt ${running.attempt ?? 1} of ${at.maxAttempts}.`
    : `Starting message ${message?.message_id ?? "?"}${preview}: fetching its input.`;
  const steers = running.steers?.length ?? 0;
  return [
    head,
    steers === 0
      ? undefined
      : `${steers === 1 ? "1 message" : `${steers} messages`} steered into it.`,
    running.asking === undefined
      ? undefined
      : `🔐 It waits for your approval to use ${
        [...new Set(running.asking.map((a) => a.tool))].join(", ")
      } (the buttons above).`,
  ].filter((line) => line !== undefined).join(" ");
}

/** How many wait in this chat; said when any do, or when one runs (then "behind it", even 0). */
function waitingLine(waiting: number, behindRunning: boolean): string | undefined {
  if (waiting <= 0 && !behindRunning) return undefined;
  const behind = behindRunning ? " behind it" : "";
  return waiting === 1 ? `1 message waits${behind}.` : `${waiting} messages wait${behind}.`;
}

/** A message parked until a usage limit's reset: until when (UTC), and in how long. */
function parkedLine(parked: JournalEntry, now: number): string {
  const message = (parked.update as { message?: { message_id?: number } })?.message;
  const until = Date.parse(parked.parkedUntil ?? "");
  return `Message ${message?.message_id ?? "?"} is parked until ${
    Number.isNaN(until) ? "?" : new Date(until).toISOString().slice(11, 16) + " UTC"
  } (in ${formatDuration(Math.max(0, until - now))}): its brain asked to be run later.`;
}

/** Today's brain cost, once there is any. */
function costLine(costs: StatusSnapshot["costs"]): string | undefined {
  return costs !== undefined && costs.total > 0
    ? `Today's brain cost: ${dollars(costs.chat)} in this chat, ${dollars(costs.total)} in all.`
    : undefined;
}

/** Answers decided but held up on their way, when there are any. */
function deliveringLine(delivering: number): string | undefined {
  if (delivering <= 0) return undefined;
  return delivering === 1
    ? "1 answer waiting to be delivered (Telegram or the network is failing; it keeps trying)."
    : `${delivering} answers waiting to be delivered (Telegram or the network is failing; it keeps trying).`;
}

/** Jobs from the box and files on their way, when there are any. */
function boxLine(box: StatusView["box"], spooled: number): string | undefined {
  const jobs = (box?.jobs ?? 0) + spooled;
  const files = box?.files ?? 0;
  const parts = [
    jobs === 0 ? undefined : `${jobs} ${jobs === 1 ? "job" : "jobs"} from the box waiting`,
    files === 0 ? undefined : `${files} ${files === 1 ? "file" : "files"} waiting to be delivered`,
  ].filter((part) => part !== undefined);
  return parts.length === 0 ? undefined : `📬 ${parts.join("; ")}.`;
}

/** The schedules found, one line each: when each runs next. */
function scheduleLines(schedules: readonly Schedule[], now: number): string[] {
  return schedules.map(({ name, next }) =>
    next === undefined
      ? `⏰ Schedule ${name}: not planned (its timer is stopped).`
      : `⏰ Schedule ${name}: next ${
        new Date(next).toISOString().slice(0, 16).replace("T", " ")
      } UTC (in ${formatDuration(Math.max(0, next - now))}).`
  );
}

/** How long ago `iso` was, "?" when there is no time or it can't be read. */
function since(iso: string | undefined, now: number): string {
  const at = iso === undefined ? NaN : Date.parse(iso);
  return Number.isNaN(at) ? "?" : formatDuration(Math.max(0, now - at));
}

function previewOf(text: string | undefined): string {
  if (text === undefined) return "";
  const flat = text.replace(/\s+/g, " ").trim();
  return ` (“${flat.length > 40 ? flat.slice(0, 39) + "…" : flat}”)`;
}
