/**
 * The heartbeat file: the time the poll loop last came round, and on a second line what it saw
 * then (a JSON {@linkcode PollStatus}), for `/status`. Both in one atomic write per iteration.
 *
 * @module
 */

import { writeFileAtomic } from "./atomic_write.ts";

/** What the poll loop records with each heartbeat. */
export interface PollStatus {
  /** When the poll process started (ISO 8601). */
  startedAt: string;
  /** Handlers with a message, alive at the beat. */
  live: number;
  /** The cap on them. */
  cap: number;
  /** The update ids of those handlers. */
  updateIds: number[];
  /** Messages waiting for their turn, across chats. */
  waiting?: number;
}

/** Writes the poll loop's heartbeat: one timestamp, replaced atomically (write, then rename). */
export class Heartbeat {
  #path: string;
  #now: () => number;

  /** `now` is the clock (ms since the epoch). Default: `Date.now`. */
  constructor(path: string, now: () => number = Date.now) {
    this.#path = path;
    this.#now = now;
  }

  /** Records that the loop is alive now, and what it sees. Throws when the file can't be written. */
  beat(status?: PollStatus): void {
    const second = status === undefined ? "" : JSON.stringify(status) + "\n";
    const text = new Date(this.#now()).toISOString() + "\n" + second;
    try {
      writeFileAtomic(this.#path, text);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      // The state folder was deleted under us: it is made again, private.
      Deno.mkdirSync(this.#path.slice(0, this.#path.lastIndexOf("/")), {
        recursive: true,
        mode: 0o700,
      });
      writeFileAtomic(this.#path, text);
    }
  }
}

/** Reads a heartbeat file's time; `undefined` when it is missing or unreadable. */
export function readHeartbeat(path: string): Date | undefined {
  return readHeartbeatFile(path)?.at;
}

/** Reads a heartbeat file: its time, and the poll loop's status when it holds one. */
export function readHeartbeatFile(
  path: string,
): { at: Date; status?: PollStatus } | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
  return parseHeartbeat(text);
}

/** Parses a heartbeat file's text; `undefined` when its first line is not a time. */
export function parseHeartbeat(text: string): { at: Date; status?: PollStatus } | undefined {
  const [first, second] = text.split("\n");
  const at = new Date(first.trim());
  if (Number.isNaN(at.getTime())) return undefined;
  try {
    const status = JSON.parse(second ?? "") as PollStatus;
    if (
      typeof status?.startedAt === "string" && typeof status.live === "number" &&
      typeof status.cap === "number" && Array.isArray(status.updateIds)
    ) {
      return { at, status };
    }
  } catch {
    // An older bot's heartbeat, or none: the time alone.
  }
  return { at };
}
