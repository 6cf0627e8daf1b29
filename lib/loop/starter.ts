/**
 * Starting and ending message handlers: while a brain slot is free, the next message that may
 * start (`chat_queues.ts`) gets its handler; when a handler exits, its message is finished,
 * parked, left for the next start, or queued again (`handler_end.ts`). A message whose handlers
 * keep dying is given up after the poison limit: its next handler only says so.
 *
 * @module
 */

import type { ChildRecord } from "./dispatch.ts";
import type { ChatQueues } from "./chat_queues.ts";
import { afterHandler } from "./handler_end.ts";
import type { Journal } from "../shared/journal.ts";
import type { JournalEntry } from "../shared/journal_entry.ts";
import { type EntryPatcher, entryPatcher } from "../shared/journal_record.ts";
import { getLog } from "../shared/log.ts";

/** What the starter needs of the dispatcher. */
export interface StarterDispatcher {
  readonly free: number;
  spawn(payload: string, meta: { updateId: number; chatId: number }): ChildRecord;
}

/** Options for {@linkcode Starter}. */
export interface StarterOptions {
  journal: Journal;
  dispatcher: StarterDispatcher;
  queues: ChatQueues;
  /** Handlers whose deaths before a final reply give up on a message. */
  poisonLimit: number;
  /** Kills the processes of a brain attempt by its marker. */
  sweep: (target: { run: string }) => Promise<number[]>;
  /** The wall clock, ms since the epoch (for parked messages). */
  wallNow: () => number;
  /** Told of each message found finished when its handler exits. Default: nobody. */
  onFinished?: (updateId: number) => void;
}

/** The wait before a message whose handler could not be spawned is tried again. */
const SPAWN_RETRY_MS = 2000;

/** Starts and settles handlers; see the module doc. */
export class Starter {
  #options: StarterOptions;
  #queues: ChatQueues;
  #timer?: ReturnType<typeof setTimeout>;
  #stopping = false;
  #log = getLog("intake");
  #patch: EntryPatcher;

  constructor(options: StarterOptions) {
    this.#options = options;
    this.#queues = options.queues;
    this.#patch = entryPatcher(options.journal, this.#log);
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
      this.#start(next);
    }
    // A chat held back by a slow 👀 or a back-off is looked at again when that runs out.
    const readyIn = dispatcher.free > 0 ? this.#queues.nextReadyIn() : undefined;
    if (readyIn !== undefined) this.#timer = setTimeout(() => this.drain(), readyIn + 1);
  }

  /** From now on, nothing starts, and handlers that end leave their messages for the next start. */
  stop(): void {
    this.#stopping = true;
    clearTimeout(this.#timer);
  }

  /**
   * Called when a handler exits: frees its chat, and queues its message again if it ended without
   * a final reply (a crash, a kill) while the bot is not stopping.
   */
  handlerExited(child: ChildRecord): void {
    this.#queues.ended(child.chatId, child.updateId);
    try {
      this.#settle(child);
    } finally {
      this.drain();
    }
  }

  #settle(child: ChildRecord) {
    const { journal } = this.#options;
    let entry: JournalEntry | undefined;
    try {
      entry = journal.read(child.updateId);
    } catch (error) {
      this.#log.error("journal entry {updateId} unreadable: {error}", {
        updateId: child.updateId,
        error: String(error),
      });
      return;
    }
    // Its handler removed the entry: the message is finished.
    if (entry === undefined) return this.#options.onFinished?.(child.updateId);
    // The handler is gone (crashed, killed): its brain must not live on without it.
    if (entry.brainRun !== undefined) this.#stopOrphan(entry.updateId, entry.brainRun);
    const end = afterHandler(entry, {
      status: child.status,
      stopping: this.#stopping,
      wallNow: this.#options.wallNow(),
    });
    switch (end.kind) {
      case "finished":
        journal.finish(entry.updateId);
        this.#options.onFinished?.(entry.updateId);
        return;
      case "parked":
        this.#queues.holdBack(entry.updateId, end.waitMs);
        this.#queues.enqueue(entry);
        return;
      case "left":
        if (end.patch) this.#patch(entry, end.patch);
        return;
      case "died":
        this.#log.warn(
          "handler for update {updateId} ended without a final reply ({end}); queued again in {seconds} s",
          { updateId: entry.updateId, end: end.end, seconds: end.waitMs / 1000 },
        );
        // It keeps its 👀: no new acknowledgement. It waits a moment: whatever killed its handler
        // may still be at work.
        this.#queues.holdBack(entry.updateId, end.waitMs);
        this.#queues.enqueue(this.#patch(entry, end.patch));
    }
  }

  #stopOrphan(updateId: number, run: string) {
    this.#options.sweep({ run }).then((killed) => {
      if (killed.length > 0) {
        this.#log.warn("stopped the orphaned brain of update {updateId}: pids {pids}", {
          updateId,
          pids: killed.join(", "),
        });
      }
    }, (error) => {
      this.#log.error("cannot stop the orphaned brain of update {updateId}: {error}", {
        updateId,
        error: String(error),
      });
    });
  }

  #start(entry: JournalEntry) {
    const { updateId, chatId } = entry;
    const { dispatcher, poisonLimit } = this.#options;
    const answered = entry.stage === "answered";
    const giveUp = !answered && (entry.giveUp || (entry.deaths ?? 0) >= poisonLimit);
    if (giveUp && !entry.giveUp) {
      this.#log.error(
        "update {updateId}: {n} handlers died without a reply; giving up on it (poison limit)",
        { updateId, n: entry.deaths },
      );
    }
    const started = this.#patch(entry, {
      // An answered message keeps its stage: its handler only sends the journaled answer.
      stage: answered ? "answered" : "started",
      startedAt: new Date(this.#options.wallNow()).toISOString(),
      dispatches: entry.dispatches + 1,
      giveUp,
      // A re-run waits for its turn again: edits may reach it until it has it.
      turnAt: undefined,
    });
    try {
      dispatcher.spawn(JSON.stringify(started.update), { updateId, chatId });
      this.#queues.running(started);
    } catch (error) {
      this.#log.error("dispatch crash: update {updateId}, chat {chatId}: {error}", {
        updateId,
        chatId,
        error: String(error),
      });
      // Tried again after a pause: a spawn that keeps failing must not spin the loop.
      this.#queues.holdBack(updateId, SPAWN_RETRY_MS);
      const stage = answered ? "answered" : "received";
      this.#queues.enqueue(this.#patch(started, { stage }));
    }
  }
}
