/**
 * The poll loop's side of a message's life: have the desk acknowledge it, journal it, keep it
 * waiting in its chat's queue (`chat_queues.ts`), and have `Starter` start its handler when it can
 * start: its chat has nothing running and a brain slot is free. Only here can a waiting message
 * be withdrawn (`/cancel`).
 *
 * A waiting message waits here, in the journal and in memory, never in a process and never at
 * Telegram: the loop goes on fetching whatever the brains do. Each chat's messages start one at a
 * time, in `update_id` order, because a chat's next handler starts only after the previous one
 * has exited. Commands and edits never wait: they go to the desk at once.
 *
 * A message's handler starts once the desk has reported its 👀 out (or after `ackWaitMs`, should
 * the desk be slow or gone), so that the handler's ✍ can never land before the 👀 and be
 * overwritten by it.
 *
 * @module
 */

import type { ChildRecord } from "./dispatch.ts";
import { ChatQueues } from "./chat_queues.ts";
import { afterCutOff } from "./handler_end.ts";
import { Starter, type StarterDispatcher } from "./starter.ts";
import type { Accepted } from "./poll.ts";
import type { DeskJob } from "../shared/desk_protocol.ts";
import type { FinishedUpdates } from "./finished_updates.ts";
import type { Journal } from "../shared/journal.ts";
import { type JournalEntry, parkedFor } from "../shared/journal_entry.ts";
import { entryPatcher } from "../shared/journal_record.ts";
import { getLog } from "../shared/log.ts";
import { sweep } from "../shared/sweep.ts";
import { routeUpdate, takesTurn } from "../shared/update_route.ts";

/** What the intake needs of the desk. */
export interface IntakeDesk {
  /** Hands the desk a job; never blocks (jobs wait in memory while no desk is ready). */
  send(job: DeskJob): void;
  /** Resolves once the jobs so far are handed to the desk process. */
  flushed?(): Promise<void>;
}

type DispatchRoute = Extract<ReturnType<typeof routeUpdate>, { kind: "dispatch" }>;

/** An update of a batch that goes on (an authorized message, command or edit), to be journaled. */
export interface AcceptedUpdate extends Accepted {
  readonly update: unknown;
  readonly route: DispatchRoute;
}

/** Options for {@linkcode Intake}. */
export interface IntakeOptions {
  journal: Journal;
  dispatcher: StarterDispatcher;
  desk: IntakeDesk;
  authorized: ReadonlySet<number>;
  /** Which chats may reach a brain (`COORD_ALLOWED_CHAT_IDS`). Default: any. */
  allowedChats?: ReadonlySet<number>;
  /** The bot's username, once known (commands for other bots are skipped). */
  botUsername?: () => string | undefined;
  /** Handlers whose deaths before a final reply give up on a message. Default: 3. */
  poisonLimit?: number;
  /** How long a handler's start waits for the desk's 👀 at most. Default: 2000 ms. */
  ackWaitMs?: number;
  /** The clock. Default: `performance.now`. */
  now?: () => number;
  /** The wall clock, ms since the epoch (for parked messages). Default: `Date.now`. */
  wallNow?: () => number;
  /** Kills the processes of a brain attempt by its marker. Default: `sweep` (`sweep.ts`). */
  sweep?: (target: { run: string }) => Promise<number[]>;
  /** Finished messages' update ids (`finished_updates.ts`): one come again is skipped. */
  finished?: Pick<FinishedUpdates, "has" | "add">;
}

/** Journals, queues and starts messages; see the module doc. */
export class Intake {
  #journal: Journal;
  #desk: IntakeDesk;
  #authorized: ReadonlySet<number>;
  #allowedChats?: ReadonlySet<number>;
  #botUsername: () => string | undefined;
  #wallNow: () => number;
  #finished?: Pick<FinishedUpdates, "has" | "add">;
  #queues: ChatQueues;
  #starter: Starter;
  /** Commands, edits and withdrawals the desk has not reported done. */
  #deskJobs = new Set<number>();
  /** Journaled by `record()`, handed on by the next `release()`. */
  #batch: { entry: JournalEntry; answer: boolean }[] = [];
  #log = getLog("intake");

  constructor(options: IntakeOptions) {
    const { journal, now = () => performance.now(), wallNow = Date.now } = options;
    this.#journal = journal;
    this.#desk = options.desk;
    this.#authorized = options.authorized;
    this.#allowedChats = options.allowedChats;
    this.#botUsername = options.botUsername ?? (() => undefined);
    this.#wallNow = wallNow;
    this.#finished = options.finished;
    this.#queues = new ChatQueues({ ackWaitMs: options.ackWaitMs ?? 2000, now });
    this.#starter = new Starter({
      journal,
      dispatcher: options.dispatcher,
      queues: this.#queues,
      poisonLimit: options.poisonLimit ?? 3,
      sweep: options.sweep ?? sweep,
      wallNow,
      onFinished: (updateId) => this.#finished?.add(updateId),
    });
  }

  /** Journaled messages not finished: waiting, running, or with the desk. */
  get size(): number {
    return this.#deskJobs.size + this.#batch.length + this.#queues.size;
  }

  /** Messages waiting for their turn (not running, not with the desk). */
  get waiting(): number {
    return this.#queues.waiting;
  }

  /**
   * Loads what an earlier run left unfinished, ahead of anything new: every message waits again
   * (a brain that was running when that run ended is marked to be answered as a re-run) and is
   * acknowledged again; commands and edits go to the desk.
   */
  recover(): void {
    const { unfinished, removed, setAside } = this.#journal.recover();
    const patch = entryPatcher(this.#journal, this.#log);
    for (const path of setAside) {
      this.#log.error("corrupt journal entry set aside: {path}", { path });
    }
    for (const updateId of removed) this.#finished?.add(updateId);
    if (removed.length > 0) {
      this.#log.info("journal: {n} answered message(s) removed: {ids}", {
        n: removed.length,
        ids: removed.join(", "),
      });
    }
    for (const entry of unfinished) {
      if (isAnswer(entry.update)) {
        this.#toDesk(entry);
        continue;
      }
      const cutOff = afterCutOff(entry);
      const waiting = cutOff === undefined ? entry : patch(entry, cutOff);
      this.#ack(waiting.update);
      const parked = parkedFor(waiting, this.#wallNow());
      if (parked !== undefined) this.#queues.holdBack(waiting.updateId, parked);
      this.#queues.enqueue(waiting);
    }
    if (unfinished.length > 0) {
      this.#log.info("journal: {n} unfinished message(s) from an earlier run queued: {ids}", {
        n: unfinished.length,
        ids: unfinished.map((e) => e.updateId).join(", "),
      });
    }
  }

  /**
   * Sorts a batch, logging what is skipped, and asks the desk for the 👀 of each new message,
   * with no disk on the way: the loop lets those jobs go out, and only then journals the batch
   * with {@linkcode record}. Returns what goes on, in order.
   */
  accept(updates: readonly unknown[]): AcceptedUpdate[] {
    const accepted: AcceptedUpdate[] = [];
    for (const update of updates) {
      const route = this.#classify(update);
      if (route !== undefined) accepted.push({ update, route, updateId: route.updateId });
    }
    return accepted;
  }

  /** Resolves once the desk's jobs so far are handed to its process. */
  acksOut(): Promise<void> {
    return this.#desk.flushed?.() ?? Promise.resolve();
  }

  /**
   * Journals one accepted update. Throws when the journal can't be written: the caller must then
   * not confirm it to Telegram. Nothing is handed on until {@linkcode release}.
   */
  record({ update, route }: AcceptedUpdate): void {
    const entry = this.#journal.record(update, route);
    if (entry === undefined) {
      this.#log.info("update {updateId} is already in the journal; not queued again", route);
      return;
    }
    this.#batch.push({ entry, answer: isAnswer(update) });
  }

  /** Routes an update (logging what is skipped) and asks for its 👀; the route, if it goes on. */
  #classify(update: unknown): DispatchRoute | undefined {
    const route = routeUpdate(update, this.#authorized, {
      allowedChats: this.#allowedChats,
      botUsername: this.#botUsername(),
    });
    if (route.kind === "skip") {
      this.#log.info("update {updateId} skipped: {reason}", route);
      return;
    }
    if (route.kind === "unauthorized") {
      this.#log.warn(
        route.reason === "chat"
          ? "message in group {chatId} ignored: groups are opt-in and it is not in COORD_ALLOWED_CHAT_IDS (update {updateId})"
          : "message from unauthorized user {userId} ignored (chat {chatId}, update {updateId})",
        { ...route, userId: route.userId ?? "unknown" },
      );
      return;
    }
    // Finished, or under way (its handler may have removed the entry and not yet exited).
    const id = route.updateId;
    const had = this.#finished?.has(id) ? "already finished" : this.#known(id) ? "under way" : "";
    if (had) return void this.#log.info("update {updateId} skipped: {had}", { ...route, had });
    // The 👀 goes before the journal's fsync: Telegram keeps the update until the next getUpdates
    // confirms it, and that waits for the journal.
    if (!isAnswer(update)) this.#ack(update);
    return route;
  }

  /**
   * Hands on what `record()` journaled: commands and edits to the desk, messages to their chats'
   * queues. Call once the batch is confirmed durable (the offset written), so that a crash in
   * between can't make Telegram deliver again an update that was already answered.
   */
  release(): void {
    const batch = this.#batch;
    this.#batch = [];
    for (const { entry, answer } of batch) {
      if (answer) this.#toDesk(entry);
      else this.#queues.enqueue(entry);
    }
    this.drain();
  }

  /** The desk reported a message's 👀 out: its handler may start. */
  acked(updateId: number): void {
    if (this.#queues.acked(updateId)) this.drain();
  }

  /** The desk finished a command, an edit or a withdrawal. */
  deskDone(updateId: number): void {
    this.#deskJobs.delete(updateId);
    this.#finished?.add(updateId);
  }

  /**
   * A /cancel asks to withdraw a waiting message. Only the loop knows whether it still waits: if
   * so, it leaves its queue and the desk tells the person; if its handler has started meanwhile,
   * that handler finds the cancel marker and stops instead.
   */
  withdraw(updateId: number): void {
    const entry = this.#queues.remove(updateId);
    if (entry === undefined) {
      this.#log.info("update {updateId} not withdrawn: it no longer waits", { updateId });
      return;
    }
    this.#deskJobs.add(updateId);
    this.#desk.send({ job: "withdraw", update: entry.update });
    this.#log.info("update {updateId} withdrawn by /cancel before it started", { updateId });
  }

  /** Starts handlers for waiting messages while slots are free, oldest first. */
  drain(): void {
    this.#starter.drain();
  }

  /** From now on, nothing starts, and handlers that end leave their messages for the next start. */
  stop(): void {
    this.#starter.stop();
  }

  /** Called when a handler exits: see `Starter.handlerExited`. */
  handlerExited(child: ChildRecord): void {
    this.#starter.handlerExited(child);
  }

  #toDesk(entry: JournalEntry) {
    this.#deskJobs.add(entry.updateId);
    this.#desk.send({ job: "answer", update: entry.update });
  }

  #ack(update: unknown) {
    this.#queues.awaitAck((update as { update_id: number }).update_id);
    this.#desk.send({ job: "ack", update });
  }

  /** True when this run already has the update (Telegram delivered it again). */
  #known(updateId: number): boolean {
    return this.#deskJobs.has(updateId) || this.#queues.has(updateId) ||
      this.#batch.some(({ entry }) => entry.updateId === updateId);
  }
}

/** Commands, edits and Stop presses: the desk answers them at once; they never take a turn. */
function isAnswer(update: unknown): boolean {
  return !takesTurn(update);
}
