/**
 * The per-chat brain lock: `Deno.FsFile.lock` on one file per chat, held by a message's handler
 * from before its input is fetched until its final reply is sent.
 *
 * Order comes from the poll loop, which starts a chat's next handler only after the previous one
 * has exited. The lock guards what the loop can't see: a handler of a previous run still finishing
 * (its poll process is gone; it stops its brain as soon as it reads EOF), or a second bot started
 * by hand on the same lock folder.
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
  /** False when the lock folder could not be used and the brain runs without the lock. */
  readonly locked: boolean;
  /** How long it waited for the lock, in ms. */
  readonly waitedMs: number;
  /** Releases the lock. Idempotent. */
  release(): void;
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
  /** Told when the lock folder can't be used (the brain then runs without the lock). */
  onUnlocked?: (error: unknown) => void;
}

/**
 * Takes the chat's lock, waiting while another process holds it. If the lock folder can't be
 * used, returns an unlocked lock at once rather than failing the message: the loop's order still
 * holds, only the guard against a second bot is lost. A lock file that is a symbolic link is
 * never opened (another user could point it at a file of ours).
 */
export async function takeChatLock(options: ChatLockOptions): Promise<ChatLock> {
  const { lockDir, chatId, signal, pollMs = 25, onWait, onUnlocked } = options;
  const startedAt = performance.now();
  let file: Deno.FsFile;
  try {
    file = await openLockFile(lockPath(lockDir, chatId));
  } catch (error) {
    onUnlocked?.(error);
    return unlocked(startedAt);
  }
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
  return {
    locked: true,
    waitedMs,
    release,
    [Symbol.asyncDispose]: () => Promise.resolve(release()),
  };
}

/** Opens (creating it, mode 0600) a lock file that is not a symbolic link. */
async function openLockFile(path: string): Promise<Deno.FsFile> {
  try {
    if ((await Deno.lstat(path)).isSymlink) {
      throw new Deno.errors.PermissionDenied(
        `Cannot use the lock file ${path}: it is a symbolic link`,
      );
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  // createNew first: a file made here is ours; one that exists is opened without truncating it.
  try {
    return await Deno.open(path, { read: true, write: true, createNew: true, mode: 0o600 });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  const file = await Deno.open(path, { read: true, write: true });
  // Between the lstat and the open a link could have been put in its place: check what we opened.
  const [opened, named] = [await file.stat(), await Deno.lstat(path)];
  if (named.isSymlink || opened.ino !== named.ino || opened.dev !== named.dev) {
    file.close();
    throw new Deno.errors.PermissionDenied(`Cannot use the lock file ${path}: it was replaced`);
  }
  return file;
}

function unlocked(startedAt: number): ChatLock {
  const release = () => {};
  return {
    locked: false,
    waitedMs: performance.now() - startedAt,
    release,
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
}
