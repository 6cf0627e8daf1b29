/**
 * The poll loop's side of a message's life: journal it, queue it, start its handler under the
 * cap and in order, and start it again when its handler ended without a final reply.
 *
 * Nothing here talks to Telegram: a message that must be given up on gets a handler that only
 * says so.
 *
 * @module
 */

import { updateCommand } from "./command.ts";
import type { ChildRecord } from "./dispatch.ts";
import type { Journal, JournalEntry } from "./journal.ts";
import { getLog } from "./log.ts";
import { killGroup } from "./process_tree.ts";
import { isEdit, routeUpdate } from "./update.ts";

/** What the intake needs of the dispatcher. */
export interface IntakeDispatcher {
  readonly free: number;
  spawn(payload: string, meta: { updateId: number; chatId: number }): ChildRecord;
}

/** What the intake needs of the turn queue. */
export interface IntakeTurns {
  enqueue(chatId: number, updateId: number): void;
  withdraw(chatId: number, updateId: number): void;
}

/** Options for {@linkcode Intake}. */
export interface IntakeOptions {
  journal: Journal;
  turns: IntakeTurns;
  dispatcher: IntakeDispatcher;
  authorized: ReadonlySet<number>;
  /** Handlers started for one message before the next one only gives up on it. Default: 3. */
  poisonLimit?: number;
  /** Where the lock folder is (for log lines only). */
  lockDir?: string;
}

/** Journals, queues and dispatches messages; see the module doc. */
export class Intake {
  #journal: Journal;
  #turns: IntakeTurns;
  #dispatcher: IntakeDispatcher;
  #authorized: ReadonlySet<number>;
  #poisonLimit: number;
  #lockDir: string;
  /** Journaled and counted as dispatched, to be handed on at the next drain. */
  #ready: JournalEntry[] = [];
  /** Waiting for a slot, in update_id order. */
  #backlog: JournalEntry[] = [];
  #stopping = false;
  #listeners = new Set<() => void>();
  #log = getLog("intake");

  constructor(options: IntakeOptions) {
    const { journal, turns, dispatcher, authorized, poisonLimit = 3, lockDir = "" } = options;
    this.#journal = journal;
    this.#turns = turns;
    this.#dispatcher = dispatcher;
    this.#authorized = authorized;
    this.#poisonLimit = poisonLimit;
    this.#lockDir = lockDir;
  }

  /** Messages waiting for a handler slot. */
  get size(): number {
    return this.#ready.length + this.#backlog.length;
  }

  /** Calls `listener` whenever a message joins the backlog from outside the loop (a requeue). */
  onArrival(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Loads what an earlier run left unfinished, ahead of anything new. A message whose brain was
   * running when that run ended is marked to be answered as a re-run.
   */
  recover(): void {
    const { unfinished, removed, setAside } = this.#journal.recover();
    for (const path of setAside) {
      this.#log.error("corrupt journal entry set aside: {path}", { path });
    }
    if (removed.length > 0) {
      this.#log.info("journal: {n} answered message(s) removed: {ids}", {
        n: removed.length,
        ids: removed.join(", "),
      });
    }
    for (const entry of unfinished) {
      const rerun = entry.rerun || entry.stage === "brain";
      this.#backlog.push(rerun && !entry.rerun ? this.#patch(entry, { rerun: true }) : entry);
    }
    if (unfinished.length > 0) {
      this.#log.info("journal: {n} unfinished message(s) from an earlier run queued: {ids}", {
        n: unfinished.length,
        ids: unfinished.map((e) => e.updateId).join(", "),
      });
    }
  }

  /** Routes one update: authorized messages are journaled and queued; the rest is logged. */
  route(update: unknown): void {
    const route = routeUpdate(update, this.#authorized);
    if (route.kind === "skip") {
      this.#log.info("update {updateId} skipped: {reason}", route);
      return;
    }
    if (route.kind === "unauthorized") {
      this.#log.warn(
        "message from unauthorized user {userId} ignored (chat {chatId}, update {updateId})",
        { ...route, userId: route.userId ?? "unknown" },
      );
      return;
    }
    // Nothing waits and a slot is free (the usual case: the loop fetches no more than it has
    // slots for): the entry is recorded as dispatched already, one durable write instead of two.
    // It is handed on by the next drain(), not here: only once the whole batch is journaled and
    // the loop has written its offset, so that a crash in between can't make Telegram deliver
    // again an update whose handler has already answered and removed it.
    const ready = this.#backlog.length === 0 && this.#ready.length < this.#dispatcher.free;
    const entry = this.#journal.record(update, route, ready ? 1 : 0);
    if (entry === undefined) {
      this.#log.info("update {updateId} is already in the journal; not queued again", route);
      return;
    }
    if (ready) this.#ready.push(entry);
    else this.#insert(entry);
  }

  /** Starts handlers for queued messages, oldest first, while there are free slots. */
  drain(): void {
    while (this.#ready.length > 0 && this.#dispatcher.free > 0) {
      this.#handOn(this.#ready.shift()!);
    }
    while (this.#backlog.length > 0 && this.#dispatcher.free > 0) {
      this.#dispatch(this.#backlog.shift()!);
    }
  }

  /** From now on, handlers that end leave their messages for the next start. */
  stop(): void {
    this.#stopping = true;
  }

  /**
   * Called when a handler exits: frees its turn, and queues its message again if it ended without
   * a final reply (a crash, a kill) while the bot is not stopping.
   */
  handlerExited(child: ChildRecord): void {
    this.#turns.withdraw(child.chatId, child.updateId);
    let entry: JournalEntry | undefined;
    try {
      entry = this.#journal.read(child.updateId);
    } catch (error) {
      this.#log.error("journal entry {updateId} unreadable: {error}", {
        updateId: child.updateId,
        error: String(error),
      });
      return;
    }
    if (entry === undefined) return;
    if (entry.stage === "brain" && entry.brainPid !== undefined) {
      // The handler is gone (crashed, killed): its brain must not live on without it.
      if (killGroup(entry.brainPid, "SIGKILL")) {
        this.#log.warn("stopped the orphaned brain (process group {pid}) of update {updateId}", {
          pid: entry.brainPid,
          updateId: entry.updateId,
        });
      }
    }
    if (entry.stage === "replied") {
      this.#journal.finish(entry.updateId);
      return;
    }
    if (this.#stopping) return;
    const status = child.status?.signal ? `signal ${child.status.signal}` : child.status?.code;
    this.#log.warn(
      "handler for update {updateId} ended without a final reply (exit status {status}); queued again",
      { updateId: entry.updateId, status },
    );
    this.#insert(entry.stage === "brain" ? this.#patch(entry, { rerun: true }) : entry);
    for (const listener of this.#listeners) listener();
  }

  #dispatch(entry: JournalEntry) {
    const giveUp = entry.giveUp || entry.dispatches >= this.#poisonLimit;
    if (giveUp && !entry.giveUp) {
      this.#log.error(
        "update {updateId}: {n} handlers ended without a reply; giving up on it (poison limit)",
        { updateId: entry.updateId, n: entry.dispatches },
      );
    }
    this.#handOn(this.#patch(entry, { dispatches: entry.dispatches + 1, giveUp }));
  }

  /** Takes the turn ticket and starts the handler of an entry already counted as dispatched. */
  #handOn(dispatched: JournalEntry) {
    const { updateId, chatId } = dispatched;
    try {
      // Commands and edits never take a turn: they are answered at once, whatever the brains do.
      if (updateCommand(dispatched.update) === undefined && !isEdit(dispatched.update)) {
        this.#turns.enqueue(chatId, updateId);
      }
    } catch (error) {
      this.#log.warn("cannot take a turn ticket for update {updateId} in {dir}: {error}", {
        updateId,
        dir: this.#lockDir,
        error: String(error),
      });
    }
    try {
      this.#dispatcher.spawn(JSON.stringify(dispatched.update), { updateId, chatId });
    } catch (error) {
      this.#turns.withdraw(chatId, updateId);
      this.#log.error("dispatch crash: update {updateId}, chat {chatId}: {error}", {
        updateId,
        chatId,
        error: String(error),
      });
    }
  }

  #insert(entry: JournalEntry) {
    const at = this.#backlog.findIndex((e) => e.updateId > entry.updateId);
    if (at < 0) this.#backlog.push(entry);
    else this.#backlog.splice(at, 0, entry);
  }

  #patch(entry: JournalEntry, patch: Partial<JournalEntry>): JournalEntry {
    return this.#journal.update(entry.updateId, patch) ?? { ...entry, ...patch };
  }
}
