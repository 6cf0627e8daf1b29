/**
 * The chats' queues of waiting messages, and which message may start next: the head of a chat
 * with nothing running, once its 👀 is out (or late) and its back-off, if any, is over. Oldest
 * first across chats, by each message's place (`positionOf`: Telegram's update id, or where a job
 * from the box was taken); those sent with `!` first in their chat. A chat's sends from the box
 * (`forge-coordinator send`) wait in a lane of their own, one at a time: they never wait behind
 * the chat's brain. Pure bookkeeping in memory, owned by the scheduler (`scheduler.ts`).
 *
 * @module
 */

import { type JournalEntry, positionOf } from "../shared/journal_entry.ts";

interface ChatQueue {
  /** Waiting messages, in `update_id` order. */
  waiting: JournalEntry[];
  /** The update id whose handler runs, if any. */
  running?: number;
}

/** Options for {@linkcode ChatQueues}. */
export interface ChatQueuesOptions {
  /** How long a message waits for the desk's 👀 at most. */
  ackWaitMs: number;
  /** The clock. */
  now: () => number;
}

/** Per-chat queues; see the module doc. */
export class ChatQueues {
  /** By lane: a chat's id, or `send:<chat id>` for its sends from the box. */
  #chats = new Map<number | string, ChatQueue>();
  /** Messages held back (a death's back-off, a failed spawn, a parked brain): not before then. */
  #notBefore = new Map<number, number>();
  /** Messages whose 👀 the desk has not reported yet: when it was asked for. */
  #unacked = new Map<number, number>();
  #ackWaitMs: number;
  #now: () => number;

  constructor(options: ChatQueuesOptions) {
    this.#ackWaitMs = options.ackWaitMs;
    this.#now = options.now;
  }

  /** Messages waiting or running. */
  get size(): number {
    let n = 0;
    for (const chat of this.#chats.values()) {
      n += chat.waiting.length + (chat.running === undefined ? 0 : 1);
    }
    return n;
  }

  /** Messages waiting for their turn. */
  get waiting(): number {
    let n = 0;
    for (const chat of this.#chats.values()) n += chat.waiting.length;
    return n;
  }

  /** True when the message waits or runs here. */
  has(updateId: number): boolean {
    for (const chat of this.#chats.values()) {
      if (chat.running === updateId || chat.waiting.some((e) => e.updateId === updateId)) {
        return true;
      }
    }
    return false;
  }

  /** Messages waiting for their turn in one chat. */
  waitingIn(chatId: number): number {
    return this.#chats.get(chatId)?.waiting.length ?? 0;
  }

  /** Queues a message in its chat, by place (those sent with `!` first). */
  enqueue(entry: JournalEntry): void {
    let chat = this.#chats.get(laneOf(entry));
    if (chat === undefined) this.#chats.set(laneOf(entry), chat = { waiting: [] });
    const at = chat.waiting.findIndex((e) => aheadInChat(entry, e));
    if (at < 0) chat.waiting.push(entry);
    else chat.waiting.splice(at, 0, entry);
  }

  /** The message's 👀 was asked for now: it starts once the desk reports it, or late. */
  awaitAck(updateId: number): void {
    this.#unacked.set(updateId, this.#now());
  }

  /** The desk reported the 👀 out; true if the message was waiting for it. */
  acked(updateId: number): boolean {
    return this.#unacked.delete(updateId);
  }

  /** The message does not start for `ms`. */
  holdBack(updateId: number, ms: number): void {
    this.#notBefore.set(updateId, this.#now() + ms);
  }

  /** Takes a waiting message out of its queue (a withdrawal); undefined if it no longer waits. */
  remove(updateId: number): JournalEntry | undefined {
    for (const chat of this.#chats.values()) {
      const at = chat.waiting.findIndex((e) => e.updateId === updateId && e.stage !== "answered");
      if (at < 0) continue;
      this.#unacked.delete(updateId);
      this.#notBefore.delete(updateId);
      return chat.waiting.splice(at, 1)[0];
    }
  }

  /** The oldest message that may start now, taken out of its queue; undefined if none. */
  takeNext(): JournalEntry | undefined {
    let best: JournalEntry | undefined;
    for (const [chatId, chat] of this.#chats) {
      const head = chat.waiting[0];
      if (chat.running === undefined && head === undefined) this.#chats.delete(chatId);
      if (chat.running !== undefined || head === undefined || this.#readyAt(head) > this.#now()) {
        continue;
      }
      if (best === undefined || before(head, best)) best = head;
    }
    if (best === undefined) return;
    this.#chats.get(laneOf(best))!.waiting.shift();
    this.#unacked.delete(best.updateId);
    this.#notBefore.delete(best.updateId);
    return best;
  }

  /** The message's handler runs: its chat starts nothing else until {@linkcode ended}. */
  running(entry: JournalEntry): void {
    const chat = this.#chats.get(laneOf(entry));
    if (chat === undefined) {
      this.#chats.set(laneOf(entry), { waiting: [], running: entry.updateId });
    } else chat.running = entry.updateId;
  }

  /** The message's handler ended: its chat (or lane) may start its next message. */
  ended(_chatId: number, updateId: number): void {
    for (const chat of this.#chats.values()) {
      if (chat.running === updateId) chat.running = undefined;
    }
  }

  /** In how many ms the next held-back head may start; undefined if none is held back. */
  nextReadyIn(): number | undefined {
    let soonest = Infinity;
    for (const chat of this.#chats.values()) {
      const head = chat.waiting[0];
      if (chat.running === undefined && head !== undefined) {
        soonest = Math.min(soonest, this.#readyAt(head) - this.#now());
      }
    }
    return soonest === Infinity ? undefined : Math.max(0, soonest);
  }

  /** When a waiting message may start: once its 👀 is out (or late), and its back-off is over. */
  #readyAt(entry: JournalEntry): number {
    const askedAt = this.#unacked.get(entry.updateId);
    const acked = askedAt === undefined ? -Infinity : askedAt + this.#ackWaitMs;
    return Math.max(acked, this.#notBefore.get(entry.updateId) ?? -Infinity);
  }
}

/** The queue a message waits in: its chat's, or its chat's lane of sends from the box. */
function laneOf(entry: JournalEntry): number | string {
  return entry.spool?.kind === "send" ? `send:${entry.chatId}` : entry.chatId;
}

/** Whether `a` comes before `b` in their chat: one sent with `!` first, then by place. */
function aheadInChat(a: JournalEntry, b: JournalEntry): boolean {
  return Boolean(a.urgent) !== Boolean(b.urgent) ? Boolean(a.urgent) : before(a, b);
}

/** Whether `a` comes before `b`: by place, then (two jobs from the box in one place) by id. */
function before(a: JournalEntry, b: JournalEntry): boolean {
  const [pa, pb] = [positionOf(a), positionOf(b)];
  return pa < pb || (pa === pb && a.updateId < b.updateId);
}
