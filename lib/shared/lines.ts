/**
 * Reading lines from a process's pipe: a handler's stdin (its update, or the desk's jobs) and the
 * desk's reports on its stdout, read by the poll loop.
 *
 * @module
 */

/** The first line of a stream, and a promise that resolves when the stream ends. */
export async function readFirstLine(
  stream: ReadableStream<Uint8Array>,
): Promise<{ line: string | undefined; rest: Promise<void> }> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) return { line: buffered === "" ? undefined : buffered, rest: Promise.resolve() };
    buffered += decoder.decode(value, { stream: true });
    const newline = buffered.indexOf("\n");
    if (newline >= 0) {
      const rest = (async () => {
        try {
          while (!(await reader.read()).done) { /* nothing more is expected */ }
        } catch {
          // A broken pipe is an end too.
        }
      })();
      return { line: buffered.slice(0, newline), rest };
    }
  }
}

/** Options for {@linkcode readLines}. */
export interface ReadLinesOptions {
  /**
   * Ends the lines at once, even while a read waits (the desk's stdin on SIGTERM: the loop keeps
   * it open). Lines already read are still yielded. Default: none.
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
