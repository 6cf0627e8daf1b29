/**
 * `/status`: where the bot and this chat stand, from the heartbeat file and the journal.
 *
 * @module
 */

import { formatDuration } from "../shared/duration.ts";
import { dollars } from "./costs.ts";
import type { PollStatus } from "../shared/heartbeat.ts";
import type { BrainReport } from "../shared/brain_report.ts";
import { isRunning, type JournalEntry } from "../shared/journal_entry.ts";
import { takesTurn } from "../shared/update_route.ts";

/** A chat's messages, as `/status` tells them. */
export interface ChatStanding {
  /** The message being worked on (its input fetched, or its brain running), if any. */
  running?: JournalEntry;
  /** Messages still waiting for their turn (commands and withdrawn ones not counted). */
  waiting: number;
  /** Answers decided whose delivery is held up (Telegram or the network is failing). */
  delivering: number;
  /** A message of the chat parked until a usage limit's reset, if any. */
  parked?: JournalEntry;
}

/** Options for {@linkcode chatStanding}. */
export interface ChatStandingOptions {
  /** Whether a message was cancelled (it is then not counted as waiting). Default: none was. */
  isCancelled?: (updateId: number) => boolean;
}

/** Sorts a chat's journal entries (every chat's, for `chatId` undefined) into running and waiting. */
export function chatStanding(
  entries: readonly JournalEntry[],
  chatId: number | undefined,
  options: ChatStandingOptions = {},
): ChatStanding {
  const { isCancelled = () => false } = options;
  const mine = entries.filter((e) =>
    (chatId === undefined || e.chatId === chatId) && e.stage !== "replied" && takesTurn(e.update)
  );
  const running = mine.find(isRunning);
  const delivering =
    mine.filter((e) => e.stage === "answered" && e.answer?.heldUpSince !== undefined).length;
  const waiting =
    mine.filter((e) => !isRunning(e) && e.stage !== "answered" && !isCancelled(e.updateId)).length;
  const parked = mine.find((e) => e.parkedUntil !== undefined && !isRunning(e));
  return { running, waiting, delivering, parked };
}

/** What {@linkcode statusText} reports. */
export interface StatusSnapshot {
  /** The heartbeat's time, if there is one. */
  beatAt?: Date;
  /** What the poll loop recorded with it. */
  poll?: PollStatus;
  /** The brain as the poll process checked it at start, once it has (shown if of this run). */
  brain?: BrainReport;
  standing: ChatStanding;
  /** Messages waiting for their turn in every chat. Default: this chat's. */
  waitingInAll?: number;
  /** Today's brain costs in US dollars (the Claude brain's own account): this chat's and all. */
  costs?: { chat: number; total: number };
  /** Brain attempts per message. */
  maxAttempts: number;
  /** Now, ms since the epoch. */
  now: number;
}

/** The `/status` reply: a few short lines. */
export function statusText(snapshot: StatusSnapshot): string {
  const { standing, now } = snapshot;
  const { running, waiting, parked, delivering } = standing;
  const waitingInAll = snapshot.waitingInAll ?? standing.waiting;
  // The bot first, then this chat, then all chats; a line with nothing to say is left out.
  const lines = [
    pollLine(snapshot),
    brainLine(snapshot),
    runningLine(running, snapshot),
    waitingLine(waiting, running !== undefined),
    parked === undefined ? undefined : parkedLine(parked, now),
    waitingInAll > waiting ? `${waitingInAll} messages wait in all chats.` : undefined,
    costLine(snapshot.costs),
    deliveringLine(delivering),
  ];
  return lines.filter((line) => line !== undefined).join("\n");
}

/** The poll loop's heartbeat, and with what it recorded, the uptime and the brain slots. */
function pollLine(snapshot: Pick<StatusSnapshot, "beatAt" | "poll" | "now">): string {
  const { beatAt, poll, now } = snapshot;
  if (beatAt === undefined) return "⚠️ No heartbeat from the poll loop.";
  const age = `${(Math.max(0, now - beatAt.getTime()) / 1000).toFixed(1)} s`;
  if (poll === undefined) return `Poll loop heartbeat ${age} ago.`;
  return `Up ${
    since(poll.startedAt, now)
  }; poll loop heartbeat ${age} ago; ${poll.live} of ${poll.cap} brain slots busy.`;
}

/**
 * The brain as the poll process checked it at start, when something is wrong (missing, not logged
 * in) or it couldn't tell; a brain found fine goes unsaid, and so does an earlier run's finding
 * (another `startedAt`).
 */
function brainLine(snapshot: Pick<StatusSnapshot, "poll" | "brain">): string | undefined {
  const { poll, brain } = snapshot;
  if (brain === undefined || brain.ok === true || brain.startedAt !== poll?.startedAt) return;
  return `${brain.ok === false ? "⚠️ " : ""}Brain: ${brain.note}.`;
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
  return running.stage === "brain"
    ? `Working on message ${message?.message_id ?? "?"}${preview} for ${
      since(running.brainStartedAt, at.now)
    }, attempt ${running.attempt ?? 1} of ${at.maxAttempts}.`
    : `Starting message ${message?.message_id ?? "?"}${preview}: fetching its input.`;
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
