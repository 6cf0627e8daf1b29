/**
 * The simulator's front door: a TCP listener that pipes each client connection to the HTTP
 * server behind it. It exists so that one request can be answered the way a dead network
 * answers it, by closing the connection without an HTTP response: `Deno.serve` always sends a
 * status line first, so a client would see a response and then a broken body, not a network
 * error.
 *
 * @module
 */

interface Pair {
  /** Closes both ends; idempotent. */
  close(): void;
  /** Settles once both pumps have ended. */
  done: Promise<void>;
}

/** Copies `from` to `to` until end of stream or an error on either side. */
async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) return;
      let written = 0;
      while (written < n) written += await to.write(buffer.subarray(written, n));
    }
  } catch {
    // a closed or reset connection ends the copy; the pair is closed by the caller
  }
}

/** Listens on a port and pipes every connection to `127.0.0.1:upstreamPort`. */
export class TcpFront {
  readonly #listener: Deno.Listener;
  readonly #upstreamPort: number;
  /** Open pairs by the local port of their upstream connection (the server's `remoteAddr`). */
  readonly #pairs = new Map<number, Pair>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;

  private constructor(listener: Deno.Listener, upstreamPort: number) {
    this.#listener = listener;
    this.#upstreamPort = upstreamPort;
    this.#accepting = this.#accept();
  }

  /** Starts listening on `127.0.0.1:port` (`0`: any free port); throws `AddrInUse` when busy. */
  static listen(port: number, upstreamPort: number): TcpFront {
    return new TcpFront(Deno.listen({ hostname: "127.0.0.1", port }), upstreamPort);
  }

  /** The port it listens on. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /**
   * Closes the client connection whose upstream connection has local port `upstreamPort` (the
   * `remoteAddr.port` the server saw): its client sees the connection closed before any answer.
   */
  cut(upstreamPort: number): boolean {
    const pair = this.#pairs.get(upstreamPort);
    pair?.close();
    return pair !== undefined;
  }

  /**
   * Stops listening (new connections are refused), gives open pairs `graceMs` to end by
   * themselves (the server closing its side after its last answer), then cuts the rest.
   */
  async close(graceMs = 0): Promise<void> {
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    await this.#accepting;
    if (graceMs > 0 && this.#pairs.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const elapsed = new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs));
      await Promise.race([Promise.all([...this.#pairs.values()].map((p) => p.done)), elapsed]);
      clearTimeout(timer);
    }
    for (const pair of [...this.#pairs.values()]) pair.close();
    await Promise.all([...this.#tasks]);
  }

  async #accept(): Promise<void> {
    for (;;) {
      let client: Deno.Conn;
      try {
        client = await this.#listener.accept();
      } catch {
        return; // the listener was closed
      }
      const task = this.#connect(client);
      this.#tasks.add(task);
      task.finally(() => this.#tasks.delete(task));
    }
  }

  async #connect(client: Deno.Conn): Promise<void> {
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#upstreamPort });
    } catch {
      client.close();
      return;
    }
    const key = (upstream.localAddr as Deno.NetAddr).port;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      this.#pairs.delete(key);
      for (const conn of [client, upstream]) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
    };
    const pumps = [pump(client, upstream), pump(upstream, client)];
    const done = Promise.all(pumps).then(() => {});
    this.#pairs.set(key, { close, done });
    // either side ending ends the pair: HTTP clients and servers don't half-close
    await Promise.race(pumps);
    close();
    await done;
  }
}
