/**
 * Reading lines from a process's pipe: a handler's stdin (its update, or the desk's jobs), the
 * desk's reports on its stdout, read by the poll loop, and the Claude CLI's stream-json output.
 *
 * @module
 */

/** Options for {@linkcode readLines}. */
export interface ReadLinesOptions {
  /**
   * Ends the lines at once, even while a read waits (a stdin the other side keeps open). Lines
   * already read are still yielded. Default: none.
   */
  signal?: AbortSignal;
}

/** The lines of a stream (without their newlines), as they come; a last unterminated one too. */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  options: ReadLinesOptions = {},
): AsyncGenerator<string> {
  const { signal } = options;
  let buffered = "";
  try {
    // An abort cancels the source and errors the decoded side, which ends the loop below.
    for await (const chunk of stream.pipeThrough(new TextDecoderStream(), { signal })) {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        yield buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
      }
    }
  } catch {
    // A broken pipe is an end too, and so is a stop.
  }
  if (buffered !== "" && !signal?.aborted) yield buffered;
}

/**
 * Splits text that comes in pieces (a child's stdout as `runTree` hands it over) into lines,
 * without their newlines. Only each new piece is searched, so a long line in many pieces stays
 * linear.
 */
export class LineSplitter {
  #parts: string[] = [];

  /** Takes the next piece; returns the lines it completed. */
  push(piece: string): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = piece.indexOf("\n"); nl !== -1; nl = piece.indexOf("\n", start)) {
      this.#parts.push(piece.slice(start, nl));
      lines.push(this.#parts.join(""));
      this.#parts = [];
      start = nl + 1;
    }
    if (start < piece.length) this.#parts.push(piece.slice(start));
    return lines;
  }

  /** The last unterminated line, if any (and forgets it). */
  end(): string | undefined {
    const line = this.#parts.join("");
    this.#parts = [];
    return line === "" ? undefined : line;
  }
}
