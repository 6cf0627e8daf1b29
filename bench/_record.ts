/**
 * Reading the simulator's record: when each message was handed to `getUpdates`, acknowledged (👀)
 * and answered (👌), and how fast the poll loop came back. Every time here is the simulator's own
 * clock (`RecordedCall.at`/`endedAt`), never the bot's.
 *
 * @module
 */

import type { BotApiSimulator, RecordedCall } from "../tests/sim/simulator.ts";
import type { Update } from "grammy/types";
import { messageIdOf } from "../tests/_helpers.ts";

/** A message the phone sent. */
export interface SentMessage {
  updateId: number;
  chatId: number;
  messageId: number;
  /** When the phone sent it, on the simulator's clock. */
  sentAt: number;
  /** The update as queued for `getUpdates`. */
  update: Update;
}

/** The simulator's clock (the same expression `RecordedCall.at` uses). */
export function simNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The person sends `text` in chat `chatId` (a private chat: the sender is the chat). */
export function send(sim: BotApiSimulator, chatId: number, text: string): SentMessage {
  const sentAt = simNow();
  const update = sim.sendText(chatId, text);
  return { updateId: update.update_id, chatId, messageId: messageIdOf(update), sentAt, update };
}

function key(chatId: unknown, messageId: unknown): string {
  return `${chatId}:${messageId}`;
}

/** The emoji of a `setMessageReaction` call, if it set one. */
export function reactionOf(call: RecordedCall): string | undefined {
  if (call.method !== "setMessageReaction") return undefined;
  const reaction = call.params.reaction;
  return Array.isArray(reaction) ? (reaction[0] as { emoji?: string })?.emoji : undefined;
}

/** Matches a successful reaction `emoji` on any of `messages`. */
export function reactedOn(messages: readonly SentMessage[], emoji: string) {
  const keys = new Set(messages.map((m) => key(m.chatId, m.messageId)));
  return (call: RecordedCall): boolean =>
    call.status === 200 && reactionOf(call) === emoji &&
    keys.has(key(call.params.chat_id, call.params.message_id));
}

/** Options for {@linkcode waitForEmoji}. */
export interface WaitForEmojiOptions {
  /** Deadline, ms. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Count pending calls too (the request has arrived). Default: `false`. */
  includePending?: boolean;
}

/**
 * Waits until every message in `messages` got `emoji`; resolves with the ones that did not by the
 * deadline (none when all did). Only an abort rejects.
 */
export async function waitForEmoji(
  sim: BotApiSimulator,
  messages: readonly SentMessage[],
  emoji: string,
  options: WaitForEmojiOptions,
): Promise<SentMessage[]> {
  const { timeoutMs, signal, includePending = false } = options;
  if (messages.length === 0) return [];
  try {
    await sim.waitForCalls(reactedOn(messages, emoji), messages.length, {
      timeoutMs,
      signal,
      includePending,
      description: `${emoji} on ${messages.length} message(s)`,
    });
    return [];
  } catch (error) {
    if (signal?.aborted) throw error;
    const got = new Set(
      sim.calls.filter(reactedOn(messages, emoji)).map((c) =>
        key(c.params.chat_id, c.params.message_id)
      ),
    );
    return messages.filter((m) => !got.has(key(m.chatId, m.messageId)));
  }
}

/** The simulator's record, indexed by message. */
export class CallIndex {
  #delivered = new Map<number, number>();
  #firstReaction = new Map<string, number>();
  #replied = new Map<string, number>();

  constructor(calls: readonly RecordedCall[]) {
    for (const call of calls) {
      if (call.method === "getUpdates" && Array.isArray(call.result)) {
        for (const update of call.result as { update_id: number }[]) {
          // The first hand-over counts: an unconfirmed update is handed over again later.
          if (!this.#delivered.has(update.update_id)) {
            this.#delivered.set(update.update_id, call.endedAt!);
          }
        }
      }
      const emoji = reactionOf(call);
      if (emoji !== undefined) {
        const k = `${emoji}:${key(call.params.chat_id, call.params.message_id)}`;
        if (!this.#firstReaction.has(k)) this.#firstReaction.set(k, call.at);
      }
      const replyTo = (call.params.reply_parameters as { message_id?: number } | undefined)
        ?.message_id;
      if (call.method === "sendMessage" && call.status === 200 && replyTo !== undefined) {
        const k = key(call.params.chat_id, replyTo);
        if (!this.#replied.has(k)) this.#replied.set(k, call.at);
      }
    }
  }

  /** When the simulator handed the update to `getUpdates` (that response's `endedAt`). */
  deliveredAt(message: SentMessage): number | undefined {
    return this.#delivered.get(message.updateId);
  }

  /** When the first `emoji` reaction on the message arrived. */
  reactedAt(message: SentMessage, emoji: string): number | undefined {
    return this.#firstReaction.get(`${emoji}:${key(message.chatId, message.messageId)}`);
  }

  /** When the first reply to the message arrived. */
  repliedAt(message: SentMessage): number | undefined {
    return this.#replied.get(key(message.chatId, message.messageId));
  }
}

/** Ack latencies of a set of messages, in ms. */
export interface AckTimes {
  /** From the hand-over to `getUpdates` to the 👀: the ack latency. */
  ack: number[];
  /** From the phone's send to the 👀: what the person feels, Telegram's queue included. */
  sendToAck: number[];
  /** Messages without a 👀, a reply or a 👌. */
  unanswered: SentMessage[];
}

/** Options for {@linkcode ackTimes}. */
export interface AckTimesOptions {
  /**
   * A reply is enough to count as answered: no 👌 needed (a message whose brain `/cancel` stopped
   * ends with another reaction). Default: `false`.
   */
  replyIsEnough?: boolean;
}

/**
 * Measures the ack of each message; one without 👀, reply or 👌 (unless `replyIsEnough`) counts as
 * unanswered.
 */
export function ackTimes(
  index: CallIndex,
  messages: readonly SentMessage[],
  options: AckTimesOptions = {},
): AckTimes {
  const { replyIsEnough = false } = options;
  const times: AckTimes = { ack: [], sendToAck: [], unanswered: [] };
  for (const message of messages) {
    const delivered = index.deliveredAt(message);
    const acked = index.reactedAt(message, "👀");
    if (
      delivered === undefined || acked === undefined || index.repliedAt(message) === undefined ||
      (!replyIsEnough && index.reactedAt(message, "👌") === undefined)
    ) {
      times.unanswered.push(message);
      continue;
    }
    times.ack.push(acked - delivered);
    times.sendToAck.push(acked - message.sentAt);
  }
  return times;
}

/** How fast commands were answered, in ms. */
export interface ReplyTimes {
  /** From the hand-over to `getUpdates` to the first reply to the command. */
  reply: number[];
  /** From the phone's send to that reply. */
  sendToReply: number[];
  /** Commands never handed over or never answered. */
  unanswered: SentMessage[];
}

/** Measures the time to the reply of each of `messages` (commands: no reaction is expected). */
export function replyTimes(index: CallIndex, messages: readonly SentMessage[]): ReplyTimes {
  const times: ReplyTimes = { reply: [], sendToReply: [], unanswered: [] };
  for (const message of messages) {
    const delivered = index.deliveredAt(message);
    const replied = index.repliedAt(message);
    if (delivered === undefined || replied === undefined) {
      times.unanswered.push(message);
      continue;
    }
    times.reply.push(replied - delivered);
    times.sendToReply.push(replied - message.sentAt);
  }
  return times;
}

/**
 * Waits until every one of `messages` has a reply; resolves with the ones that have none by the
 * deadline. Only an abort rejects.
 */
export async function waitForReplies(
  sim: BotApiSimulator,
  messages: readonly SentMessage[],
  options: WaitForEmojiOptions,
): Promise<SentMessage[]> {
  const { timeoutMs, signal } = options;
  const deadline = performance.now() + timeoutMs;
  const missing: SentMessage[] = [];
  for (const message of messages) {
    try {
      await sim.waitForCall((call) => repliesTo(call, message), {
        timeoutMs: Math.max(1, deadline - performance.now()),
        signal,
        description: `a reply to message ${message.messageId} in chat ${message.chatId}`,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      missing.push(message);
    }
  }
  return missing;
}

function repliesTo(call: RecordedCall, message: SentMessage): boolean {
  const replyTo = (call.params.reply_parameters as { message_id?: number } | undefined)
    ?.message_id;
  return call.method === "sendMessage" && call.status === 200 &&
    key(call.params.chat_id, replyTo) === key(message.chatId, message.messageId);
}

/** Loop turnaround samples, in ms. */
export interface Turnaround {
  /** After every response that carried updates: its `endedAt` to the next request's `at`. */
  all: number[];
  /**
   * Only after responses with fewer updates than the `limit` asked for: the loop had free handler
   * slots left, so the gap is the loop's own work, not a wait at the cap.
   */
  belowCap: number[];
}

/** Loop turnaround over the `getUpdates` calls in `calls` (one poller). */
export function loopTurnaround(calls: readonly RecordedCall[]): Turnaround {
  const polls = calls.filter((c) => c.method === "getUpdates");
  const turnaround: Turnaround = { all: [], belowCap: [] };
  for (let i = 0; i + 1 < polls.length; i++) {
    const poll = polls[i];
    const count = Array.isArray(poll.result) ? poll.result.length : 0;
    if (count === 0 || poll.endedAt === undefined) continue;
    const gap = polls[i + 1].at - poll.endedAt;
    turnaround.all.push(gap);
    const limit = typeof poll.params.limit === "number" ? poll.params.limit : 100;
    if (count < limit) turnaround.belowCap.push(gap);
  }
  return turnaround;
}
