/**
 * One bot per state folder: an exclusive `flock(2)` on `<state folder>/instance.lock`, taken at
 * start and held for the poll process's life. The kernel lets go of it when the process ends, even
 * by SIGKILL, so no stale lock outlives a crash; it is not inherited by the handlers.
 *
 * Two bots on one state folder would share one journal and one offset: each would run the other's
 * messages, and Telegram would answer both pollers with 409s. So a second start leaves at once,
 * with one line that names the pid written in the file by the one that holds it.
 *
 * @module
 */

/**
 * Exit status of a start that found the state folder in use (sysexits.h `EX_CANTCREAT`: the lock
 * can't be had). A restart can't help while the other bot runs: the unit doesn't restart on it.
 */
export const EX_IN_USE = 73;

/** The lock file's name in the state folder. */
export const INSTANCE_LOCK_FILE = "instance.lock";

/** What {@linkcode takeInstanceLock} found. */
export type InstanceLock =
  /** Ours until the process ends: keep the file open (and referenced) until then. */
  | { taken: true; file: Deno.FsFile }
  /** Another process holds it; its pid, when the file says. */
  | { taken: false; holder?: number };

/** Options for {@linkcode takeInstanceLock}. */
export interface InstanceLockOptions {
  /** Our pid, written into the file. Default: `Deno.pid`. */
  pid?: number;
}

/**
 * Takes the state folder's instance lock without waiting: a bot that already runs there is the
 * answer, not something to wait for. Throws when the file can't be opened (the state folder was
 * checked at start, so that is a fault of the system, not a second bot).
 */
export function takeInstanceLock(
  stateDir: string,
  options: InstanceLockOptions = {},
): InstanceLock {
  const { pid = Deno.pid } = options;
  const path = `${stateDir.replace(/\/+$/, "")}/${INSTANCE_LOCK_FILE}`;
  // Not truncated on open: the holder's pid must still be there for the one that loses.
  Deno.openSync(path, { write: true, create: true, mode: 0o600 }).close();
  // The lock is held on a read-only descriptor: a file open for writing for the bot's whole life
  // would keep the state folder's file system from being remounted read-only (and flock needs no
  // write access). The pid is written through another descriptor, closed at once: closing that
  // one leaves the lock alone.
  const file = Deno.openSync(path, { read: true });
  if (!file.tryLockSync(true)) {
    file.close();
    return { taken: false, holder: readHolder(path) };
  }
  Deno.writeTextFileSync(path, `${pid}\n`);
  return { taken: true, file };
}

/** The one line a second start writes before it leaves. */
export function instanceInUseLine(stateDir: string, holder: number | undefined): string {
  const who = holder === undefined
    ? "another forge-coordinator"
    : `forge-coordinator pid ${holder}`;
  return `Cannot start: ${who} already runs with the state folder "${stateDir}" (COORD_STATE_DIR); stop it first, or give this one a state folder of its own`;
}

function readHolder(path: string): number | undefined {
  try {
    const pid = Number(Deno.readTextFileSync(path).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
