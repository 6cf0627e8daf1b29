/**
 * systemd's side of the notification protocol, for tests: a datagram socket to hand the bot as
 * `$NOTIFY_SOCKET`.
 *
 * @module
 */

import { waitUntil } from "./_helpers.ts";

/**
 * A notification socket that records every datagram with its arrival time; `systemd-notify`'s
 * `BARRIER=1` (sent when it waits for systemd to read its message, i.e. without `--no-block`) is
 * counted apart.
 */
export class FakeSystemd implements AsyncDisposable {
  readonly path: string;
  readonly messages: { at: number; text: string }[] = [];
  barriers = 0;
  #conn: Deno.DatagramConn;
  #done: Promise<void>;

  constructor(path: string) {
    this.path = path;
    const conn = Deno.listenDatagram({ transport: "unixpacket", path });
    this.#conn = conn;
    this.#done = (async () => {
      try {
        for await (const [data] of conn) {
          if (new TextDecoder().decode(data) === "BARRIER=1") {
            this.barriers++;
            continue;
          }
          this.messages.push({
            at: performance.timeOrigin + performance.now(),
            text: new TextDecoder().decode(data),
          });
        }
      } catch {
        // Closed.
      }
    })();
  }

  /** The messages that contain `assignment` (e.g. "WATCHDOG=1"). */
  with(assignment: string) {
    return this.messages.filter((m) => m.text.split("\n").includes(assignment));
  }

  waitFor(assignment: string, count = 1, timeoutMs = 20_000) {
    return waitUntil(
      () => this.with(assignment).length >= count ? this.with(assignment) : undefined,
      {
        description: `${count} × ${assignment} (got: ${
          this.messages.map((m) => m.text).join(" | ")
        })`,
        timeoutMs,
      },
    );
  }

  async [Symbol.asyncDispose]() {
    this.#conn.close();
    await this.#done;
  }
}
