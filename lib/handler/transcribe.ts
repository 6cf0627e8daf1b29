/**
 * Voice notes: fetch the audio from Telegram (see `files.ts`) and run the transcriber on it.
 *
 * @module
 */

import type { Api } from "grammy/web";
import { describeFailure } from "./brain_failure.ts";
import { runTree } from "../shared/process_tree.ts";
import { downloadFile } from "./files.ts";

/** Options for {@linkcode transcribe}. */
export interface TranscribeOptions {
  api: Api;
  /** For the file download URL only; never logged. */
  token: string;
  apiRoot: string;
  fileId: string;
  /** The size the message gave, if any. */
  knownSize?: number;
  /** The transcriber's argv; the audio file's path is appended. */
  command: readonly string[];
  /** A folder the audio may be written to (removed again afterwards). */
  workDir: string;
  /** The transcriber's complete environment (no token). */
  env: Record<string, string>;
  /** The transcriber's limit, in ms. */
  timeoutMs: number;
  /** The download's limits (see `downloadFile`). */
  download?: { timeoutMs?: number; stallMs?: number };
  signal?: AbortSignal;
}

/**
 * The transcript, or why there is none (a phrase for the person) and the transcriber's last
 * output, if any.
 */
export type Transcript =
  | { ok: true; text: string }
  | { ok: false; reason: string; detail?: string };

/** Downloads the audio and transcribes it; never throws for a failure the person should hear of. */
export async function transcribe(options: TranscribeOptions): Promise<Transcript> {
  const { api, token, apiRoot, fileId, knownSize, command, workDir, env, timeoutMs, signal } =
    options;
  const { timeoutMs: downloadTimeoutMs, stallMs } = options.download ?? {};
  await Deno.mkdir(workDir, { recursive: true });
  let local: string | undefined;
  try {
    const download = await downloadFile({
      api,
      token,
      apiRoot,
      fileId,
      knownSize,
      what: "the audio",
      timeoutMs: downloadTimeoutMs,
      stallMs,
      saveAs: async (filePath) =>
        local = await Deno.makeTempFile({
          dir: workDir,
          prefix: "voice-",
          suffix: filePath.match(/\.[A-Za-z0-9]{1,5}$/)?.[0] ?? ".oga",
        }),
      signal,
    });
    if (!download.ok) return { ok: false, reason: download.reason };
    const result = await runTree(command[0], {
      args: [...command.slice(1), download.path],
      env,
      timeoutMs,
      signal,
    });
    const text = result.stdout.trim();
    if (result.code === 0 && !result.timedOut && text !== "") return { ok: true, text };
    const failure = describeFailure(result, timeoutMs);
    if (result.code === 0 && text === "") return { ok: false, reason: "the transcript was empty" };
    return { ok: false, reason: `the transcriber ${failure.reason}`, detail: failure.detail };
  } finally {
    if (local !== undefined) await Deno.remove(local).catch(() => {});
  }
}
