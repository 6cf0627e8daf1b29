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

/** The cancel markers of a state folder. */
export class CancelBox {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = `${stateDir}/cancel`;
  }

  /** Asks for a message to be cancelled. */
  request(updateId: number): void {
    Deno.mkdirSync(this.dir, { recursive: true });
    Deno.writeTextFileSync(`${this.dir}/${updateId}`, `${new Date().toISOString()}\n`);
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
