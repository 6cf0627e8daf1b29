/**
 * The heartbeat file: the time the poll loop last came round.
 *
 * @module
 */

/** Writes the poll loop's heartbeat: one timestamp, replaced atomically (write, then rename). */
export class Heartbeat {
  #path: string;
  #now: () => number;

  /** `now` is the clock (ms since the epoch). Default: `Date.now`. */
  constructor(path: string, now: () => number = Date.now) {
    this.#path = path;
    this.#now = now;
  }

  /** Where the heartbeat lives. */
  get path(): string {
    return this.#path;
  }

  /** Records that the loop is alive now. Throws when the file can't be written. */
  beat(): void {
    const tmp = `${this.#path}.tmp`;
    Deno.writeTextFileSync(tmp, new Date(this.#now()).toISOString() + "\n");
    Deno.renameSync(tmp, this.#path);
  }
}

/** Reads a heartbeat file; `undefined` when it is missing or unreadable. */
export function readHeartbeat(path: string): Date | undefined {
  try {
    const at = new Date(Deno.readTextFileSync(path).trim());
    return Number.isNaN(at.getTime()) ? undefined : at;
  } catch {
    return undefined;
  }
}
