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
import { type RunContext, settleRun, startRun } from "./runs.ts";
import type { Disk } from "./disk.ts";
import type { FinishedUpdates } from "./finished_updates.ts";
import { Unconfirmed } from "./unconfirmed.ts";
import { DeskWork, type SchedulerDesk } from "./scheduler_desk.ts";
import { Working } from "./working.ts";
import type { BusyMode } from "./decide.ts";
import type { Journal } from "../shared/journal.ts";
import { type JournalEntry, parkedFor, patched } from "../shared/journal_entry.ts";
import type { Report } from "../shared/line.ts";
import { getLog } from "../shared/log.ts";
import { sweepOrphan } from "../shared/sweep.ts";
import { admit, type Held, heldFor, HeldMessages, recoverHeld } from "./held.ts";

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
  /** Finished messages' update ids (`finished_updates.ts`): one that comes again is skipped. */
  finished?: Pick<FinishedUpdates, "has" | "add">;
  /** Kills what a dead handler's brain left. Default: `sweepOrphan` (`sweep.ts`). */
  sweepOrphan?: (run: string, updateId: number) => Promise<void>;
  /** When the poll process started (ISO 8601), for `/status`. Default: now. */
  startedAt?: string;
  /** What a plain message does while its chat's brain works. Default: "queue". */
  busyMode?: BusyMode;
  /** Why Telegram can't be reached now, if it can't (for `/status`). */
  telegramTrouble?: () => string | undefined;
}

/** Owns every message's life; see the module doc. */
export class Scheduler {
  #options: SchedulerOptions;
  #messages: HeldMessages;
  #unconfirmed = new Unconfirmed();
  #queues: ChatQueues;
  #desk: DeskWork;
  #working: Working;
  #disk: Disk;
  #timer?: ReturnType<typeof setTimeout>;
  #stopping = false;
  #startedAt: string;
  #log = getLog("scheduler");

  constructor(options: SchedulerOptions) {
    const { now = () => performance.now(), wallNow = Date.now } = options;
    this.#options = { ...options, now, wallNow };
    this.#startedAt = options.startedAt ?? new Date(wallNow()).toISOString();
    this.#queues = new ChatQueues({ ackWaitMs: options.ackWaitMs ?? 2000, now });
    this.#disk = options.disk;
    const messages = this.#messages = new HeldMessages({
      disk: options.disk,
      finished: options.finished,
    });
    this.#working = new Working({
      messages,
      busyMode: options.busyMode ?? "queue",
      enqueue: (held) => this.#enqueue(held),
      waitingIn: (chatId) => this.#queues.waitingIn(chatId),
      desk: (job) => options.desk.send(job),
    });
    this.#desk = new DeskWork({
      desk: options.desk,
      working: this.#working,
      messages,
      queues: this.#queues,
      bot: () => ({
        startedAt: this.#startedAt,
        live: options.dispatcher.live,
        cap: options.dispatcher.cap,
        diskFailing: this.#disk.failing,
        telegramFailing: options.telegramTrouble?.(),
      }),
    });
  }

  /** Messages not finished (waiting, running, or with the desk): the loop's backlog. */
  get size(): number {
    return this.#messages.size;
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
    const { held, lost, removed } = recoverHeld(this.#options.journal, this.#log);
    for (const updateId of removed) this.#options.finished?.add(updateId);
    for (const ids of lost) this.#desk.lost(ids);
    for (const item of held) {
      if (item.corrected) this.#messages.save(item);
      this.#messages.hold(item);
      this.#unconfirmed.seen(item.entry.updateId);
    }
    for (const item of held) {
      const host = item.entry.steeredInto;
      // Steered into a message that was finished: it was answered with it.
      if (host !== undefined && !this.#messages.get(host)) this.#messages.finish(item);
      else if (host === undefined) this.#desk.acknowledge(item);
      if (this.#messages.get(item.entry.updateId)) this.#release(item);
    }
  }

  /** Takes a job from the box, journaled (`spool.ts`): queued like a message (see `held.ts`). */
  spooled(entry: JournalEntry): void {
    const held = heldFor(entry, { journaled: true });
    this.#messages.hold(held);
    this.#desk.acknowledge(held);
    this.#release(held);
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
      this.#messages.hold(held);
      this.#unconfirmed.add(held);
      if (held.turn) this.#desk.ack(held);
    }
    // The 👀 jobs out of this process before the journal's fsyncs; bounded, as a desk that stopped
    // reading must not hold up the loop.
    await this.#desk.flushed(100);
    this.#journalPending();
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
      const held = this.#messages.get(next.updateId);
      if (held !== undefined) startRun(held, this.#run());
    }
    // A chat held back by a slow 👀 or a back-off is looked at again when that runs out.
    const readyIn = dispatcher.free > 0 ? this.#queues.nextReadyIn() : undefined;
    // Deno wraps a delay past 2^31 - 1 ms (24.8 days) round to almost nothing: a long park comes
    // back at most that late, and is looked at again then.
    const wait = readyIn === undefined ? undefined : Math.min(readyIn + 1, 2 ** 31 - 1);
    if (wait !== undefined) this.#timer = setTimeout(() => this.drain(), wait);
  }

  /** From now on nothing starts, and handlers that end leave their messages for the next start. */
  stop(): void {
    this.#stopping = true;
    clearTimeout(this.#timer);
  }

  /** A report of a message handler: its entry changed, it finished, or an edit's fate. */
  onReport(child: ChildRecord, report: Report): void {
    const held = this.#messages.get(child.updateId);
    if (held === undefined || held.child !== child) return;
    if (report.kind === "patch") this.#disk.refresh(held.entry = patched(held.entry, report.patch));
    else if (report.kind === "finished") held.finished = true;
    else if (report.kind === "edit") this.#desk.editReported(report);
    else if (report.kind === "steered") this.#working.steered(report);
  }

  /** A message handler exited (its last reports read): what becomes of its message. */
  onExit(child: ChildRecord): void {
    const held = this.#messages.get(child.updateId);
    this.#queues.ended(child.chatId, child.updateId);
    this.#desk.handlerEnded(child.updateId);
    try {
      if (held !== undefined && held.child === child) {
        settleRun(held, { child, stopping: this.#stopping, context: this.#run() });
        this.#working.hostEnded(held);
      }
    } finally {
      this.drain();
    }
  }

  /** A desk report: a 👀 out (its message may start), or a job done (its update finished). */
  onDeskReport(report: Extract<Report, { kind: "acked" | "done" }>): void {
    if (report.kind === "done") return this.#desk.done(report.updateId);
    if (this.#desk.acked(report)) this.drain();
  }

  /** Sorts one update: a new one becomes a held message; anything else is logged and skipped. */
  #accept(update: unknown): Held | undefined {
    const { authorized, allowedChats, botUsername, wallNow } = this.#options;
    // Telegram sends it again until it is confirmed (while the disk fails, every second): seen
    // once in this run, it is neither logged nor taken again.
    const raw = (update as { update_id?: unknown } | null)?.update_id;
    const id = Number.isSafeInteger(raw) ? raw as number : undefined;
    if (id !== undefined && this.#unconfirmed.has(id) && !this.#messages.get(id)) return undefined;
    const entry = admit(update, {
      authorized,
      allowedChats,
      botUsername: botUsername?.(),
      wallNow: wallNow!(),
      log: this.#log,
    });
    if (id !== undefined) this.#unconfirmed.seen(id);
    if (entry === undefined) return undefined;
    // A server may send it again after it was confirmed: once taken, it is ours.
    const { updateId } = entry;
    const held = this.#messages.get(updateId);
    const had = held?.journaled
      ? "under way"
      : this.#options.finished?.has(updateId) && "already finished";
    if (had) this.#log.info("update {updateId} skipped: {had}", { updateId, had });
    if (had || held !== undefined) return undefined;
    return heldFor(entry, { journaled: false });
  }

  /** Journals what waits for the disk (`unconfirmed.ts`), then starts what can start. */
  #journalPending() {
    this.#unconfirmed.journal({
      record: (held) => this.#disk.record(held.entry.update, held.entry),
      isHeld: (updateId) => this.#messages.get(updateId) !== undefined,
      release: (held) => this.#release(held),
      log: this.#log,
    });
    this.drain();
  }

  /**
   * A journaled update goes on: a message into its chat's working turn or its queue
   * (`working.ts`), anything else to the desk.
   */
  #release(held: Held) {
    if (!held.turn || held.entry.withdrawn) return this.#desk.take(held);
    if (!this.#working.arrive(held)) this.#enqueue(held);
  }

  #enqueue(held: Held) {
    const { updateId, chatId } = held.entry;
    const parked = parkedFor(held.entry, this.#options.wallNow!());
    if (parked !== undefined) this.#queues.holdBack(updateId, parked);
    this.#queues.enqueue(held.entry);
    this.#working.queued(chatId);
    this.drain();
  }

  /** What starting and settling a handler works on (`runs.ts`). */
  #run(): RunContext {
    const { dispatcher, poisonLimit = 3, wallNow, sweepOrphan: sweep = sweepOrphan } =
      this.#options;
    const [queues, messages, log] = [this.#queues, this.#messages, this.#log];
    return {
      dispatcher,
      queues,
      messages,
      poisonLimit,
      wallNow: wallNow!,
      sweepOrphan: sweep,
      log,
    };
  }
}
