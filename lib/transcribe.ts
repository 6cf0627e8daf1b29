/**
 * Voice notes: fetch the audio from Telegram and run the transcriber on it.
 *
 * @module
 */

import type { Api } from "grammy/web";
import { describeFailure } from "./brain.ts";
import { runTree } from "./process_tree.ts";
import { apiSignal, describeError, isBadRequest } from "./telegram.ts";

/** Options for {@linkcode transcribe}. */
export interface TranscribeOptions {
  api: Api;
  /** For the file download URL only; never logged. */
  token: string;
  apiRoot: string;
  fileId: string;
  /** The transcriber's argv; the audio file's path is appended. */
  command: readonly string[];
  /** A folder the audio may be written to (removed again afterwards). */
  workDir: string;
  /** The transcriber's complete environment (no token). */
  env: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** The transcript, or why there is none (a sentence for the person). */
export type Transcript = { ok: true; text: string } | { ok: false; reason: string };

/** Downloads the audio and transcribes it; never throws for a failure the person should hear of. */
export async function transcribe(options: TranscribeOptions): Promise<Transcript> {
  const { api, token, apiRoot, fileId, command, workDir, env, timeoutMs, signal } = options;
  let filePath: string | undefined;
  try {
    filePath = (await api.getFile(fileId, apiSignal(signal))).file_path;
  } catch (error) {
    if (isBadRequest(error, /file is too big/i)) {
      return { ok: false, reason: "the audio is over Telegram's 20 MB download limit for bots" };
    }
    return { ok: false, reason: `Telegram did not hand over the audio (${describeError(error)})` };
  }
  if (filePath === undefined) {
    return { ok: false, reason: "Telegram did not give a download path for the audio" };
  }
  const extension = filePath.match(/\.[A-Za-z0-9]{1,5}$/)?.[0] ?? ".oga";
  await Deno.mkdir(workDir, { recursive: true });
  const local = await Deno.makeTempFile({ dir: workDir, prefix: "voice-", suffix: extension });
  try {
    let response: Response;
    try {
      response = await fetch(`${apiRoot}/file/bot${token}/${filePath}`, { signal });
    } catch (error) {
      return { ok: false, reason: `the audio download failed (${describeError(error)})` };
    }
    if (!response.ok) {
      await response.body?.cancel();
      return { ok: false, reason: `the audio download failed (HTTP ${response.status})` };
    }
    await Deno.writeFile(local, new Uint8Array(await response.arrayBuffer()));
    const result = await runTree(command[0], {
      args: [...command.slice(1), local],
      env,
      timeoutMs,
      signal,
    });
    const text = result.stdout.trim();
    if (result.code === 0 && !result.timedOut && text !== "") return { ok: true, text };
    const failure = describeFailure(result, timeoutMs);
    if (result.code === 0 && text === "") return { ok: false, reason: "the transcript was empty" };
    return {
      ok: false,
      reason: `the transcriber ${failure.reason}${failure.detail ? `: ${failure.detail}` : ""}`,
    };
  } finally {
    await Deno.remove(local).catch(() => {});
  }
}
