/**
 * Files the person sends: fetching them from Telegram (voice notes, photos, documents), where a
 * message's attachments are kept, and what the brain is told of them.
 *
 * @module
 */

import type { Api } from "grammy/web";
import { fence } from "../shared/quote.ts";
import { apiSignal, describeError, isBadRequest } from "../shared/telegram.ts";
import { quotedText } from "../shared/update.ts";

/** The largest file a bot may download from the hosted Bot API: 20 MiB. */
const MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024;

/** Options for {@linkcode downloadFile}. */
export interface DownloadOptions {
  api: Api;
  /** For the file download URL only; never logged. */
  token: string;
  apiRoot: string;
  fileId: string;
  /** The size the message gave, if any: a file known to be over the limit is not asked for. */
  knownSize?: number;
  /** Where to save it, given Telegram's `file_path` (e.g. `voice/file_3.oga`). */
  saveAs: (filePath: string) => string | Promise<string>;
  /** What the file is, for the reasons: "the audio", "the photo", "the file". */
  what: string;
  /** The longest `getFile` and the transfer may take together, in ms. Default: no limit. */
  timeoutMs?: number;
  /** The longest the transfer may go without a byte, in ms (`getFile` included). Default: none. */
  stallMs?: number;
  signal?: AbortSignal;
}

/** The saved file's path, or why there is none (a phrase for the person). */
export type Download =
  | { ok: true; path: string }
  | DownloadFailure;

/** Why a file could not be fetched. */
export type DownloadFailure = { ok: false; tooBig: boolean; timedOut?: boolean; reason: string };

/**
 * Fetches a file with `getFile` and its download link, and saves it, within the deadlines. Never
 * throws for a failure the person should hear of (a deadline included); a file that could not be
 * saved is not left behind. When `signal` aborts, returns a failure at once: the caller looks at
 * its signal.
 */
export async function downloadFile(options: DownloadOptions): Promise<Download> {
  const { timeoutMs, stallMs, what } = options;
  const total = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
  const stall = new AbortController();
  let stallTimer: ReturnType<typeof setTimeout> | undefined;
  const progress = () => {
    if (stallMs === undefined) return;
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => stall.abort(new Error("no progress")), stallMs);
  };
  const signals = [options.signal, total, stall.signal].filter((s) => s !== undefined);
  progress();
  try {
    const download = await fetchFile(options, { signal: AbortSignal.any(signals), progress });
    if (download.ok || options.signal?.aborted) return download;
    if (total?.aborted) {
      return timedOut(`the download of ${what} took longer than ${seconds(timeoutMs!)}`);
    }
    if (stall.signal.aborted) {
      return timedOut(`the download of ${what} stalled: no data for ${seconds(stallMs!)}`);
    }
    return download;
  } finally {
    clearTimeout(stallTimer);
  }
}

function timedOut(reason: string): Download {
  return { ok: false, tooBig: false, timedOut: true, reason };
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** `getFile`, then the file itself, streamed to where `saveAs` says; see {@linkcode downloadFile}. */
async function fetchFile(
  options: DownloadOptions,
  transfer: { signal: AbortSignal; progress: () => void },
): Promise<Download> {
  const { token, apiRoot, knownSize, saveAs, what } = options;
  const { signal, progress } = transfer;
  if (knownSize !== undefined && knownSize > MAX_DOWNLOAD_BYTES) return tooBig(what);
  const located = await filePathOf(options, signal);
  if (!located.ok) return located;
  const { filePath } = located;
  const failed = (detail: string): Download => ({
    ok: false,
    tooBig: false,
    // An error about the request may quote its URL, which holds the token.
    reason: `the download of ${what} failed (${detail.replaceAll(token, "<token>")})`,
  });
  let response: Response;
  try {
    response = await fetch(`${apiRoot}/file/bot${token}/${filePath}`, { signal });
  } catch (error) {
    return failed(describeError(error));
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    return failed(`HTTP ${response.status}`);
  }
  const path = await saveAs(filePath);
  try {
    await saveBody(response.body, path, { signal, progress });
  } catch (error) {
    await Deno.remove(path).catch(() => {});
    if (error instanceof TooBigError) return tooBig(what);
    return failed(describeError(error));
  }
  return { ok: true, path };
}

function tooBig(what: string): DownloadFailure {
  return {
    ok: false,
    tooBig: true,
    reason: `${what} is over Telegram's 20 MB download limit for bots`,
  };
}

/** Where Telegram keeps the file (its `file_path`), from `getFile`; or why it won't say. */
async function filePathOf(
  options: DownloadOptions,
  signal: AbortSignal,
): Promise<{ ok: true; filePath: string } | DownloadFailure> {
  const { api, fileId, what } = options;
  let filePath: string | undefined;
  try {
    filePath = (await api.getFile(fileId, apiSignal(signal))).file_path;
  } catch (error) {
    if (isBadRequest(error, /file is too big/i)) return tooBig(what);
    return {
      ok: false,
      tooBig: false,
      reason: `Telegram did not hand over ${what} (${describeError(error)})`,
    };
  }
  if (filePath === undefined) {
    return {
      ok: false,
      tooBig: false,
      reason: `Telegram did not give a download path for ${what}`,
    };
  }
  return { ok: true, filePath };
}

/** More bytes came than a bot may download, whatever size was declared. */
class TooBigError extends Error {
  constructor() {
    super(`the download went past ${MAX_DOWNLOAD_BYTES} bytes`);
    this.name = "TooBigError";
  }
}

/**
 * Streams `body` to the file at `path` (a 20 MB document need not sit in memory), telling
 * `progress` of each chunk: the stall deadline starts over. Throws when the transfer fails, and
 * {@linkcode TooBigError} as soon as more than the 20 MB limit has come: the bytes received are
 * counted, not the size the message or `getFile` declared.
 */
async function saveBody(
  body: ReadableStream<Uint8Array>,
  path: string,
  transfer: { signal: AbortSignal; progress: () => void },
): Promise<void> {
  const { signal, progress } = transfer;
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  let received = 0;
  const counted = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      received += chunk.length;
      if (received > MAX_DOWNLOAD_BYTES) throw new TooBigError();
      progress();
      controller.enqueue(chunk);
    },
  });
  await body.pipeThrough(counted, { signal }).pipeTo(file.writable, { signal });
}

/** A file saved for the brain. */
export interface AttachedFile {
  /** Where it was saved. */
  path: string;
  /** Its name as sent, when the saved name differs (given to the brain fenced, as data). */
  originalName?: string;
}

/** Options for {@linkcode attachmentText}. */
export interface AttachmentTextOptions {
  /** The message's caption (or its edit). Default: none. */
  caption?: string;
  /** Whose words the caption is, when not the person's own (`quote.ts`). Default: the person's. */
  origin?: string;
}

/**
 * The brain's text for a message with attachments: the caption (fenced when it is someone else's
 * words, an empty fence for a forward without one), then one `[attached: <path>]` line per file,
 * each followed by its original name, fenced, when saving it changed the name.
 */
export function attachmentText(
  files: readonly AttachedFile[],
  options: AttachmentTextOptions = {},
): string {
  const { caption, origin } = options;
  const own = caption?.trim() ? caption : "";
  const head = origin !== undefined ? [quotedText(own, origin)] : own !== "" ? [own] : [];
  const lines = files.flatMap(({ path, originalName }) => [
    `[attached: ${path}]`,
    ...(originalName === undefined ? [] : [fence(ORIGINAL_NAME, originalName)]),
  ]);
  return [...head, ...lines].join("\n");
}

/** The origin named by the fence around a file's original name. */
export const ORIGINAL_NAME = "the attached file's name as sent, not a path";
