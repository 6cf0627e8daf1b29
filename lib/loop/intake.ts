/**
 * The poll loop's side of a message's life: journal it, have the desk acknowledge it, keep it
 * waiting in its chat's queue, and start its handler when it can start: its chat has nothing
 * running and a brain slot is free.
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
import type { DeskJob } from "../shared/desk_protocol.ts";
import { type Journal, type JournalEntry, parkedFor } from "../shared/journal.ts";
import { getLog } from "../shared/log.ts";
import { sweep } from "../shared/sweep.ts";
import { routeUpdate, takesTurn } from "../shared/update.ts";

/** What the intake needs of the dispatcher. */
export interface IntakeDispatcher {
  readonly free: number;
  spawn(payload: string, meta: { updateId: number; chatId: number }): ChildRecord;
}

/** What the intake needs of the desk. */
export interface IntakeDesk {
  /** Hands the desk a job; never blocks (jobs wait in memory while no desk is ready). */
  send(job: DeskJob): void;
  /** Resolves once the jobs so far are handed to the desk process. */
  flushed?(): Promise<void>;
}

type DispatchRoute = Extract<ReturnType<typeof routeUpdate>, { kind: "dispatch" }>;

/** Options for {@linkcode Intake}. */
export interface IntakeOptions {
  journal: Journal;
  dispatcher: IntakeDispatcher;
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
}

interface ChatQueue {
  /** Waiting messages, in `update_id` order. */
  waiting: JournalEntry[];
  /** The update id whose handler runs, if any. */
  running?: number;
}

/** Journals, queues and starts messages; see the module doc. */
export class Intake {
  #journal: Journal;
  #dispatcher: IntakeDispatcher;
  #desk: IntakeDesk;
  #authorized: ReadonlySet<number>;
  #allowedChats?: ReadonlySet<number>;
  #botUsername: () => string | undefined;
  #poisonLimit: number;
  #ackWaitMs: number;
  #now: () => number;
  #sweep: (target: { run: string }) => Promise<number[]>;
  #wallNow: () => number;
  #chats = new Map<number, ChatQueue>();
  /** Messages queued again after their handler died: not before this time. */
  #notBefore = new Map<number, number>();
  /** Messages whose 👀 the desk has not reported yet: when it was asked for. */
  #unacked = new Map<number, number>();
  /** Commands, edits and withdrawals the desk has not reported done. */
  #deskJobs = new Set<number>();
  /** Updates `acknowledge()` has sorted, for `route()` to journal. */
  #acknowledged = new WeakMap<object, DispatchRoute | undefined>();
  /** Journaled by `route()`, handed on by the next `release()`. */
  #batch: { entry: JournalEntry; answer: boolean }[] = [];
  #timer?: ReturnType<typeof setTimeout>;
  #stopping = false;
  #log = getLog("intake");

  constructor(options: IntakeOptions) {
    const {
      journal,
      dispatcher,
      desk,
      authorized,
      allowedChats,
      botUsername = () => undefined,
      poisonLimit = 3,
      ackWaitMs = 2000,
      now = () => performance.now(),
      sweep: sweepRun = sweep,
      wallNow = Date.now,
    } = options;
    this.#wallNow = wallNow;
    this.#sweep = sweepRun;
    this.#journal = journal;
    this.#dispatcher = dispatcher;
    this.#desk = desk;
    this.#authorized = authorized;
    this.#allowedChats = allowedChats;
    this.#botUsername = botUsername;
    this.#poisonLimit = poisonLimit;
    this.#ackWaitMs = ackWaitMs;
    this.#now = now;
  }

  /** Journaled messages not finished: waiting, running, or with the desk. */
  get size(): number {
    let n = this.#deskJobs.size + this.#batch.length;
    for (const chat of this.#chats.values()) {
      n += chat.waiting.length + (chat.running === undefined ? 0 : 1);
    }
    return n;
  }

  /** Messages waiting for their turn (not running, not with the desk). */
  get waiting(): number {
    let n = 0;
    for (const chat of this.#chats.values()) n += chat.waiting.length;
    return n;
  }

  /**
   * Loads what an earlier run left unfinished, ahead of anything new: every message waits again
   * (a brain that was running when that run ended is marked to be answered as a re-run) and is
   * acknowledged again; commands and edits go to the desk.
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
      if (isAnswer(entry.update)) {
        this.#toDesk(entry);
        continue;
      }
      // A handler still at work when that run ended was cut off: a crash, a kill, an OOM (a clean
      // stop puts its message back to waiting first). That counts towards the poison limit.
      const cutOff = entry.stage === "started" || entry.stage === "acked" ||
        entry.stage === "brain";
      const waiting = cutOff
        ? this.#patch(entry, {
          stage: "received",
          rerun: entry.rerun || entry.stage === "brain",
          brainPid: undefined,
          brainRun: undefined,
          deaths: (entry.deaths ?? 0) + 1,
          lastEnd: "cut off when the bot stopped unexpectedly",
        })
        : entry;
      this.#ack(waiting.update);
      const parked = parkedFor(waiting, this.#wallNow());
      if (parked !== undefined) this.#notBefore.set(waiting.updateId, this.#now() + parked);
      this.#enqueue(waiting);
    }
    if (unfinished.length > 0) {
      this.#log.info("journal: {n} unfinished message(s) from an earlier run queued: {ids}", {
        n: unfinished.length,
        ids: unfinished.map((e) => e.updateId).join(", "),
      });
    }
  }

  /**
   * Routes one update: an authorized message is acknowledged at once (the desk needs no disk) and
   * journaled; the rest is logged. Throws when the journal can't be written: the caller must then
   * not confirm this update to Telegram. Nothing is handed on until {@linkcode release}.
   */
  route(update: unknown): void {
    const sorted = typeof update === "object" && update !== null &&
      this.#acknowledged.has(update);
    const route = sorted ? this.#acknowledged.get(update as object) : this.#classify(update);
    if (sorted) this.#acknowledged.delete(update as object);
    if (route === undefined) return;
    const answer = isAnswer(update);
    const entry = this.#journal.record(update, route);
    if (entry === undefined) {
      this.#log.info("update {updateId} is already in the journal; not queued again", route);
      return;
    }
    this.#batch.push({ entry, answer });
  }

  /**
   * Sorts one update and asks the desk for its 👀 if it is an authorized message, with no disk on
   * the way: the loop calls this for a whole batch, lets the desk's jobs go out, and only then
   * journals the batch with {@linkcode route}.
   */
  acknowledge(update: unknown): void {
    if (typeof update !== "object" || update === null) return;
    this.#acknowledged.set(update, this.#classify(update));
  }

  /** Resolves once the desk's jobs so far are handed to its process. */
  acksOut(): Promise<void> {
    return this.#desk.flushed?.() ?? Promise.resolve();
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
          ? "message in chat {chatId} ignored: not in COORD_ALLOWED_CHAT_IDS (update {updateId})"
          : "message from unauthorized user {userId} ignored (chat {chatId}, update {updateId})",
        { ...route, userId: route.userId ?? "unknown" },
      );
      return;
    }
    // The 👀 goes before the journal's fsync: Telegram keeps the update until the next getUpdates
    // confirms it, and that waits for the journal.
    if (!isAnswer(update) && !this.#known(route.updateId)) this.#ack(update);
    return route;
  }

  /**
   * Hands on what `route()` journaled: commands and edits to the desk, messages to their chats'
   * queues. Call once the batch is confirmed durable (the offset written), so that a crash in
   * between can't make Telegram deliver again an update that was already answered.
   */
  release(): void {
    const batch = this.#batch;
    this.#batch = [];
    for (const { entry, answer } of batch) {
      if (answer) this.#toDesk(entry);
      else this.#enqueue(entry);
    }
    this.drain();
  }

  /** The desk reported a message's 👀 out: its handler may start. */
  acked(updateId: number): void {
    if (this.#unacked.delete(updateId)) this.drain();
  }

  /** The desk finished a command, an edit or a withdrawal. */
  deskDone(updateId: number): void {
    this.#deskJobs.delete(updateId);
  }

  /**
   * A /cancel asks to withdraw a waiting message. Only the loop knows whether it still waits: if
   * so, it leaves its queue and the desk tells the person; if its handler has started meanwhile,
   * that handler finds the cancel marker and stops instead.
   */
  withdraw(updateId: number): void {
    for (const chat of this.#chats.values()) {
      const at = chat.waiting.findIndex((e) => e.updateId === updateId && e.stage !== "answered");
      if (at < 0) continue;
      const [entry] = chat.waiting.splice(at, 1);
      this.#unacked.delete(updateId);
      this.#deskJobs.add(updateId);
      this.#desk.send({ job: "withdraw", update: entry.update });
      this.#log.info("update {updateId} withdrawn by /cancel before it started", { updateId });
      return;
    }
    this.#log.info("update {updateId} not withdrawn: it no longer waits", { updateId });
  }

  /** Starts handlers for waiting messages while slots are free, oldest first. */
  drain(): void {
    if (this.#stopping) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#dispatcher.free > 0) {
      const next = this.#nextToStart();
      if (next === undefined) break;
      this.#start(next);
    }
    this.#wakeForSlowAcks();
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
    const chat = this.#chats.get(child.chatId);
    if (chat?.running === child.updateId) chat.running = undefined;
    try {
      this.#settle(child);
    } finally {
      if (chat !== undefined && chat.running === undefined && chat.waiting.length === 0) {
        this.#chats.delete(child.chatId);
      }
      this.drain();
    }
  }

  #settle(child: ChildRecord) {
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
    if (entry.brainRun !== undefined) {
      // The handler is gone (crashed, killed): its brain must not live on without it.
      const { brainRun: run, updateId } = entry;
      this.#sweep({ run }).then((killed) => {
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
    if (entry.stage === "replied") {
      this.#journal.finish(entry.updateId);
      return;
    }
    const parked = parkedFor(entry, this.#wallNow());
    if (parked !== undefined && entry.stage === "received") {
      // Its brain asked to be run later: not a death; it waits at its chat's head until then.
      if (this.#stopping) return;
      this.#notBefore.set(entry.updateId, this.#now() + parked);
      this.#enqueue(entry);
      return;
    }
    const waiting: Partial<JournalEntry> = entry.stage === "answered"
      ? { brainPid: undefined, brainRun: undefined }
      : {
        stage: "received",
        rerun: entry.rerun || entry.stage === "brain",
        brainPid: undefined,
        brainRun: undefined,
      };
    if (this.#stopping) {
      // Stopped by us: not a death. It waits for the next start, as it stands.
      this.#patch(entry, waiting);
      return;
    }
    const end = describeEnd(child.status);
    const deaths = (entry.deaths ?? 0) + 1;
    const delayMs = Math.min(REQUEUE_MAX_MS, REQUEUE_BASE_MS * 2 ** (deaths - 1));
    this.#log.warn(
      "handler for update {updateId} ended without a final reply ({end}); queued again in {seconds} s",
      { updateId: entry.updateId, end, seconds: delayMs / 1000 },
    );
    // It keeps its 👀: no new acknowledgement. It waits a moment: whatever killed its handler may
    // still be at work.
    this.#notBefore.set(entry.updateId, this.#now() + delayMs);
    this.#enqueue(this.#patch(entry, { ...waiting, deaths, lastEnd: end }));
  }

  #nextToStart(): JournalEntry | undefined {
    let best: JournalEntry | undefined;
    for (const chat of this.#chats.values()) {
      const head = chat.waiting[0];
      if (chat.running !== undefined || head === undefined || !this.#ackedOrLate(head)) continue;
      if (best === undefined || head.updateId < best.updateId) best = head;
    }
    return best;
  }

  #ackedOrLate(entry: JournalEntry): boolean {
    return this.#readyAt(entry) <= this.#now();
  }

  /** When a waiting message may start: once its 👀 is out (or late), and its back-off is over. */
  #readyAt(entry: JournalEntry): number {
    const askedAt = this.#unacked.get(entry.updateId);
    const acked = askedAt === undefined ? -Infinity : askedAt + this.#ackWaitMs;
    return Math.max(acked, this.#notBefore.get(entry.updateId) ?? -Infinity);
  }

  /** A chat held back by a slow 👀 or a back-off is looked at again when that runs out. */
  #wakeForSlowAcks() {
    if (this.#dispatcher.free === 0) return;
    let soonest = Infinity;
    for (const chat of this.#chats.values()) {
      const head = chat.waiting[0];
      if (chat.running === undefined && head !== undefined) {
        soonest = Math.min(soonest, this.#readyAt(head) - this.#now());
      }
    }
    if (soonest === Infinity) return;
    this.#timer = setTimeout(() => this.drain(), Math.max(0, soonest) + 1);
  }

  #start(entry: JournalEntry) {
    const { updateId, chatId } = entry;
    const chat = this.#chats.get(chatId)!;
    chat.waiting.shift();
    this.#unacked.delete(updateId);
    this.#notBefore.delete(updateId);
    const answered = entry.stage === "answered";
    const giveUp = !answered && (entry.giveUp || (entry.deaths ?? 0) >= this.#poisonLimit);
    if (giveUp && !entry.giveUp) {
      this.#log.error(
        "update {updateId}: {n} handlers died without a reply; giving up on it (poison limit)",
        { updateId, n: entry.deaths },
      );
    }
    const started = this.#patch(entry, {
      // An answered message keeps its stage: its handler only sends the journaled answer.
      stage: answered ? "answered" : "started",
      startedAt: new Date().toISOString(),
      dispatches: entry.dispatches + 1,
      giveUp,
      // A re-run waits for its turn again: edits may reach it until it has it.
      turnAt: undefined,
    });
    try {
      this.#dispatcher.spawn(JSON.stringify(started.update), { updateId, chatId });
      chat.running = updateId;
    } catch (error) {
      this.#log.error("dispatch crash: update {updateId}, chat {chatId}: {error}", {
        updateId,
        chatId,
        error: String(error),
      });
      // Tried again after a pause: a spawn that keeps failing must not spin the loop.
      this.#notBefore.set(updateId, this.#now() + SPAWN_RETRY_MS);
      this.#enqueue(this.#patch(started, { stage: answered ? "answered" : "received" }));
    }
  }

  #enqueue(entry: JournalEntry) {
    let chat = this.#chats.get(entry.chatId);
    if (chat === undefined) this.#chats.set(entry.chatId, chat = { waiting: [] });
    const at = chat.waiting.findIndex((e) => e.updateId > entry.updateId);
    if (at < 0) chat.waiting.push(entry);
    else chat.waiting.splice(at, 0, entry);
  }

  #toDesk(entry: JournalEntry) {
    this.#deskJobs.add(entry.updateId);
    this.#desk.send({ job: "answer", update: entry.update });
  }

  #ack(update: unknown) {
    const updateId = (update as { update_id: number }).update_id;
    this.#unacked.set(updateId, this.#now());
    this.#desk.send({ job: "ack", update });
  }

  /** True when this run already has the update (Telegram delivered it again). */
  #known(updateId: number): boolean {
    if (this.#deskJobs.has(updateId)) return true;
    if (this.#batch.some(({ entry }) => entry.updateId === updateId)) return true;
    for (const chat of this.#chats.values()) {
      if (chat.running === updateId || chat.waiting.some((e) => e.updateId === updateId)) {
        return true;
      }
    }
    return false;
  }

  #patch(entry: JournalEntry, patch: Partial<JournalEntry>): JournalEntry {
    try {
      return this.#journal.update(entry.updateId, patch) ?? { ...entry, ...patch };
    } catch (error) {
      // The message goes on from memory; at worst a restart finds it one stage behind.
      this.#log.error("journal: cannot update entry {updateId}: {error}", {
        updateId: entry.updateId,
        error: String(error),
      });
      return { ...entry, ...patch };
    }
  }
}

/** The wait before a message whose handler could not be spawned is tried again. */
const SPAWN_RETRY_MS = 2000;

/** The first wait before a message whose handler died starts again; it doubles with each death. */
const REQUEUE_BASE_MS = 1000;
const REQUEUE_MAX_MS = 60_000;

/** How a handler ended, for the log and the give-up text. */
function describeEnd(status: Deno.CommandStatus | undefined): string {
  if (status?.signal) return `killed by ${status.signal}`;
  return status === undefined ? "ended" : `exit status ${status.code}`;
}

/** Commands, edits and Stop presses: the desk answers them at once; they never take a turn. */
function isAnswer(update: unknown): boolean {
  return !takesTurn(update);
}
