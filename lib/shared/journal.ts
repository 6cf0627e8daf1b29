/**
 * The journal: every authorized message, written durably before Telegram is told it was received,
 * and removed only once its final reply (answer or ⚠️) has been sent.
 *
 * Telegram forgets an update as soon as the next `getUpdates` confirms it. Without this, a restart
 * or crash while a brain runs loses that message for good: the person sees 👀 and then nothing.
 *
 * Plain files, one per message (`<state dir>/journal/<update_id>.json`), each replaced atomically:
 * written to a temporary file, fsynced, renamed over the old one, and the folder fsynced. Plain
 * files because an entry has one writer at a time, a crash can at worst leave a temporary file
 * beside an intact entry, and a person can read and repair the journal with `ls` and `cat`. An
 * embedded database would add a dependency and a lock between processes to get the same.
 *
 * Who writes an entry, and when (the others only read it):
 *
 * | process | writes | when |
 * | --- | --- | --- |
 * | poll loop | the entry (`received`), `startedAt`, `dispatches`, `stage: "started"` | on arrival; as it starts the handler |
 * | poll loop | `stage: "received"`, `rerun`, `deaths`, `lastEnd`; removes a `replied` one | after that handler has exited; at start-up |
 * | message handler | `turnAt`, `stage: "brain"`, `attempt`, `brainStartedAt`, `brainPid`, `brainRun`, `parkedUntil`, `parkNotified` | while the loop waits for it to exit |
 * | message handler | `stage: "answered"` and `answer` (the outbox), `stage: "replied"`; removes it | at its end |
 * | desk | removes the entry of a command, an edit, a Stop press or a withdrawn message | handed over by the loop, which then leaves it alone |
 *
 * Readers: the desk reads every entry for `/status`, `/cancel` and edits (`turnAt`, `stage`,
 * `brainPid`), never writing them; an edit's or cancel's answer goes through marker files the
 * message's handler takes (`edits.ts`, `cancel.ts`), so no entry ever has two writers at once and
 * `update` needs no lock.
 *
 * @module
 */

import type { Logger } from "./log.ts";

/** How far a message got. */
export type Stage =
  /**
   * Written by the poll loop before the update is confirmed to Telegram, and again when a message
   * goes back to waiting (its handler died, or the bot restarted): it waits for its chat's turn.
   */
  | "received"
  /** The poll loop started its handler: it is the chat's running message. */
  | "started"
  /** Written by bots before the front desk; read as "started". */
  | "acked"
  /** The handler started brain attempt `attempt`. */
  | "brain"
  /**
   * The final reply (`answer`) is decided and durable; only sending it is left. The brain never
   * runs again for this message, across crashes and restarts.
   */
  | "answered"
  /** The final reply was sent; only removing the entry is left. */
  | "replied";

/** A message's final reply, journaled before it is sent (the outbox). */
export interface Outgoing {
  /** Our notes above the answer (re-run, wait, resume), "" when none. */
  head: string;
  /** The answer (the brain's reply, or our ⚠️/🛑/🚫 text). */
  body: string;
  /** The reaction set once it is delivered. */
  emoji: string;
  /** Messages of it already sent (a restart goes on with the next). */
  sent: number;
  /** The whole answer also went as a document. */
  documentSent?: boolean;
  /** Since when its delivery has been held up (Telegram or the network failing), if it has. */
  heldUpSince?: string;
}

/** True for a message whose handler is (or was, before a crash) working on it. */
export function isRunning(entry: JournalEntry): boolean {
  return entry.stage === "started" || entry.stage === "acked" || entry.stage === "brain";
}

/** One message in the journal. */
export interface JournalEntry {
  updateId: number;
  chatId: number;
  /** The update as Telegram sent it. */
  update: unknown;
  stage: Stage;
  /** The brain attempt under way, once `stage` is "brain". */
  attempt?: number;
  /**
   * The process group of the brain attempt under way, for `/cancel` to signal at once; removed
   * when the attempt ends.
   */
  brainPid?: number;
  /**
   * The marker (`COORD_BRAIN_RUN`) of the brain attempt under way: if its handler dies, the loop
   * sweeps every process carrying it. A marker, unlike a pid, can't be reused by another process.
   */
  brainRun?: string;
  /**
   * When its handler took the chat's turn (ISO 8601), before it looked for an edit: an edit that
   * comes later is too late for the brain. Cleared at each acknowledgement (a re-run waits again).
   */
  turnAt?: string;
  /** When the poll loop last started its handler (ISO 8601): its wait for its turn ended then. */
  startedAt?: string;
  /** When its first brain attempt started (ISO 8601). */
  brainStartedAt?: string;
  /** How many handlers have been started for it (across restarts). */
  dispatches: number;
  /**
   * How many of its handlers died without a final reply (crashed, killed, or cut off by a restart
   * while they worked): the poison limit counts these, never outages, which handlers wait out.
   */
  deaths?: number;
  /** How the last of those ended ("killed by SIGKILL", "exit status 1", "cut off by a restart"). */
  lastEnd?: string;
  /** Its final reply, once decided (stage "answered"). */
  answer?: Outgoing;
  /**
   * Its brain asked to be run again later (a usage limit, or exit 75): it waits until then (ISO
   * 8601), and its chat's later messages wait behind it.
   */
  parkedUntil?: string;
  /** The person was told it waits (once per message). */
  parkNotified?: boolean;
  /** Its brain was cut off by a restart or crash: the reply must say it was run again. */
  rerun?: boolean;
  /** Handlers were started for it too often: the next one only says so and finishes it. */
  giveUp?: boolean;
  /** When the poll loop received it (ISO 8601). */
  receivedAt: string;
}

/** What {@linkcode Journal.recover} found. */
export interface Recovery {
  /** Unfinished entries, in `update_id` order. */
  unfinished: JournalEntry[];
  /** Entries whose reply had been sent; now removed. */
  removed: number[];
  /** Files that were not valid entries, moved to the `corrupt/` folder (their new paths). */
  setAside: string[];
}

/** Options for {@linkcode Journal}. */
export interface JournalOptions {
  /** fsync files and the folder on every write. Default: true. */
  durable?: boolean;
  /** The clock. Default: `Date.now`. */
  now?: () => number;
}

const ENTRY = /^(\d+)\.json$/;

/** The journal folder. Methods are synchronous: each is a few syscalls, about 1 ms when durable. */
export class Journal {
  readonly dir: string;
  #durable: boolean;
  #now: () => number;

  constructor(dir: string, options: JournalOptions = {}) {
    const { durable = true, now = Date.now } = options;
    this.dir = dir;
    this.#durable = durable;
    this.#now = now;
  }

  /** Creates the folder if needed; throws when it can't be created. */
  open(): void {
    Deno.mkdirSync(this.dir, { recursive: true });
  }

  /**
   * Records a new message (`dispatches`: handlers already counted for it, when it is recorded as it
   * is handed on). Returns the entry, or `undefined` when that update is already in the journal
   * (Telegram delivered it again).
   */
  record(
    update: unknown,
    ids: { updateId: number; chatId: number },
    dispatches = 0,
  ): JournalEntry | undefined {
    if (this.read(ids.updateId) !== undefined) return undefined;
    const entry: JournalEntry = {
      updateId: ids.updateId,
      chatId: ids.chatId,
      update,
      stage: "received",
      dispatches,
      receivedAt: new Date(this.#now()).toISOString(),
    };
    this.#write(entry);
    return entry;
  }

  /** Reads an entry; `undefined` when there is none. Throws `SyntaxError` for a corrupt one. */
  read(updateId: number): JournalEntry | undefined {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.#path(updateId));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    return parseEntry(text, updateId);
  }

  /** Changes an entry; returns it, or `undefined` when it is gone (finished by someone else). */
  update(
    updateId: number,
    patch: Partial<Omit<JournalEntry, "updateId">>,
  ): JournalEntry | undefined {
    const entry = this.read(updateId);
    if (entry === undefined) return undefined;
    const next = { ...entry, ...patch, updateId };
    this.#write(next);
    return next;
  }

  /** Removes a finished message. */
  finish(updateId: number): void {
    try {
      Deno.removeSync(this.#path(updateId));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    this.#syncDir();
  }

  /**
   * Every valid entry, in `update_id` order, without changing anything (for `/status` and
   * `/cancel`, from a handler). Unreadable files are skipped.
   */
  list(): JournalEntry[] {
    const entries: JournalEntry[] = [];
    for (const item of Deno.readDirSync(this.dir)) {
      const match = item.isFile ? item.name.match(ENTRY) : null;
      if (!match) continue;
      try {
        const entry = this.read(Number(match[1]));
        if (entry !== undefined) entries.push(entry);
      } catch {
        // Corrupt, or replaced while we read: not ours to judge here.
      }
    }
    return entries.sort((a, b) => a.updateId - b.updateId);
  }

  /**
   * Reads the whole journal at start: removes entries whose reply was sent, sets aside anything
   * that is not a valid entry (half-written temporary files included), and returns the rest in
   * `update_id` order.
   */
  recover(): Recovery {
    const unfinished: JournalEntry[] = [];
    const removed: number[] = [];
    const setAside: string[] = [];
    for (const item of Deno.readDirSync(this.dir)) {
      if (!item.isFile) continue;
      const match = item.name.match(ENTRY);
      let entry: JournalEntry | undefined;
      if (match) {
        try {
          entry = this.read(Number(match[1]));
        } catch {
          entry = undefined;
        }
      }
      if (entry === undefined) {
        if (item.name === OFFSET_FILE) continue;
        setAside.push(this.#setAside(item.name));
      } else if (entry.stage === "replied") {
        this.finish(entry.updateId);
        removed.push(entry.updateId);
      } else {
        unfinished.push(entry);
      }
    }
    unfinished.sort((a, b) => a.updateId - b.updateId);
    removed.sort((a, b) => a - b);
    return { unfinished, removed, setAside };
  }

  /** The first `getUpdates` offset not yet confirmed by an earlier run, or 0. */
  readOffset(): number {
    try {
      const n = Number(Deno.readTextFileSync(`${this.dir}/${OFFSET_FILE}`).trim());
      return Number.isSafeInteger(n) && n >= 0 ? n : 0;
    } catch {
      return 0;
    }
  }

  /**
   * Remembers the offset that confirms everything journaled so far, so that a restart asks for no
   * update twice. Not fsynced: it is written once per batch, on the poll loop's path, and losing it
   * to a power cut costs at most a redelivery, which the journal's entries mostly catch anyway.
   */
  writeOffset(offset: number): void {
    this.#writeFile(OFFSET_FILE, `${offset}\n`, false);
  }

  #path(updateId: number): string {
    return `${this.dir}/${updateId}.json`;
  }

  #write(entry: JournalEntry) {
    this.#writeFile(`${entry.updateId}.json`, JSON.stringify(entry) + "\n");
  }

  #writeFile(name: string, text: string, durable = this.#durable) {
    const tmp = `${this.dir}/${name}.tmp-${Deno.pid}`;
    const file = Deno.openSync(tmp, { write: true, create: true, truncate: true });
    try {
      const bytes = new TextEncoder().encode(text);
      let written = 0;
      while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
      if (durable) file.syncSync();
    } finally {
      file.close();
    }
    Deno.renameSync(tmp, `${this.dir}/${name}`);
    if (durable) this.#syncDir();
  }

  #syncDir() {
    if (!this.#durable) return;
    const dir = Deno.openSync(this.dir, { read: true });
    try {
      dir.syncSync();
    } finally {
      dir.close();
    }
  }

  #setAside(name: string): string {
    const corrupt = `${this.dir}/corrupt`;
    Deno.mkdirSync(corrupt, { recursive: true });
    const target = `${corrupt}/${new Date(this.#now()).toISOString().replaceAll(":", "")}-${name}`;
    Deno.renameSync(`${this.dir}/${name}`, target);
    return target;
  }
}

const OFFSET_FILE = "offset";

const STAGES: readonly Stage[] = ["received", "started", "acked", "brain", "answered", "replied"];

/** Parses and checks one entry's text; throws `SyntaxError` when it is not a valid entry. */
export function parseEntry(text: string, updateId: number): JournalEntry {
  const entry = JSON.parse(text) as Partial<JournalEntry>;
  if (
    typeof entry !== "object" || entry === null || entry.updateId !== updateId ||
    typeof entry.chatId !== "number" || !STAGES.includes(entry.stage as Stage) ||
    typeof entry.dispatches !== "number" || typeof entry.update !== "object"
  ) {
    throw new SyntaxError(`Cannot read journal entry ${updateId}: not a valid entry`);
  }
  return entry as JournalEntry;
}

/** A message's journal entry, as a handler uses it: failures are logged, never thrown. */
export interface EntryRecord {
  read(): JournalEntry | undefined;
  /** True when the entry no longer exists (finished by another handler). */
  isGone(): boolean;
  update(patch: Partial<JournalEntry>): void;
  finish(): void;
}

/**
 * One entry of `journal` (none: every call does nothing), for a handler: a journal that can't be
 * written is logged on `log` and never stops a reply.
 */
export function entryRecord(
  journal: Journal | undefined,
  updateId: number,
  log: Logger,
): EntryRecord {
  const guard = <T>(what: string, fn: () => T, fallback: T): T => {
    if (journal === undefined) return fallback;
    try {
      return fn();
    } catch (error) {
      log.warn("journal: cannot {what} entry {updateId}: {error}", {
        what,
        updateId,
        error: String(error),
      });
      return fallback;
    }
  };
  return {
    read: () => guard("read", () => journal!.read(updateId), undefined),
    isGone: () => guard("read", () => journal!.read(updateId) === undefined, false),
    update: (patch) => guard("update", () => void journal!.update(updateId, patch), undefined),
    finish: () => guard("remove", () => journal!.finish(updateId), undefined),
  };
}

/** How long from now a waiting entry is parked, in ms; `undefined` when it isn't. */
export function parkedFor(entry: JournalEntry, now = Date.now()): number | undefined {
  if (entry.parkedUntil === undefined) return undefined;
  const until = Date.parse(entry.parkedUntil);
  return Number.isNaN(until) ? undefined : Math.max(0, until - now);
}
