/**
 * Where a brain's progress notes come from: the lines it appends to its progress file
 * (`COORD_PROGRESS_FILE`, any brain) and the events of a Claude brain's stream
 * (`claude_stream.ts`). Both are handed to a {@linkcode Progress}, which shows them on the phone.
 *
 * @module
 */

import { Progress, type ProgressOptions } from "./progress.ts";
import { StreamParser } from "./claude_stream.ts";

/** Options for {@linkcode followProgressFile}. */
export interface FollowProgressFileOptions {
  /** How often the file is looked at, in ms. Default: `500`. */
  pollMs?: number;
}

/**
 * Follows a progress file (`COORD_PROGRESS_FILE`): every `pollMs`, the lines appended since the
 * last look go to `onLine`. Returns a function that stops it (after one last look).
 */
export function followProgressFile(
  path: string,
  onLine: (line: string) => void,
  options: FollowProgressFileOptions = {},
): () => void {
  const { pollMs = 500 } = options;
  let offset = 0;
  let partial = "";
  const decoder = new TextDecoder();
  const look = () => {
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(path);
    } catch {
      return;
    }
    if (bytes.length <= offset) return;
    partial += decoder.decode(bytes.subarray(offset), { stream: true });
    offset = bytes.length;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) if (line.trim() !== "") onLine(line);
  };
  const timer = setInterval(look, pollMs);
  return () => {
    clearInterval(timer);
    look();
  };
}

/** Options for {@linkcode watchBrain}. */
export interface WatchOptions extends ProgressOptions {
  /** The message's own folder, where the progress file goes. */
  dir: string;
  /** The brain's environment: `COORD_PROGRESS_FILE` is added to it. */
  env: Record<string, string>;
  /** True for a Claude brain (the Claude driver), whose stream-json output is read for notes too. */
  claudeStream: boolean;
}

/**
 * Shows a brain's progress while it works: makes its progress file (and names it in `env`),
 * follows it, and reads the Claude CLI's stream as it comes. Call `onStdout` with the brain's
 * stdout pieces, and `stop()` when the brain is done (before the answer is sent).
 */
export function watchBrain(
  options: WatchOptions,
): {
  onStdout: (text: string) => void;
  status: Progress["status"];
  stop: () => Promise<void>;
} {
  const { dir, env, claudeStream, log, ids } = options;
  const progress = new Progress(options);
  const path = `${dir}/progress.log`;
  let unfollow = () => {};
  try {
    Deno.mkdirSync(dir, { recursive: true });
    Deno.writeTextFileSync(path, "");
    env.COORD_PROGRESS_FILE = path;
    unfollow = followProgressFile(path, (line) => progress.note(line));
  } catch (error) {
    log.warn("no progress file for update {updateId}: {error}", { ...ids, error: String(error) });
  }
  const parser = new StreamParser();
  progress.start();
  return {
    onStdout: (text) => {
      if (!claudeStream) return;
      for (const event of parser.push(text)) {
        if (event.kind === "tool") progress.tool(event.note);
        else if (event.kind === "text") progress.note(event.note);
      }
    },
    status: (shown) => progress.status(shown),
    stop: async () => {
      // The file's last lines reach the display, which stops at once: the answer follows and
      // takes the progress's place, so they are never shown on their own.
      unfollow();
      await progress.stop();
      log.info("update {updateId}: {calls} progress call(s)", { ...ids, calls: progress.calls });
    },
  };
}
