/**
 * `/cancel` requests: one marker file per cancelled message, `<state dir>/cancel/<update_id>`.
 *
 * A marker, not a field of the journal entry: a message's entry has one writer at a time (the poll
 * loop, then its own handler), and the `/cancel` handler must not become a second one. The
 * message's handler reads the marker, records the cancellation in its own entry, and removes the
 * marker when it finishes.
 *
 * @module
 */

/** What asked for a cancel. */
export type CancelledBy = "/cancel" | "Stop";

/** The cancel markers of a state folder. */
export class CancelBox {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = `${stateDir}/cancel`;
  }

  /** Asks for a message to be cancelled, by `/cancel` or by a Stop press on the phone. */
  request(updateId: number, by: CancelledBy = "/cancel"): void {
    Deno.mkdirSync(this.dir, { recursive: true });
    Deno.writeTextFileSync(`${this.dir}/${updateId}`, `${by}\n`);
  }

  /** Who asked to cancel a message (`/cancel` when the marker says nothing else). Never throws. */
  by(updateId: number): CancelledBy {
    try {
      return Deno.readTextFileSync(`${this.dir}/${updateId}`).trim() === "Stop"
        ? "Stop"
        : "/cancel";
    } catch {
      return "/cancel";
    }
  }

  /** True when the person asked to cancel this message. Never throws. */
  requested(updateId: number): boolean {
    try {
      return Deno.statSync(`${this.dir}/${updateId}`).isFile;
    } catch {
      return false;
    }
  }

  /** Forgets a request (the message is finished). Never throws. */
  clear(updateId: number): void {
    try {
      Deno.removeSync(`${this.dir}/${updateId}`);
    } catch {
      // Never requested, or already cleared.
    }
  }
}
