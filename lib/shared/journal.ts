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
 * What an entry holds, and which process writes each of its fields when, is `journal_entry.ts`.
 * Its owner, the poll process's scheduler, writes it through `lib/loop/disk.ts` (a failing disk is
 * a fault it survives); a handler through `lib/handler/entry_record.ts` (and reports each change).
 *
 * @module
 */

import { syncFolder, writeFileAtomic } from "./atomic_write.ts";
import { type JournalEntry, parseEntry, patched } from "./journal_entry.ts";

/** What {@linkcode Journal.recover} found. */
export interface Recovery {
  /** Unfinished entries, in `update_id` order. */
  unfinished: JournalEntry[];
  /** Entries whose reply had been sent; now removed. */
  removed: number[];
  /** Entries that could not be read, moved to the `corrupt/` folder. */
  setAside: SetAside[];
}

/** An entry that could not be read, and what could still be made out of it. */
export interface SetAside {
  /** Its new path, in the `corrupt/` folder. */
  path: string;
  updateId: number;
  /** The chat and message it was about, when the cut text still says. */
  chatId?: number;
  messageId?: number;
}

/** Options for {@linkcode Journal}. */
export interface JournalOptions {
  /** fsync files and the folder on every write. Default: true. */
  durable?: boolean;
  /** The clock. Default: `Date.now`. */
  now?: () => number;
}

const ENTRY = /^(\d+)\.json$/;

/** Options for {@linkcode Journal.record}. */
export interface JournalRecordOptions {
  /** Handlers already counted for the message, when recorded as it is handed on. Default: `0`. */
  dispatches?: number;
}

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

  /** Creates the folder (and the state folder, if it is gone), private; throws when it can't. */
  open(): void {
    Deno.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /**
   * Records a new message. Returns the entry, or `undefined` when that update is already in the
   * journal (Telegram delivered it again).
   */
  record(
    update: unknown,
    ids: { updateId: number; chatId: number },
    options: JournalRecordOptions = {},
  ): JournalEntry | undefined {
    const { dispatches = 0 } = options;
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
    const next = patched(entry, patch);
    this.#write(next);
    return next;
  }

  /** Writes an entry whole, as its owner holds it (creating it if it is gone). */
  put(entry: JournalEntry): void {
    this.#write(entry);
  }

  /** Checks that the folder can be written (a small file written and removed); throws if not. */
  probe(): void {
    const path = `${this.dir}/probe`;
    writeFileAtomic(path, "");
    Deno.removeSync(path);
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
   * Reads the whole journal at start: removes entries whose reply was sent and what failed writes
   * left (temporary files), sets aside entries that can't be read, and returns the rest in
   * `update_id` order.
   */
  recover(): Recovery {
    const unfinished: JournalEntry[] = [];
    const removed: number[] = [];
    const setAside: SetAside[] = [];
    for (const item of Deno.readDirSync(this.dir)) {
      if (!item.isFile || item.name === OFFSET_FILE) continue;
      const match = item.name.match(ENTRY);
      if (!match) {
        // A write cut short (a crash, a full disk): never an entry, only its space to give back.
        if (TEMPORARY.test(item.name)) Deno.removeSync(`${this.dir}/${item.name}`);
        continue;
      }
      const updateId = Number(match[1]);
      let entry: JournalEntry | undefined;
      try {
        entry = this.read(updateId);
      } catch {
        setAside.push(this.#setAside(item.name, updateId));
        continue;
      }
      if (entry === undefined) continue;
      if (entry.stage === "replied") {
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
    this.#writeFile(OFFSET_FILE, `${offset}\n`, { durable: false });
  }

  #path(updateId: number): string {
    return `${this.dir}/${updateId}.json`;
  }

  #write(entry: JournalEntry) {
    this.#writeFile(`${entry.updateId}.json`, JSON.stringify(entry) + "\n");
  }

  #writeFile(name: string, text: string, options: { durable?: boolean } = {}) {
    const { durable = this.#durable } = options;
    writeFileAtomic(`${this.dir}/${name}`, text, { durable });
  }

  #syncDir() {
    if (this.#durable) syncFolder(this.dir);
  }

  #setAside(name: string, updateId: number): SetAside {
    const source = `${this.dir}/${name}`;
    let text = "";
    try {
      text = Deno.readTextFileSync(source);
    } catch {
      // Unreadable: nothing to make out of it.
    }
    const corrupt = `${this.dir}/corrupt`;
    Deno.mkdirSync(corrupt, { recursive: true });
    const path = `${corrupt}/${new Date(this.#now()).toISOString().replaceAll(":", "")}-${name}`;
    Deno.renameSync(source, path);
    return { path, updateId, ...idsIn(text) };
  }
}

const OFFSET_FILE = "offset";
/** A temporary file of `writeFileAtomic`. */
const TEMPORARY = /\.tmp-\d+$/;

/**
 * The chat and message ids a cut entry still shows: its `chatId` and the first `message_id` of
 * its update, read from the text, since it no longer parses.
 */
function idsIn(text: string): { chatId?: number; messageId?: number } {
  const chat = text.match(/"chatId":(-?\d+)/)?.[1];
  const message = text.match(/"message_id":(\d+)/)?.[1];
  const chatId = chat === undefined ? NaN : Number(chat);
  const messageId = message === undefined ? NaN : Number(message);
  return Number.isSafeInteger(chatId) && Number.isSafeInteger(messageId) && messageId > 0
    ? { chatId, messageId }
    : {};
}
