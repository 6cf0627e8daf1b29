/**
 * A child process's pipes, as `process_tree.ts` uses them: its stdin written in order and closed
 * once, and its stdout and stderr read to the end (kept up to a bound) while it runs.
 *
 * @module
 */

import { within } from "./abort.ts";

/** A child's stdin: writes go in order; once it is closed or broken, writes report false. */
export interface Input {
  /** Writes `data` after what was written before; resolves false when stdin is closed or broken. */
  write(data: string | Uint8Array): Promise<boolean>;
  /** Closes stdin after what was written; idempotent. */
  close(): Promise<void>;
}

/** Wraps a child's stdin as an {@linkcode Input}. */
export function inputOf(stdin: WritableStream<Uint8Array>): Input {
  const writer = stdin.getWriter();
  const encoder = new TextEncoder();
  let open = true;
  // Every write and the close run one after the other on this chain; it never rejects.
  let chain: Promise<boolean> = Promise.resolve(true);
  const broken = () => {
    // A child that exits without reading its input makes a write fail with a broken pipe.
    open = false;
    writer.abort().catch(() => {});
    return false;
  };
  return {
    write(data) {
      if (!open) return Promise.resolve(false);
      const bytes = typeof data === "string" ? encoder.encode(data) : data;
      chain = chain.then((ok) => ok ? writer.write(bytes).then(() => true, broken) : false);
      return chain;
    },
    close() {
      if (open) {
        open = false;
        chain = chain.then((ok) => ok ? writer.close().then(() => false, broken) : false);
      }
      return chain.then(() => {});
    },
  };
}

/** Options for {@linkcode collect}. */
export interface CollectOptions {
  /** Bytes kept; the rest is read and dropped so that the child never blocks. Required. */
  maxBytes: number;
  /** Told each piece as it comes (decoded; pieces may split lines). Its errors are ignored. */
  onText?: (text: string) => void;
}

/** A stream being read to its end. */
export interface Collector {
  /** The text read so far once the stream ends, or after `ms` (then the stream is cancelled). */
  drain(ms: number): Promise<string>;
  /** Bytes read past `maxBytes` and dropped, so far. */
  readonly dropped: number;
}

/** Starts reading `stream` to its end (see {@linkcode Collector}). */
export function collect(stream: ReadableStream<Uint8Array>, options: CollectOptions): Collector {
  const { maxBytes, onText } = options;
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let dropped = 0;
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  const done = (async () => {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        if (onText !== undefined) {
          try {
            onText(decoder.decode(value, { stream: true }));
          } catch {
            // A listener's failure is not the child's.
          }
        }
        const part = value.subarray(0, Math.max(0, maxBytes - kept));
        if (part.length > 0) chunks.push(part);
        kept += part.length;
        dropped += value.length - part.length;
      }
    } catch {
      // Cancelled or broken: keep what was read.
    }
  })();
  return {
    get dropped() {
      return dropped;
    },
    async drain(ms) {
      if (!(await within(done, ms)).settled) {
        await reader.cancel().catch(() => {});
        await done;
      }
      reader.releaseLock();
      return new TextDecoder().decode(concat(chunks));
    },
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
