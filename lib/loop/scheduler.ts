/**
 * The scheduler: the one owner of every message's life in the poll process. It takes the loop's
 * batches, has the desk acknowledge each message (👀) before the disk is touched, journals them,
 * queues them by chat (`chat_queues.ts`), starts their handlers when they can start, hears their
 * reports over the line, and decides (`decide.ts`) what follows a handler's end: finished, queued
 * again after a back-off, parked, or given up. Commands, edits and Stop presses are decided from
 * what it holds and answered by the desk (`scheduler_desk.ts`).
 *
 * Memory is the truth; the journal is its copy, written when the disk lets it (`disk.ts`). An
 * update not journaled is never confirmed to Telegram nor started (`unconfirmed.ts`); a message
 * whose handler reported it delivered is finished, whatever the disk says.
 *
 * @module
 */

import { ChatQueues } from "./chat_queues.ts";
import type { ChildRecord, Dispatcher } from "./dispatch.ts";
import { afterHandler, SPAWN_RETRY_MS, startPatch } from "./decide.ts";
import type { Disk } from "./disk.ts";
import { Unconfirmed } from "./unconfirmed.ts";
import { DeskWork, type SchedulerDesk } from "./scheduler_desk.ts";
import type { Journal } from "../shared/journal.ts";
import { type JournalEntry, parkedFor, patched } from "../shared/journal_entry.ts";
import type { Report } from "../shared/line.ts";
import { getLog } from "../shared/log.ts";
import { sweepOrphan } from "../shared/sweep.ts";
import { admit, type Held, heldFor, recoverHeld } from "./held.ts";

/** Options for {@linkcode Scheduler}. */
export interface SchedulerOptions {
  journal: Journal;
  /** The journal's writes, surviving a failing disk (`disk.ts`). */
  disk: Disk;
  dispatcher: Pick<Dispatcher, "free" | "live" | "cap" | "spawn">;
  desk: SchedulerDesk;
  authorized: ReadonlySet<number>;
  /** Which chats may reach a brain (`COORD_ALLOWED_CHAT_IDS`). Default: any. */
  allowedChats?: ReadonlySet<number>;
  /** The bot's username, once known (commands for other bots are skipped). */
  botUsername?: () => string | undefined;
  /** Handler deaths before a final reply after which a message is given up. Default: 3. */
  poisonLimit?: number;
  /** How long a handler's start waits for the desk's 👀 at most. Default: 2000 ms. */
  ackWaitMs?: number;
  /** The clock. Default: `performance.now`. */
  now?: () => number;
  /** The wall clock, ms since the epoch. Default: `Date.now`. */
  wallNow?: () => number;
  /** Kills what a dead handler's brain left. Default: `sweepOrphan` (`sweep.ts`). */
  sweepOrphan?: (run: string, updateId: number) => Promise<void>;
  /** Why Telegram can't be reached now, if it can't (for `/status`). */
  telegramTrouble?: () => string | undefined;
}

/** Owns every message's life; see the module doc. */
export class Scheduler {
  #options: SchedulerOptions;
  #held = new Map<number, Held>();
  #unconfirmed = new Unconfirmed();
  #queues: ChatQueues;
  #desk: DeskWork;
  #disk: Disk;
  #timer?: ReturnType<typeof setTimeout>;
  #stopping = false;
  #startedAt: string;
  #log = getLog("scheduler");

  constructor(options: SchedulerOptions) {
    const { now = () => performance.now(), wallNow = Date.now } = options;
    this.#options = { ...options, now, wallNow };
    this.#startedAt = new Date(wallNow()).toISOString();
    this.#queues = new ChatQueues({ ackWaitMs: options.ackWaitMs ?? 2000, now });
    this.#disk = options.disk;
    this.#desk = new DeskWork({
      desk: options.desk,
      held: this.#held,
      queues: this.#queues,
      bot: () => ({
        startedAt: this.#startedAt,
        live: options.dispatcher.live,
        cap: options.dispatcher.cap,
        diskFailing: this.#disk.failing,
        telegramFailing: options.telegramTrouble?.(),
      }),
      finish: (held) => this.#finish(held),
      save: (held) => this.#save(held),
    });
  }

  /** Messages not finished (waiting, running, or with the desk): the loop's backlog. */
  get size(): number {
    return this.#held.size;
  }

  /** Messages waiting for their turn. */
  get waiting(): number {
    return this.#queues.waiting;
  }

  /**
   * Loads what an earlier run left unfinished, ahead of anything new: every message waits again
   * (one whose handler was cut off counts a death, and is answered as a re-run) and is
   * acknowledged again; commands and edits go to the desk; a cut entry's person is told.
   */
  recover(): void {
    const { held, lost } = recoverHeld(this.#options.journal, this.#log);
    for (const ids of lost) this.#desk.lost(ids);
    for (const item of held) {
      if (item.cutOff) this.#save(item);
      this.#held.set(item.entry.updateId, item);
      this.#unconfirmed.seen(item.entry.updateId);
      this.#desk.acknowledge(item);
      this.#release(item);
    }
  }

  /** Takes a job from the box, journaled (`spool.ts`): queued like a message (see `held.ts`). */
  spooled(entry: JournalEntry): void {
    const held = heldFor(entry, { journaled: true });
    this.#held.set(entry.updateId, held);
    this.#desk.acknowledge(held);
    this.#release(held);
    this.drain();
  }

  /**
   * Takes a batch from the loop: sorts it (logging what is skipped), has the desk acknowledge
   * each new message at once, journals what it can, and hands on what is journaled. Resolves to
   * the first update id that must not be confirmed yet (it waits in memory for the disk), if any.
   */
  async take(updates: readonly unknown[]): Promise<number | undefined> {
    for (const update of updates) {
      const held = this.#accept(update);
      if (held === undefined) continue;
      this.#held.set(held.entry.updateId, held);
      this.#unconfirmed.add(held);
      if (held.turn) this.#desk.ack(held);
    }
    // The 👀 jobs out of this process before the journal's fsyncs; bounded, as a desk that stopped
    // reading must not hold up the loop.
    await this.#desk.flushed(100);
    // What waits for the disk is journaled (`unconfirmed.ts`), then what can start starts.
    this.#unconfirmed.journal({
      record: (held) => this.#disk.record(held.entry.update, held.entry),
      isHeld: (updateId) => this.#held.has(updateId),
      release: (held) => this.#release(held),
      log: this.#log,
    });
    this.drain();
    return this.#unconfirmed.first();
  }

  /** Starts handlers for waiting messages while slots are free, oldest first. */
  drain(): void {
    if (this.#stopping) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const { dispatcher } = this.#options;
    while (dispatcher.free > 0) {
      const next = this.#queues.takeNext();
      if (next === undefined) break;
      const held = this.#held.get(next.updateId);
      if (held !== undefined) this.#start(held);
    }
    // A chat held back by a slow 👀 or a back-off is looked at again when that runs out.
    const readyIn = dispatcher.free > 0 ? this.#queues.nextReadyIn() : undefined;
    if (readyIn !== undefined) this.#timer = setTimeout(() => this.drain(), readyIn + 1);
  }

  /** From now on nothing starts, and handlers that end leave their messages for the next start. */
  stop(): void {
    this.#stopping = true;
    clearTimeout(this.#timer);
  }

  /** A report of a message handler: its entry changed, it finished, or an edit's fate. */
  onReport(child: ChildRecord, report: Report): void {
    const held = this.#held.get(child.updateId);
    if (held === undefined || held.child !== child) return;
    if (report.kind === "patch") held.entry = patched(held.entry, report.patch);
    else if (report.kind === "finished") held.finished = true;
    else if (report.kind === "edit") this.#desk.editReported(report);
  }

  /** A message handler exited (its last reports read): what becomes of its message. */
  onExit(child: ChildRecord): void {
    const held = this.#held.get(child.updateId);
    this.#queues.ended(child.chatId, child.updateId);
    this.#desk.handlerEnded(child.updateId);
    try {
      if (held !== undefined && held.child === child) this.#settle(held, child);
    } finally {
      this.drain();
    }
  }

  /** A desk report: a 👀 out (its message may start), or a job done (its update finished). */
  onDeskReport(report: Extract<Report, { kind: "acked" | "done" }>): void {
    if (report.kind === "acked") {
      if (this.#desk.acked(report)) this.drain();
      return;
    }
    this.#desk.done(report.updateId);
  }

  /** Sorts one update: a new one becomes a held message; anything else is logged and skipped. */
  #accept(update: unknown): Held | undefined {
    const { botUsername, wallNow } = this.#options;
    const context = { botUsername: botUsername?.(), wallNow: wallNow!(), log: this.#log };
    const entry = admit(update, { ...this.#options, ...context });
    if (entry === undefined) return undefined;
    // Telegram sends it again until it is confirmed: once taken, it is ours.
    if (this.#held.has(entry.updateId) || this.#unconfirmed.has(entry.updateId)) return undefined;
    return heldFor(entry, { journaled: false });
  }

  /** A journaled update goes on: a message to its chat's queue, anything else to the desk. */
  #release(held: Held) {
    if (!held.turn || held.entry.withdrawn) return this.#desk.take(held);
    const parked = parkedFor(held.entry, this.#options.wallNow!());
    if (parked !== undefined) this.#queues.holdBack(held.entry.updateId, parked);
    this.#queues.enqueue(held.entry);
  }

  #start(held: Held) {
    const { dispatcher, poisonLimit = 3, wallNow } = this.#options;
    const { updateId, chatId, giveUp, deaths } = held.entry;
    const before = held.entry;
    held.entry = patched(before, startPatch(before, { poisonLimit, wallNow: wallNow!() }));
    if (held.entry.giveUp && !giveUp) {
      this.#log.error(
        "update {updateId}: {n} handlers died without a reply; giving up on it (poison limit)",
        { updateId, n: deaths },
      );
    }
    // On disk before the handler starts: from then on the handler writes it too.
    this.#save(held);
    try {
      held.child = dispatcher.spawn(held.entry);
      held.finished = false;
      this.#queues.running(held.entry);
    } catch (error) {
      this.#log.error("dispatch crash: update {updateId}, chat {chatId}: {error}", {
        updateId,
        chatId,
        error: String(error),
      });
      // Tried again after a pause: a spawn that keeps failing must not spin the loop.
      held.entry = before;
      this.#save(held);
      this.#queues.holdBack(updateId, SPAWN_RETRY_MS);
      this.#queues.enqueue(held.entry);
    }
  }

  #settle(held: Held, child: ChildRecord) {
    const { updateId, brainRun } = held.entry;
    held.child = undefined;
    // The handler is gone before its brain's end (a crash, a kill, even after its answer went
    // out): the brain must not live on without it.
    if (brainRun !== undefined) {
      void (this.#options.sweepOrphan ?? sweepOrphan)(brainRun, updateId);
    }
    const end = afterHandler(held.entry, {
      finished: held.finished ?? false,
      status: child.status,
      stopping: this.#stopping,
      wallNow: this.#options.wallNow!(),
    });
    if (end.kind === "finished") return this.#finish(held);
    if (end.kind !== "parked" && end.patch !== undefined) {
      held.entry = patched(held.entry, end.patch);
    }
    this.#save(held);
    if (end.kind === "left") return;
    if (end.kind === "died") {
      this.#log.warn(
        "handler for update {updateId} ended without a final reply ({end}); queued again in {seconds} s",
        { updateId, end: end.end, seconds: end.waitMs / 1000 },
      );
    }
    // It keeps its 👀, and waits: a parked one until its time, after a death a moment, as
    // whatever killed its handler may still be at work.
    this.#queues.holdBack(updateId, end.waitMs);
    this.#queues.enqueue(held.entry);
  }

  /** A message (or a desk update) is done: forgotten here, its entry removed when the disk lets. */
  #finish(held: Held) {
    const { updateId } = held.entry;
    this.#held.delete(updateId);
    if (held.journaled) this.#disk.remove(updateId);
  }

  /** The entry as held, to disk (now, or when the disk lets). */
  #save(held: Held) {
    if (held.journaled) this.#disk.save(held.entry);
  }
}
