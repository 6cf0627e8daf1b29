/**
 * The per-chat brain lock and turn order.
 *
 * `flock` gives mutual exclusion but no order: waiters wake in any order, and process start-up
 * already shuffles who asks first. So order comes from tickets: the poll loop, which sees updates
 * in `update_id` order, drops an empty ticket file named by the `update_id` into the chat's queue
 * folder before it spawns the handler, and removes it again when that handler exits (so a crashed
 * or killed predecessor never blocks the chat). A handler's turn comes when no smaller ticket is
 * left; it then takes the `flock` (against anything that ignores tickets, such as a handler of a
 * previous run still finishing) and holds both until its reply is sent.
 *
 * ```
 * <lock dir>/forge-coordinator-chat-<chat id>.lock        the flock
 * <lock dir>/forge-coordinator-chat-<chat id>.queue/<id>  one ticket per waiting or running message
 * ```
 *
 * @module
 */

import { sleep } from "./abort.ts";

const PREFIX = "forge-coordinator-chat-";

/** The lock file of a chat. */
export function lockPath(lockDir: string, chatId: number): string {
  return `${lockDir}/${PREFIX}${chatId}.lock`;
}

/** The ticket folder of a chat. */
export function queuePath(lockDir: string, chatId: number): string {
  return `${lockDir}/${PREFIX}${chatId}.queue`;
}

/** The poll loop's side: tickets in, tickets out. Synchronous: each call is a syscall or two. */
export class TurnQueue {
  #lockDir: string;

  constructor(lockDir: string) {
    this.#lockDir = lockDir;
  }

  /**
   * Takes a ticket for a message; throws when the lock folder is missing or can't be written. The
   * lock folder itself is never created here: it is the runtime folder systemd (or the person)
   * provides.
   */
  enqueue(chatId: number, updateId: number): void {
    const dir = queuePath(this.#lockDir, chatId);
    try {
      Deno.mkdirSync(dir);
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    Deno.writeFileSync(`${dir}/${updateId}`, new Uint8Array());
  }

  /** Removes a message's ticket if it is still there. */
  withdraw(chatId: number, updateId: number): void {
    try {
      Deno.removeSync(`${queuePath(this.#lockDir, chatId)}/${updateId}`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  /**
   * Removes every ticket left by an earlier run (its handlers stop when their poll process dies).
   * Returns how many were removed.
   */
  clearStale(): number {
    let removed = 0;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(this.#lockDir)];
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return 0;
      throw error;
    }
    for (const entry of entries) {
      if (!entry.isDirectory || !entry.name.startsWith(PREFIX) || !entry.name.endsWith(".queue")) {
        continue;
      }
      const dir = `${this.#lockDir}/${entry.name}`;
      removed += [...Deno.readDirSync(dir)].length;
      Deno.removeSync(dir, { recursive: true });
    }
    return removed;
  }
}

/** A held turn: release it (ticket removed, lock released) with `await using` or `release()`. */
export interface Turn extends AsyncDisposable {
  /** False when the lock folder could not be used and the brain runs without the lock. */
  readonly locked: boolean;
  /** How long the message waited for its turn, in ms. */
  readonly waitedMs: number;
  /** Gives the turn to the next message of the chat. Idempotent. */
  release(): void;
}

/** Options for {@linkcode takeTurn}. */
export interface TurnOptions {
  lockDir: string;
  chatId: number;
  updateId: number;
  /** Aborting it stops the wait (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
  /** How often the queue folder is looked at while waiting. Default: 25 ms. */
  pollMs?: number;
  /** Told once, when the message has to wait, how many are ahead of it. */
  onWait?: (ahead: number) => void;
  /** Told when the lock folder can't be used (the turn is then taken without the lock). */
  onUnlocked?: (error: unknown) => void;
}

/**
 * Waits until every earlier message of the chat has left the queue, then takes the chat's lock.
 * If the lock folder can't be used, returns an unlocked turn at once rather than failing the
 * message: order is then not guaranteed, an answer still is.
 */
export async function takeTurn(options: TurnOptions): Promise<Turn> {
  const { lockDir, chatId, updateId, signal, pollMs = 25, onWait, onUnlocked } = options;
  const startedAt = performance.now();
  let file: Deno.FsFile;
  try {
    file = await Deno.open(lockPath(lockDir, chatId), { read: true, write: true, create: true });
  } catch (error) {
    onUnlocked?.(error);
    return unlockedTurn(startedAt);
  }
  try {
    const queue = queuePath(lockDir, chatId);
    let told = false;
    for (let ahead = await ticketsAhead(queue, updateId); ahead > 0;) {
      if (!told) onWait?.(ahead);
      told = true;
      if (!(await sleep(pollMs, signal))) signal?.throwIfAborted();
      ahead = await ticketsAhead(queue, updateId);
    }
    // Everything ahead has left the queue; the lock is free unless something outside the queue
    // (a handler of a previous run) still holds it. tryLock, not lock: a blocking flock() would
    // not hear the stop signal.
    while (!(await file.tryLock(true))) {
      if (!(await sleep(pollMs, signal))) signal?.throwIfAborted();
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
    try {
      Deno.removeSync(`${queuePath(lockDir, chatId)}/${updateId}`);
    } catch {
      // Already withdrawn (or the folder is gone): nothing to give back.
    }
    file.close(); // closing the descriptor releases the flock
  };
  return {
    locked: true,
    waitedMs,
    release,
    [Symbol.asyncDispose]: () => Promise.resolve(release()),
  };
}

function unlockedTurn(startedAt: number): Turn {
  const release = () => {};
  return {
    locked: false,
    waitedMs: performance.now() - startedAt,
    release,
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
}

/** How many tickets in the queue folder are for messages before `updateId`. */
export async function ticketsAhead(queue: string, updateId: number): Promise<number> {
  let ahead = 0;
  try {
    for await (const entry of Deno.readDir(queue)) {
      const id = Number(entry.name);
      if (entry.isFile && Number.isSafeInteger(id) && id < updateId) ahead++;
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
  return ahead;
}
