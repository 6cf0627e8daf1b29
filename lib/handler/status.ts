/**
 * `/status`: where the bot and this chat stand, from the heartbeat file and the journal.
 *
 * @module
 */

import { formatDuration } from "../shared/duration.ts";
import { dollars } from "./costs.ts";
import type { PollStatus } from "../shared/heartbeat.ts";
import { isRunning, type JournalEntry } from "../shared/journal.ts";
import { takesTurn } from "../shared/update.ts";

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

/** Sorts a chat's journal entries (every chat's, for `chatId` undefined) into running and waiting. */
export function chatStanding(
  entries: readonly JournalEntry[],
  chatId: number | undefined,
  isCancelled: (updateId: number) => boolean = () => false,
): ChatStanding {
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
  const { beatAt, poll, standing, maxAttempts, now } = snapshot;
  const waitingInAll = snapshot.waitingInAll ?? standing.waiting;
  const lines: string[] = [];
  const since = (iso: string | undefined) => {
    const at = iso === undefined ? NaN : Date.parse(iso);
    return Number.isNaN(at) ? "?" : formatDuration(Math.max(0, now - at));
  };
  if (beatAt === undefined) {
    lines.push("⚠️ No heartbeat from the poll loop.");
  } else {
    const age = `${(Math.max(0, now - beatAt.getTime()) / 1000).toFixed(1)} s`;
    lines.push(
      poll === undefined
        ? `Poll loop heartbeat ${age} ago.`
        : `Up ${
          since(poll.startedAt)
        }; poll loop heartbeat ${age} ago; ${poll.live} of ${poll.cap} brain slots busy.`,
    );
  }
  const { running, waiting } = standing;
  if (running === undefined) {
    lines.push("Nothing is running in this chat.");
  } else {
    const message = (running.update as { message?: { message_id?: number; text?: string } })
      ?.message;
    const preview = previewOf(message?.text);
    lines.push(
      running.stage === "brain"
        ? `Working on message ${message?.message_id ?? "?"}${preview} for ${
          since(running.brainStartedAt)
        }, attempt ${running.attempt ?? 1} of ${maxAttempts}.`
        : `Starting message ${message?.message_id ?? "?"}${preview}: fetching its input.`,
    );
  }
  if (waiting > 0 || running !== undefined) {
    const behind = running === undefined ? "" : " behind it";
    lines.push(waiting === 1 ? `1 message waits${behind}.` : `${waiting} messages wait${behind}.`);
  }
  if (standing.parked !== undefined) {
    const message = (standing.parked.update as { message?: { message_id?: number } })?.message;
    const until = Date.parse(standing.parked.parkedUntil ?? "");
    lines.push(
      `Message ${message?.message_id ?? "?"} is parked until ${
        Number.isNaN(until) ? "?" : new Date(until).toISOString().slice(11, 16) + " UTC"
      } (in ${formatDuration(Math.max(0, until - now))}): its brain asked to be run later.`,
    );
  }
  if (waitingInAll > waiting) lines.push(`${waitingInAll} messages wait in all chats.`);
  const { costs } = snapshot;
  if (costs !== undefined && costs.total > 0) {
    lines.push(
      `Today's brain cost: ${dollars(costs.chat)} in this chat, ${dollars(costs.total)} in all.`,
    );
  }
  const { delivering } = standing;
  if (delivering > 0) {
    lines.push(
      delivering === 1
        ? "1 answer waiting to be delivered (Telegram or the network is failing; it keeps trying)."
        : `${delivering} answers waiting to be delivered (Telegram or the network is failing; it keeps trying).`,
    );
  }
  return lines.join("\n");
}

function previewOf(text: string | undefined): string {
  if (text === undefined) return "";
  const flat = text.replace(/\s+/g, " ").trim();
  return ` (“${flat.length > 40 ? flat.slice(0, 39) + "…" : flat}”)`;
}
