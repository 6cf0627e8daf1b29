/**
 * The spool reader, in the poll process: takes the jobs `forge-coordinator send` and `ask` leave
 * in `<state>/spool/new/` (`shared/spool_job.ts`), within a moment of their arrival (file-system
 * events, and a scan whenever the watch starts), and hands each to the scheduler once journaled.
 *
 * One job's way, each step safe to cut short:
 * 1. its folder is renamed from `spool/new/<name>` to `send/<id>`, `<id>` a message id of the
 *    spool's own (`SPOOL_ID_BASE` + ms since the epoch × 1000, always above the last one), so
 *    that it is never taken twice;
 * 2. it is journaled under `<id>` (`spool_entry.ts` says as what); a disk that refuses leaves it
 *    waiting in `send/<id>/` (retried with a back-off, and at the next start);
 * 3. its `job.json` goes (an ask's whole folder: its brain gets it empty), and the scheduler
 *    takes it like a message.
 *
 * A job that can't be read, or is for a chat the bot may not write to, is moved to `spool/bad/`
 * and logged. Folders left in `spool/tmp/` (a command cut off) are removed after 36 hours, as
 * maildir readers do.
 *
 * @module
 */

import { delay } from "../shared/abort.ts";
import { backoffMs } from "../shared/backoff.ts";
import type { JournalEntry } from "../shared/journal_entry.ts";
import { SPOOL_ID_BASE } from "../shared/journal_entry.ts";
import type { Logger } from "../shared/log.ts";
import { pathExists, sendDir } from "../shared/outgoing_files.ts";
import { mayWriteTo, parseJob, spoolDirs, type SpoolJob } from "../shared/spool_job.ts";
import type { Disk } from "./disk.ts";
import { entryOfJob } from "./spool_entry.ts";

/** Options for {@linkcode SpoolReader}. */
export interface SpoolReaderOptions {
  stateDir: string;
  /** The journal's writes. Required. */
  disk: Pick<Disk, "write">;
  /** Who may be written to (`mayWriteTo`). Required. */
  chats: { authorized: ReadonlySet<number>; allowedChats?: ReadonlySet<number> };
  /** The message ids in the journal at start (a job journaled by an earlier run is not again). */
  journaled: ReadonlySet<number>;
  /** The last update id taken from Telegram: a job goes just after it. Required. */
  lastUpdateId: () => number;
  /** Hands a journaled job on (`Scheduler.spooled`). Required. */
  take: (entry: JournalEntry) => void;
  log: Logger;
  /** The wall clock, ms since the epoch. Default: `Date.now`. */
  now?: () => number;
  /** The first wait before a job the disk refused is tried again; it doubles to 10 s. Default: 1000. */
  retryMs?: number;
}

/** How old a folder in `spool/tmp/` may get before it is taken for a command cut off. */
const STALE_TMP_MS = 36 * 3600_000;

/** See the module doc. */
export class SpoolReader {
  #options: SpoolReaderOptions;
  #now: () => number;
  #lastId = SPOOL_ID_BASE;
  /** Jobs moved into `send/` and not journaled yet. */
  #pending = new Set<number>();
  #failures = 0;
  #retry?: ReturnType<typeof setTimeout>;
  #soon?: ReturnType<typeof setTimeout>;

  constructor(options: SpoolReaderOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    for (const id of options.journaled) this.#lastId = Math.max(this.#lastId, id);
  }

  /** Jobs taken from the spool but not journaled yet (the disk refused them). */
  get waiting(): number {
    return this.#pending.size;
  }

  /** At start: what an earlier run moved but did not journal, old leftovers of `tmp/`, then `new/`. */
  start(): void {
    const { stateDir, journaled, log } = this.#options;
    for (const id of foldersIn(`${stateDir}/send`)) {
      this.#lastId = Math.max(this.#lastId, id);
      if (!pathExists(`${sendDir(stateDir, id)}/job.json`)) continue;
      // Journaled just before the last run ended: only its job.json was left to remove.
      if (journaled.has(id)) removeQuietly(`${sendDir(stateDir, id)}/job.json`);
      else this.#pending.add(id);
    }
    const { tmp } = spoolDirs(stateDir);
    for (const name of namesIn(tmp)) {
      const mtime = statOrUndefined(`${tmp}/${name}`)?.mtime?.getTime();
      if (mtime !== undefined && this.#now() - mtime > STALE_TMP_MS) {
        log.warn("spool: removing {name}, left half-written in tmp/ over 36 h ago", { name });
        removeQuietly(`${tmp}/${name}`);
      }
    }
    this.scan();
  }

  /** Takes every job in `new/`, oldest first, and journals what waits to be. */
  scan(): void {
    const { stateDir, log } = this.#options;
    const dirs = spoolDirs(stateDir);
    for (const name of namesIn(dirs.new)) {
      const id = this.#nextId();
      try {
        Deno.mkdirSync(`${stateDir}/send`, { recursive: true, mode: 0o700 });
        Deno.renameSync(`${dirs.new}/${name}`, sendDir(stateDir, id));
      } catch (error) {
        log.error("spool: cannot take {name}: {error}", { name, error: String(error) });
        break;
      }
      this.#pending.add(id);
    }
    for (const id of [...this.#pending].sort((a, b) => a - b)) {
      if (!this.#journal(id)) break;
    }
    this.#retryLater();
  }

  /**
   * Watches `new/` and scans at each event, until `signal` aborts; a watch that fails (the state
   * folder deleted, say) is started again after a pause, with a scan.
   */
  async watch(signal: AbortSignal): Promise<void> {
    const { stateDir, log } = this.#options;
    const dir = spoolDirs(stateDir).new;
    while (!signal.aborted) {
      try {
        Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
        Deno.mkdirSync(spoolDirs(stateDir).tmp, { recursive: true, mode: 0o700 });
        using watcher = Deno.watchFs(dir, { recursive: false });
        const close = () => watcher.close();
        signal.addEventListener("abort", close, { once: true });
        try {
          this.scan();
          for await (const _ of watcher) {
            if (!pathExists(dir)) break;
            this.#scanSoon();
          }
        } finally {
          signal.removeEventListener("abort", close);
        }
      } catch (error) {
        if (!signal.aborted) {
          log.warn("spool: cannot watch {dir}: {error}", { dir, error: String(error) });
        }
      }
      await delay(1000, { signal }).catch(() => {});
    }
    this.stop();
  }

  /** Clears what is left to happen (a retry, a scan). */
  stop(): void {
    clearTimeout(this.#retry);
    clearTimeout(this.#soon);
    this.#retry = this.#soon = undefined;
  }

  /** Journals job `id` and hands it on; false when the disk refused it (it waits). */
  #journal(id: number): boolean {
    const { stateDir, disk, chats, log, take, lastUpdateId } = this.#options;
    const dir = sendDir(stateDir, id);
    let job: SpoolJob;
    try {
      job = parseJob(Deno.readTextFileSync(`${dir}/job.json`));
      if (!mayWriteTo(job.chatId, chats)) {
        throw new RangeError(`chat ${job.chatId} is not one the bot may write to`);
      }
    } catch (error) {
      // An I/O error may pass; a job that is not one, or not for us, won't.
      const bad = error instanceof TypeError || error instanceof RangeError ||
        error instanceof Deno.errors.NotFound;
      if (!bad) return false;
      this.#setAside(id, error);
      return true;
    }
    const entry = entryOfJob(job, {
      updateId: id,
      lastUpdateId: lastUpdateId(),
      dir,
      now: this.#now(),
    });
    if (!disk.write((journal) => journal.put(entry))) return false;
    this.#pending.delete(id);
    // An ask's brain gets the folder empty; a send's files stay until it is delivered.
    removeQuietly(job.kind === "ask" ? dir : `${dir}/job.json`);
    log.info("spool: job {id} taken: {kind} for chat {chatId}", {
      id,
      kind: job.kind,
      chatId: job.chatId,
    });
    take(entry);
    return true;
  }

  #setAside(id: number, error: unknown) {
    const { stateDir, log } = this.#options;
    const to = `${spoolDirs(stateDir).bad}/${id}`;
    this.#pending.delete(id);
    try {
      Deno.mkdirSync(spoolDirs(stateDir).bad, { recursive: true, mode: 0o700 });
      Deno.renameSync(sendDir(stateDir, id), to);
    } catch {
      removeQuietly(sendDir(stateDir, id));
    }
    log.error("spool: job set aside in {to}: {error}", {
      to,
      error: (error as Error).message ?? String(error),
    });
  }

  /** A message id of the spool's own, above every one before (see the module doc). */
  #nextId(): number {
    this.#lastId = Math.max(SPOOL_ID_BASE + this.#now() * 1000, this.#lastId + 1);
    return this.#lastId;
  }

  #scanSoon() {
    // A job's rename is one event; a burst of jobs is one scan.
    this.#soon ??= setTimeout(() => {
      this.#soon = undefined;
      this.scan();
    }, 20);
  }

  #retryLater() {
    if (this.#pending.size === 0) {
      this.#failures = 0;
      return;
    }
    if (this.#retry !== undefined) return;
    const ms = backoffMs(++this.#failures, {
      baseMs: this.#options.retryMs ?? 1000,
      maxMs: 10_000,
    });
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.scan();
    }, ms);
  }
}

/** The names in a folder, sorted; none when it can't be read. */
function namesIn(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** The spool's message ids among the folders of `send/`. */
function foldersIn(dir: string): number[] {
  return namesIn(dir).filter((n) => /^\d+$/.test(n)).map(Number).filter((id) =>
    id >= SPOOL_ID_BASE
  );
}

function statOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch {
    return undefined;
  }
}

function removeQuietly(path: string) {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch {
    // Gone already, or left for the next start.
  }
}
