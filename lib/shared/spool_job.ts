/**
 * A job from the box: what `forge-coordinator send` and `ask` hand the running bot, through a
 * spool in the state folder, written the maildir way so that the bot never reads half a job:
 *
 * ```
 * <state>/spool/tmp/<name>/          being written by the command; never read by the bot
 * <state>/spool/new/<name>/job.json  complete: the folder was renamed here from tmp/, whole
 *                     /<n>-<file>     the files to send (copies: the command may read what the
 *                                     bot may not)
 * <state>/send/<id>/                 taken by the bot (`lib/loop/spool.ts`): renamed to the
 *                                     message id it is journaled under, its job.json removed once
 *                                     journaled
 * <state>/spool/bad/<id>/            a job the bot could not take (unreadable, a chat not allowed)
 * <state>/spool/chats.json           the chats the bot may write to, recorded at its start, for a
 *                                     command run where its settings are not (a person's shell)
 * ```
 *
 * `<name>` is `<ms since the epoch>.<pid>.<random>`, so names sort by time. The command needs no
 * token and no network: it only writes here. The bot journals each job as a message with an id
 * of the spool's own (`SPOOL_ID_BASE` and up, never one of Telegram's), and delivers it with the
 * outbox's guarantees.
 *
 * @module
 */

import { syncFolder, writeFileAtomic } from "./atomic_write.ts";
import { safeFileName } from "./attachments.ts";

/** One job, as `job.json` holds it. */
export interface SpoolJob {
  /** `send`: a message (and files) to deliver; `ask`: a prompt for the brain, queued in the chat. */
  kind: "send" | "ask";
  chatId: number;
  /** The message's text, or the ask's prompt ("" for a send of files only). */
  text: string;
  /** The files to send after the text, in order. */
  files: JobFile[];
  /** When the command wrote it (ISO 8601). */
  createdAt: string;
}

/** A file of a job: its copy in the job's folder, and the name the person sees. */
export interface JobFile {
  /** The copy's name in the job's folder. */
  file: string;
  /** The file's own name. */
  name: string;
  /** How it is sent (`outgoing_files.ts`; a photo Telegram refuses goes as a document). */
  kind: "photo" | "document";
}

/** The spool's folders, and where taken jobs go. */
export function spoolDirs(stateDir: string): { tmp: string; new: string; bad: string } {
  const root = `${stateDir}/spool`;
  return { tmp: `${root}/tmp`, new: `${root}/new`, bad: `${root}/bad` };
}

/** The chats a job may be for: `COORD_ALLOWED_CHAT_IDS`, else the authorized users' own chats. */
export function mayWriteTo(
  chatId: number,
  chats: { authorized: ReadonlySet<number>; allowedChats?: ReadonlySet<number> },
): boolean {
  return (chats.allowedChats ?? chats.authorized).has(chatId);
}

/** The chats a job may be for, as the bot records them at its start (`chats.json`). */
export interface SpoolChats {
  authorized: ReadonlySet<number>;
  allowedChats?: ReadonlySet<number>;
}

/** Records the chats the bot may write to, for the commands (see the module doc). */
export function recordChats(stateDir: string, chats: SpoolChats): void {
  const root = `${stateDir}/spool`;
  Deno.mkdirSync(root, { recursive: true, mode: 0o700 });
  const allowed = chats.allowedChats === undefined ? null : [...chats.allowedChats];
  writeFileAtomic(
    `${root}/chats.json`,
    JSON.stringify({ authorized: [...chats.authorized], allowed }) + "\n",
  );
}

/** The chats the bot recorded, or `undefined` when it never did (or the file is not one). */
export function recordedChats(
  stateDir: string,
  readTextFile: (path: string) => string = Deno.readTextFileSync,
): SpoolChats | undefined {
  try {
    const { authorized, allowed } = JSON.parse(readTextFile(`${stateDir}/spool/chats.json`));
    const ids = (list: unknown) =>
      Array.isArray(list) && list.every(Number.isSafeInteger)
        ? new Set(list as number[])
        : undefined;
    const authorizedIds = ids(authorized);
    if (authorizedIds === undefined || authorizedIds.size === 0) return undefined;
    return { authorized: authorizedIds, allowedChats: allowed === null ? undefined : ids(allowed) };
  } catch {
    return undefined;
  }
}

/** How many jobs wait in `new/`, not taken by the bot yet (0 when it can't be read). */
export function jobsInSpool(stateDir: string): number {
  try {
    return [...Deno.readDirSync(spoolDirs(stateDir).new)].length;
  } catch {
    return 0;
  }
}

/** Options for {@linkcode writeJob}. */
export interface WriteJobOptions {
  /** Files to copy into the job, in order: where they are, and the name the person sees. */
  files?: readonly { path: string; name: string; kind: JobFile["kind"] }[];
  /** The clock, ms since the epoch. Default: `Date.now`. */
  now?: () => number;
}

/**
 * Writes a job into the spool: its folder in `tmp/` (job.json and copies of the files, fsynced),
 * then renamed into `new/` whole. Returns the job's name. Throws what the file system throws,
 * and leaves no half-written job in `new/`.
 */
export function writeJob(
  stateDir: string,
  job: Omit<SpoolJob, "files" | "createdAt">,
  options: WriteJobOptions = {},
): string {
  const { files = [], now = Date.now } = options;
  const dirs = spoolDirs(stateDir);
  for (const dir of [dirs.tmp, dirs.new]) Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const random = crypto.getRandomValues(new Uint8Array(6));
  const name = `${now()}.${Deno.pid}.${
    [...random].map((b) => b.toString(16).padStart(2, "0")).join("")
  }`;
  const tmp = `${dirs.tmp}/${name}`;
  Deno.mkdirSync(tmp, { mode: 0o700 });
  try {
    const listed = files.map((f, i) => {
      const copy = { file: `${i + 1}-${safeFileName(f.name, "file")}`, name: f.name, kind: f.kind };
      Deno.copyFileSync(f.path, `${tmp}/${copy.file}`);
      syncFile(`${tmp}/${copy.file}`);
      return copy;
    });
    const whole: SpoolJob = { ...job, files: listed, createdAt: new Date(now()).toISOString() };
    // Durable before it is in new/: a power cut never leaves a job there with half its files.
    writeFileAtomic(`${tmp}/job.json`, JSON.stringify(whole) + "\n", { durable: true });
    Deno.renameSync(tmp, `${dirs.new}/${name}`);
    syncFolder(dirs.new);
  } catch (error) {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch {
      // Left in tmp/, which the bot never reads.
    }
    throw error;
  }
  return name;
}

function syncFile(path: string) {
  using file = Deno.openSync(path, { read: true });
  file.syncSync();
}

/** Parses a job's `job.json`; throws `TypeError` naming what is wrong. */
export function parseJob(text: string): SpoolJob {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TypeError(`Cannot parse a job: invalid JSON (${text.length} characters)`);
  }
  if (typeof value !== "object" || value === null) {
    throw new TypeError("Cannot parse a job: expected a JSON object");
  }
  const { kind, chatId, text: words, files, createdAt } = value;
  if (kind !== "send" && kind !== "ask") {
    throw new TypeError(`Cannot parse a job: unknown kind "${String(kind)}"`);
  }
  if (!Number.isSafeInteger(chatId)) {
    throw new TypeError(`Cannot parse a job: chatId "${String(chatId)}" is not an integer`);
  }
  if (typeof words !== "string" || typeof createdAt !== "string" || !Array.isArray(files)) {
    throw new TypeError("Cannot parse a job: text, files or createdAt missing");
  }
  const listed = files.map((f): JobFile => {
    const { file, name, kind } = (f ?? {}) as Partial<JobFile>;
    // A copy's name is one name in the job's folder: never a path out of it.
    if (
      typeof file !== "string" || typeof name !== "string" || !/^[^/]+$/.test(file) ||
      /^\.\.?$/.test(file)
    ) {
      throw new TypeError(`Cannot parse a job: bad file "${String(file)}"`);
    }
    return { file, name, kind: kind === "photo" ? "photo" : "document" };
  });
  return { kind, chatId: chatId as number, text: words, files: listed, createdAt };
}
