/**
 * The chats' queues of waiting messages, and which message may start next: the head of a chat
 * with nothing running, once its 👀 is out (or late) and its back-off, if any, is over. Oldest
 * first across chats. Pure bookkeeping in memory, owned by the scheduler (`scheduler.ts`).
 *
 * @module
 */

import type { JournalEntry } from "../shared/journal_entry.ts";

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
  #chats = new Map<number, ChatQueue>();
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

  /** Queues a message in its chat, in `update_id` order (those sent with `!` first). */
  enqueue(entry: JournalEntry): void {
    let chat = this.#chats.get(entry.chatId);
    if (chat === undefined) this.#chats.set(entry.chatId, chat = { waiting: [] });
    const rank = (e: JournalEntry) => e.urgent ? 0 : 1;
    const at = chat.waiting.findIndex((e) =>
      rank(e) > rank(entry) || (rank(e) === rank(entry) && e.updateId > entry.updateId)
    );
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
      if (best === undefined || head.updateId < best.updateId) best = head;
    }
    if (best === undefined) return;
    this.#chats.get(best.chatId)!.waiting.shift();
    this.#unacked.delete(best.updateId);
    this.#notBefore.delete(best.updateId);
    return best;
  }

  /** The message's handler runs: its chat starts nothing else until {@linkcode ended}. */
  running(entry: JournalEntry): void {
    const chat = this.#chats.get(entry.chatId);
    if (chat === undefined) this.#chats.set(entry.chatId, { waiting: [], running: entry.updateId });
    else chat.running = entry.updateId;
  }

  /** The message's handler ended: its chat may start its next message. */
  ended(chatId: number, updateId: number): void {
    const chat = this.#chats.get(chatId);
    if (chat?.running === updateId) chat.running = undefined;
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
