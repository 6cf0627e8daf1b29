/**
 * The per-chat brain lock: `Deno.FsFile.lock` on one file per chat, held by a message's handler
 * from before its input is fetched until its final reply is sent.
 *
 * Order comes from the scheduler, which starts a chat's next handler only after the previous one
 * has exited. The lock guards what the loop can't see: a handler of a previous run still finishing
 * (its poll process is gone; it stops its brain as soon as it reads EOF), or a second bot started
 * by hand on the same lock folder.
 *
 * Each take checks the lock folder and the lock file first, since another local user could have
 * swapped them since the bot started (a folder of theirs, open to all, with the chat's lock file
 * held for ever; a link that makes the bot write elsewhere): a folder that is gone is made again,
 * 0700; one that is not ours, not private or a link, and a lock file that is not ours, not a
 * regular file or a link, is refused ({@linkcode LockRefusedError}), never waited on and never
 * gone around: the message gets a ⚠️ instead of a brain.
 *
 * ```
 * <lock dir>/forge-coordinator-chat-<chat id>.lock
 * ```
 *
 * @module
 */

import { delay } from "../shared/abort.ts";

const PREFIX = "forge-coordinator-chat-";

/** The lock file of a chat. */
export function lockPath(lockDir: string, chatId: number): string {
  return `${lockDir}/${PREFIX}${chatId}.lock`;
}

/** A held chat lock: release it with `await using` or `release()`. */
export interface ChatLock extends AsyncDisposable {
  /** How long it waited for the lock, in ms. */
  readonly waitedMs: number;
  /** Releases the lock. Idempotent. */
  release(): void;
}

/**
 * The chat's lock can't be used: the lock folder or the lock file is not ours, not private, a
 * symbolic link, or can't be made. Nothing must run for the message then (another local user
 * could hold the lock for ever, or make the bot write through a link); the person is told.
 */
export class LockRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LockRefusedError";
  }
}

/** Options for {@linkcode takeChatLock}. */
export interface ChatLockOptions {
  lockDir: string;
  chatId: number;
  /** Aborting it stops the wait (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
  /** How often the lock is tried again while another process holds it. Default: 25 ms. */
  pollMs?: number;
  /** Told once, when the lock is held by another process. */
  onWait?: () => void;
  /** Our user id: the folder and the file must be its. Default: `Deno.uid()`. */
  uid?: number;
}

/**
 * Takes the chat's lock, waiting while another process holds it. First the lock folder is checked
 * (made again, 0700, if it is gone): ours, 0700, not a symbolic link; then the lock file: ours, a
 * regular file, never opened through a symbolic link. Rejects with {@linkcode LockRefusedError}
 * when either fails, at once rather than after a wait that another user could make endless.
 */
export async function takeChatLock(options: ChatLockOptions): Promise<ChatLock> {
  const { lockDir, chatId, signal, pollMs = 25, onWait } = options;
  const uid = options.uid ?? Deno.uid();
  if (uid === null) throw new LockRefusedError("our user id is unknown: the lock can't be checked");
  const startedAt = performance.now();
  await checkLockFolder(lockDir, uid);
  const file = await openLockFile(lockPath(lockDir, chatId), uid);
  try {
    // tryLock, not lock: a blocking flock() would not hear the stop signal.
    let told = false;
    while (!(await file.tryLock(true))) {
      if (!told) onWait?.();
      told = true;
      await delay(pollMs, { signal });
    }
    signal?.throwIfAborted();
  } catch (error) {
    file.close();
    throw error;
  }
  const waitedMs = performance.now() - startedAt;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    file.close(); // closing the descriptor releases the lock
  };
  return { waitedMs, release, [Symbol.asyncDispose]: () => Promise.resolve(release()) };
}

/** Makes the lock folder if it is gone, and refuses one that is not ours and private. */
async function checkLockFolder(lockDir: string, uid: number): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(lockDir);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw refused(lockDir, error);
    // Gone (a logout emptied the runtime folder, someone removed it): made again, private.
    try {
      await Deno.mkdir(lockDir, { recursive: true, mode: 0o700 });
      info = await Deno.lstat(lockDir);
    } catch (error) {
      throw refused(lockDir, error);
    }
  }
  const where = `the lock folder ${lockDir}`;
  if (info.isSymlink) throw new LockRefusedError(`${where} is a symbolic link`);
  if (!info.isDirectory) throw new LockRefusedError(`${where} is not a folder`);
  if (info.uid !== uid) {
    throw new LockRefusedError(`${where} belongs to user ${info.uid}, not to us (${uid})`);
  }
  const mode = (info.mode ?? 0) & 0o7777;
  if ((mode & 0o077) !== 0) {
    throw new LockRefusedError(
      `${where} has mode ${
        mode.toString(8).padStart(4, "0")
      }: other users can get in (it must be 0700)`,
    );
  }
}

function refused(path: string, error: unknown): LockRefusedError {
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new LockRefusedError(`cannot use the lock folder ${path} (${reason})`);
}

/** Opens (creating it, mode 0600) a lock file of ours that is a regular file, not a link. */
async function openLockFile(path: string, uid: number): Promise<Deno.FsFile> {
  try {
    if ((await Deno.lstat(path)).isSymlink) {
      throw new LockRefusedError(`the lock file ${path} is a symbolic link`);
    }
  } catch (error) {
    if (error instanceof LockRefusedError) throw error;
    if (!(error instanceof Deno.errors.NotFound)) throw refused(path, error);
  }
  let file: Deno.FsFile;
  try {
    // createNew first: a file made here is ours; one that exists is opened without truncating it.
    file = await Deno.open(path, { read: true, write: true, createNew: true, mode: 0o600 })
      .catch((error) => {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        return Deno.open(path, { read: true, write: true });
      });
  } catch (error) {
    throw new LockRefusedError(`cannot open the lock file ${path} (${String(error)})`);
  }
  // Between the lstat and the open a link could have been put in its place: check what we opened.
  const [opened, named] = await Promise.all([file.stat(), Deno.lstat(path)]).catch((error) => {
    file.close();
    throw refused(path, error);
  });
  const problem = named.isSymlink || opened.ino !== named.ino || opened.dev !== named.dev
    ? "was replaced"
    : !opened.isFile
    ? "is not a regular file"
    : opened.uid !== uid
    ? `belongs to user ${opened.uid}, not to us (${uid})`
    : undefined;
  if (problem !== undefined) {
    file.close();
    throw new LockRefusedError(`the lock file ${path} ${problem}`);
  }
  return file;
}
