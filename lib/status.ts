/**
 * `/status`: where the bot and this chat stand, from the heartbeat file and the journal.
 *
 * @module
 */

import { updateCommand } from "./command.ts";
import { formatDuration } from "./duration.ts";
import type { PollStatus } from "./heartbeat.ts";
import type { JournalEntry } from "./journal.ts";
import { isEdit } from "./update.ts";

/** A chat's messages, as `/status` tells them. */
export interface ChatStanding {
  /** The message whose brain is working, if any. */
  running?: JournalEntry;
  /** Messages of the chat still waiting for their brain (commands and withdrawn ones not counted). */
  waiting: number;
}

/** Sorts a chat's journal entries into the running one and those waiting. */
export function chatStanding(
  entries: readonly JournalEntry[],
  chatId: number,
  isCancelled: (updateId: number) => boolean = () => false,
): ChatStanding {
  const mine = entries.filter((e) =>
    e.chatId === chatId && e.stage !== "replied" && updateCommand(e.update) === undefined &&
    !isEdit(e.update)
  );
  const running = mine.find((e) => e.stage === "brain");
  const waiting =
    mine.filter((e) => e !== running && e.stage !== "brain" && !isCancelled(e.updateId)).length;
  return { running, waiting };
}

/** What {@linkcode statusText} reports. */
export interface StatusSnapshot {
  /** The heartbeat's time, if there is one. */
  beatAt?: Date;
  /** What the poll loop recorded with it. */
  poll?: PollStatus;
  standing: ChatStanding;
  /** Brain attempts per message. */
  maxAttempts: number;
  /** Now, ms since the epoch. */
  now: number;
}

/** The `/status` reply: a few short lines. */
export function statusText(snapshot: StatusSnapshot): string {
  const { beatAt, poll, standing, maxAttempts, now } = snapshot;
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
        }; poll loop heartbeat ${age} ago; ${poll.live} of ${poll.cap} handlers busy (this /status is one).`,
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
      `Working on message ${message?.message_id ?? "?"}${preview} for ${
        since(running.brainStartedAt)
      }, attempt ${running.attempt ?? 1} of ${maxAttempts}.`,
    );
  }
  if (waiting > 0 || running !== undefined) {
    const behind = running === undefined ? "" : " behind it";
    lines.push(waiting === 1 ? `1 message waits${behind}.` : `${waiting} messages wait${behind}.`);
  }
  return lines.join("\n");
}

function previewOf(text: string | undefined): string {
  if (text === undefined) return "";
  const flat = text.replace(/\s+/g, " ").trim();
  return ` (“${flat.length > 40 ? flat.slice(0, 39) + "…" : flat}”)`;
}
