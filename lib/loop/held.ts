/**
 * A message as the scheduler holds it in memory (the truth, of which the journal is a copy): how
 * an update becomes one ({@linkcode admit}), how an earlier run's are found again
 * ({@linkcode recoverHeld}), what `/status` is told of a chat's messages ({@linkcode viewOf}), and
 * all of them with their copy on disk ({@linkcode HeldMessages}).
 *
 * @module
 */

import type { ChildRecord } from "./dispatch.ts";
import type { Disk } from "./disk.ts";
import type { FinishedUpdates } from "./finished_updates.ts";
import { afterCutOff } from "./decide.ts";
import type { Journal } from "../shared/journal.ts";
import { type JournalEntry, patched, SPOOL_ID_BASE } from "../shared/journal_entry.ts";
import type { StatusView } from "../shared/line.ts";
import type { Logger } from "../shared/log.ts";
import { routeUpdate, takesTurn } from "../shared/update_route.ts";

/** One update the scheduler holds, from when it is taken until it is finished. */
export interface Held {
  /** Its entry as it stands (its handler's reports applied). */
  entry: JournalEntry;
  /** A message that takes its chat's turn and goes to a brain (else the desk's: a command...). */
  readonly turn: boolean;
  /** Written to the journal (else it waits in memory for the disk, not confirmed to Telegram). */
  journaled: boolean;
  /** Handed on: a desk update to the desk (once, journaled or not). */
  released?: boolean;
  /** Its handler, while one runs. */
  child?: ChildRecord;
  /** Its handler reported it finished. */
  finished?: boolean;
  /**
   * Corrected at start (its handler was cut off when an earlier run ended, or its steer did not
   * agree with its host's): its entry is saved as corrected.
   */
  corrected?: boolean;
}

/** A new held update (a job from the box takes its chat's turn like a message). */
export function heldFor(entry: JournalEntry, state: { journaled: boolean }): Held {
  const turn = entry.spool !== undefined || takesTurn(entry.update);
  return { entry, turn, journaled: state.journaled };
}

/** What `/status` says of the jobs from the box not finished, and of the files not yet sent. */
export function boxView(held: readonly Held[]): NonNullable<StatusView["box"]> {
  let jobs = 0;
  let files = 0;
  for (const { entry } of held) {
    if (entry.spool !== undefined) jobs++;
    const answer = entry.stage === "answered" ? entry.answer : undefined;
    files += (answer?.files?.length ?? 0) - (answer?.filesSent ?? 0);
  }
  return { jobs, files };
}

/** What `/status` says of one chat's messages and of the waiting in all chats. */
export function viewOf(
  held: readonly Held[],
  chatId: number,
): Pick<StatusView, "running" | "waiting" | "waitingInAll" | "delivering" | "parked"> {
  const messages = held.filter((h) =>
    h.turn && !h.entry.withdrawn && !h.finished && h.entry.stage !== "replied" &&
    h.entry.steeredInto === undefined
  );
  const mine = messages.filter((h) => h.entry.chatId === chatId);
  const waits = (h: Held) => h.child === undefined && h.entry.stage !== "answered";
  return {
    running: mine.find((h) => h.child !== undefined && h.entry.stage !== "answered")?.entry,
    waiting: mine.filter(waits).length,
    waitingInAll: messages.filter(waits).length,
    delivering:
      mine.filter((h) => h.entry.stage === "answered" && h.entry.answer?.heldUpSince !== undefined)
        .length,
    parked: mine.find((h) => h.child === undefined && h.entry.parkedUntil !== undefined)?.entry,
  };
}

/** Options for {@linkcode admit}. */
export interface AdmitOptions {
  /** Telegram user ids whose updates are taken. Required. */
  authorized: ReadonlySet<number>;
  /** `COORD_ALLOWED_CHAT_IDS`. Default: any chat. */
  allowedChats?: ReadonlySet<number>;
  /** The bot's username, when known. Default: unknown. */
  botUsername?: string;
  /** The wall clock now, ms since the epoch (its `receivedAt`). Required. */
  wallNow: number;
  /** Where skipped and refused updates are logged. Required. */
  log: Logger;
}

/**
 * The entry a new update becomes (`update_route.ts` decides), or `undefined` when it is skipped
 * (logged: another kind, a malformed one, a stranger's, a chat not allowed).
 */
export function admit(update: unknown, options: AdmitOptions): JournalEntry | undefined {
  const { authorized, allowedChats, botUsername, wallNow, log } = options;
  const route = routeUpdate(update, authorized, { allowedChats, botUsername });
  if (route.kind === "skip") {
    log.info("update {updateId} skipped: {reason}", route);
    return undefined;
  }
  if (route.kind === "unauthorized") {
    log.warn(
      route.reason === "chat"
        ? "message in group {chatId} ignored: groups are opt-in and it is not in COORD_ALLOWED_CHAT_IDS (update {updateId})"
        : "message from unauthorized user {userId} ignored (chat {chatId}, update {updateId})",
      { ...route, userId: route.userId ?? "unknown" },
    );
    return undefined;
  }
  const { updateId, chatId } = route;
  if (updateId >= SPOOL_ID_BASE) {
    // Never one of Telegram's so far: taking it could mistake it for a job from the box.
    log.error("update {updateId} refused: ids from {base} up are the spool's", {
      updateId,
      base: SPOOL_ID_BASE,
    });
    return undefined;
  }
  const receivedAt = new Date(wallNow).toISOString();
  return { updateId, chatId, update, stage: "received", dispatches: 0, receivedAt };
}

/** What an earlier run left: its unfinished updates, and the messages of entries found cut. */
export interface Recovered {
  /**
   * In `update_id` order; those cut off are patched back to waiting, and steered messages made to
   * agree with their hosts' entries (both `corrected`).
   */
  held: Held[];
  /** Messages whose entries could not be read: their person is told to send them again. */
  lost: { updateId: number; chatId: number; messageId: number }[];
  /** Messages found answered (their entries removed). */
  removed: number[];
}

/** Reads what an earlier run left in the journal (see `Journal.recover`), and logs it. */
export function recoverHeld(journal: Journal, log: Logger): Recovered {
  const { unfinished, removed, setAside } = journal.recover();
  const lost: Recovered["lost"] = [];
  for (const cut of setAside) {
    log.error("corrupt journal entry set aside: {path}", { ...cut });
    const { updateId, chatId, messageId } = cut;
    if (chatId !== undefined && messageId !== undefined) lost.push({ updateId, chatId, messageId });
  }
  if (removed.length > 0) {
    log.info("journal: {n} answered message(s) removed: {ids}", {
      n: removed.length,
      ids: removed.join(", "),
    });
  }
  if (unfinished.length > 0) {
    log.info("journal: {n} unfinished message(s) from an earlier run queued: {ids}", {
      n: unfinished.length,
      ids: unfinished.map((e) => e.updateId).join(", "),
    });
  }
  const held = unfinished.map((entry) => {
    const cutOff = afterCutOff(entry);
    if (cutOff === undefined) return heldFor(entry, { journaled: true });
    return { ...heldFor(patched(entry, cutOff), { journaled: true }), corrected: true };
  });
  agreeOnSteers(held, { lost: new Set(lost.map((l) => l.updateId)), log });
  return { held, lost, removed };
}

/**
 * Makes each steered message agree with its host's entry, which says what went into its turn
 * (`steers`: a re-run takes them in again). The handler records a steer there before the poll
 * process marks the message, and takes one back in the same order: a run cut off in between
 * leaves them apart. Unmarked but listed, the message would be answered twice; marked but not
 * listed, never (its host's re-run leaves it out, and the host's end finishes it). A message
 * steered into a host already finished was answered with it, and is left as it is; one steered into
 * a host whose entry was `lost` (cut: its person is told to send it again) waits its own turn.
 */
function agreeOnSteers(held: Held[], options: { lost: ReadonlySet<number>; log: Logger }): void {
  const { lost, log } = options;
  const byId = new Map(held.map((h) => [h.entry.updateId, h]));
  const correct = (item: Held, host: number, steered: boolean) => {
    log.info(
      steered
        ? "update {updateId} went into the turn of update {host}, as its entry says"
        : "update {updateId} did not go into the turn of update {host}: it waits its own",
      { updateId: item.entry.updateId, host },
    );
    item.entry = patched(item.entry, { steeredInto: steered ? host : undefined });
    item.corrected = true;
  };
  for (const host of held) {
    for (const { updateId } of host.entry.steers ?? []) {
      const item = byId.get(updateId);
      // Only one that never ran on its own: a steer is recorded before it could.
      if (item?.entry.stage === "received" && item.entry.steeredInto === undefined) {
        correct(item, host.entry.updateId, true);
      }
    }
  }
  for (const item of held) {
    const hostId = item.entry.steeredInto;
    if (hostId === undefined) continue;
    const host = byId.get(hostId);
    const listed = host?.entry.steers?.some((s) => s.updateId === item.entry.updateId);
    if (host !== undefined ? !listed : lost.has(hostId)) correct(item, hostId, false);
  }
}

/** Options for {@linkcode HeldMessages}. */
export interface HeldMessagesOptions {
  /** The journal's writes (`disk.ts`). Required. */
  disk: Pick<Disk, "save" | "remove">;
  /** Finished messages' update ids (`finished_updates.ts`). Default: none kept. */
  finished?: Pick<FinishedUpdates, "add">;
}

/** The updates the scheduler holds, by update id, and their copy on disk, in one place. */
export class HeldMessages {
  #byId = new Map<number, Held>();
  #disk: HeldMessagesOptions["disk"];
  #finished?: HeldMessagesOptions["finished"];

  constructor(options: HeldMessagesOptions) {
    this.#disk = options.disk;
    this.#finished = options.finished;
  }

  /** How many are held (the loop's backlog). */
  get size(): number {
    return this.#byId.size;
  }

  get(updateId: number): Held | undefined {
    return this.#byId.get(updateId);
  }

  /** Holds an update from now on. */
  hold(held: Held): void {
    this.#byId.set(held.entry.updateId, held);
  }

  /** Every update held. */
  all(): Held[] {
    return [...this.#byId.values()];
  }

  /** The entry as held, to disk (now, or when the disk lets), once it was journaled at all. */
  save(held: Held): void {
    if (held.journaled) this.#disk.save(held.entry);
  }

  /**
   * An update is done: forgotten here, remembered as finished, its entry removed from disk; so are
   * the messages steered into it, however it ended (answered with it, withdrawn, given up).
   */
  finish(held: Held): void {
    const { updateId } = held.entry;
    this.#byId.delete(updateId);
    this.#finished?.add(updateId);
    if (held.journaled) this.#disk.remove(updateId);
    for (const steered of this.steeredInto(updateId)) this.finish(steered);
  }

  /** The messages marked as steered into `updateId`. */
  steeredInto(updateId: number): Held[] {
    return this.all().filter((h) => h.entry.steeredInto === updateId);
  }

  /** A chat's messages that take turns, not withdrawn nor delivered, oldest first. */
  chatMessages(chatId: number): Held[] {
    return this.all()
      .filter((h) =>
        h.turn && h.entry.chatId === chatId && !h.entry.withdrawn && !h.finished &&
        h.entry.stage !== "replied" && h.entry.steeredInto === undefined
      )
      .sort((a, b) => a.entry.updateId - b.entry.updateId);
  }

  /** A chat's message being worked on: its handler runs, its answer not decided yet. */
  working(chatId: number): Held | undefined {
    return this.chatMessages(chatId).find((h) =>
      h.child !== undefined && h.entry.stage !== "answered"
    );
  }
}
