/**
 * The Bot API client and the one place where its failures are sorted.
 *
 * grammY's web build (`grammy/web`) is used for the calls: it loads in about a third of the time of
 * the Node build, needs no environment access and prints no deprecation warning, which matters on
 * the handler's ack path. Its `Api` is the same class as the Node build's.
 *
 * @module
 */

import { Api, GrammyError, HttpError, InputFile } from "grammy/web";
import { delay } from "./abort.ts";
import { backoffMs } from "./backoff.ts";
import { redact } from "./log.ts";

export { Api, GrammyError, HttpError };

/** Options for {@linkcode createApi}. */
export interface ApiOptions {
  /** Bot API root without a trailing slash. */
  apiRoot: string;
  /** Upper bound of one request in seconds (grammY's own timer). Default: 60. */
  timeoutSeconds?: number;
}

/**
 * Creates a Bot API client. Requests carry the token in their URL; errors never do; and every
 * text it sends passes the log's redaction first ({@linkcode redactOutgoing}).
 */
export function createApi(token: string, options: ApiOptions): Api {
  const { apiRoot, timeoutSeconds = 60 } = options;
  const api = new Api(token, { apiRoot, timeoutSeconds });
  api.config.use(redactOutgoing([token]));
  return api;
}

type Transformer = Parameters<Api["config"]["use"]>[0];

/**
 * A transformer that passes every string of a request (texts, captions, button labels, file
 * names) and the content of an uploaded file through the log's redaction (`redact` in `log.ts`):
 * the token, and anything shaped like a bot token, never reaches a chat, whatever quoted it (an
 * error text, a brain's answer). The one place this is done, for every client the bot creates.
 */
export function redactOutgoing(secrets: readonly string[]): Transformer {
  return (prev, method, payload, signal) =>
    prev(method, redactValue(payload, secrets) as typeof payload, signal);
}

function redactValue(value: unknown, secrets: readonly string[]): unknown {
  if (typeof value === "string") return redact(value, secrets);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, secrets));
  if (value instanceof InputFile) return redactFile(value, secrets);
  if (
    typeof value !== "object" || value === null || Object.getPrototypeOf(value) !== Object.prototype
  ) {
    return value;
  }
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, redactValue(item, secrets)]),
  );
}

/** An upload made from bytes (the answer as a document), its text redacted; others as they are. */
function redactFile(file: InputFile, secrets: readonly string[]): InputFile {
  const data = (file as unknown as { fileData: unknown }).fileData;
  const name = file.filename === undefined ? undefined : redact(file.filename, secrets);
  if (!(data instanceof Uint8Array)) return file;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch {
    return file; // Not text: nothing in it reads as a token.
  }
  const clean = redact(text, secrets);
  return clean === text && name === file.filename
    ? file
    : new InputFile(new TextEncoder().encode(clean), name);
}

/** Options for {@linkcode enablePatience}. */
export interface PatienceOptions {
  /** How long one call may keep retrying, in ms. */
  patienceMs: number;
  /** First back-off after a transient failure. Default: 1000 ms (doubling, with jitter). */
  backoffBaseMs?: number;
  /** Longest back-off. Default: 60 000 ms. */
  backoffMaxMs?: number;
  /** Told before each wait. */
  onRetry?: (info: { method: string; summary: string; waitMs: number }) => void;
  /** Randomness for the jitter, in [0, 1). Default: `Math.random`. */
  random?: () => number;
  /** The clock. Default: `performance.now`. */
  now?: () => number;
}

/**
 * Makes every call of `api` wait out what is transient, in place: a 429 (whatever its
 * `retry_after`), a 5xx answer (with or without a JSON body: Telegram's front proxy answers with
 * an HTML page), and network errors (refused, reset, timed out), with capped back-off and jitter,
 * for up to `patienceMs` per call. Everything else fails at once, as does a call whose signal
 * aborts. The failures are sorted by {@linkcode classifyFailure}, as the poll loop's are: one
 * policy for the whole bot.
 */
export function enablePatience(api: Api, options: PatienceOptions): void {
  const {
    patienceMs,
    backoffBaseMs = 1000,
    backoffMaxMs = 60_000,
    onRetry,
    random = Math.random,
    now = () => performance.now(),
  } = options;
  api.config.use(async (prev, method, payload, signal) => {
    const deadline = now() + patienceMs;
    for (let failures = 1;; failures++) {
      let verdict: FailureVerdict;
      try {
        const result = await prev(method, payload, signal);
        if (result.ok) return result;
        verdict = classifyFailure(
          new GrammyError(`Call to '${method}' failed!`, result, method, payload),
        );
        if (verdict.kind !== "wait" && verdict.kind !== "backoff") return result;
      } catch (error) {
        if ((signal as AbortSignal | undefined)?.aborted) throw error;
        verdict = classifyFailure(error);
        if (verdict.kind !== "wait" && verdict.kind !== "backoff") throw error;
      }
      const waitMs = verdict.kind === "wait"
        ? verdict.ms + random() * 1000
        : backoffMs(failures, { baseMs: backoffBaseMs, maxMs: backoffMaxMs, random });
      if (now() + waitMs > deadline) {
        throw new PatienceError(method, { summary: verdict.summary, patienceMs });
      }
      onRetry?.({ method, summary: verdict.summary, waitMs });
      await delay(waitMs, { signal: signal as AbortSignal | undefined });
    }
  });
}

/** Options for {@linkcode PatienceError}. */
export interface PatienceErrorOptions {
  /** The last failure, as {@linkcode classifyFailure} summed it up. Required. */
  summary: string;
  /** How long the call was retried, in ms. Required. */
  patienceMs: number;
}

/** A call kept failing for longer than its patience. */
export class PatienceError extends Error {
  constructor(method: string, options: PatienceErrorOptions) {
    const { summary, patienceMs } = options;
    super(`${method} kept failing for ${Math.round(patienceMs / 1000)} s; last: ${summary}`);
    this.name = "PatienceError";
  }
}

/** The signal type grammY's declarations name (the `abort-controller` shim's); at run time it is the
 * platform's own `AbortSignal`. */
export type ApiSignal = Parameters<Api["getUpdates"]>[1];

/** Passes a platform `AbortSignal` to a grammY call. */
export function apiSignal(signal: AbortSignal | undefined): ApiSignal {
  return signal as unknown as ApiSignal;
}

/** How a failed call should be met. */
export type FailureVerdict =
  /** The token is not (or no longer) valid (401), or not a token at all (404): stop. */
  | { kind: "fatal"; code: number; summary: string }
  /** Telegram asked us to wait this long (429). */
  | { kind: "wait"; ms: number; summary: string }
  /** Transient (network, 5xx, 409 from a second poller, a body that is not JSON): back off, retry. */
  | { kind: "backoff"; summary: string }
  /** Telegram refused this request (any other 4xx): retrying can't help. */
  | { kind: "permanent"; code: number; summary: string };

/**
 * Methods every Bot API has: a 404 from one of them can't mean an unknown method, so it says the
 * token is not one Telegram knows (the hosted API answers 404 to a malformed token), or the API
 * root is not a Bot API.
 */
const EVERY_BOT_API_HAS: ReadonlySet<string> = new Set(["getupdates", "getme"]);

/**
 * Sorts a Bot API failure: 401 is fatal, and so is a 404 from `getUpdates` or `getMe`; 429 waits
 * `retry_after`; other 4xx are permanent (except 409, which another poller causes and which
 * passes); everything else backs off.
 */
export function classifyFailure(error: unknown): FailureVerdict {
  const summary = describeError(error);
  if (error instanceof GrammyError) {
    const code = error.error_code;
    if (code === 401) return { kind: "fatal", code, summary };
    if (code === 404 && EVERY_BOT_API_HAS.has(error.method.toLowerCase())) {
      return { kind: "fatal", code, summary };
    }
    const retryAfter = error.parameters.retry_after;
    if (code === 429) return { kind: "wait", ms: (retryAfter ?? 1) * 1000, summary };
    if (code >= 400 && code < 500 && code !== 409) return { kind: "permanent", code, summary };
  }
  return { kind: "backoff", summary };
}

/**
 * One line that says what failed, without the request URL (Deno's fetch errors include it, and with
 * it the token). Callers still log through the redacting sink.
 */
export function describeError(error: unknown): string {
  if (error instanceof GrammyError) {
    return `${error.method}: ${error.error_code} ${error.description}`;
  }
  if (error instanceof HttpError) {
    const cause = error.error;
    const detail = cause instanceof SyntaxError
      ? "the answer was not JSON"
      : cause instanceof Error
      ? stripUrls(cause.message)
      : String(cause);
    return `${error.message} (${detail})`;
  }
  if (error instanceof Error) return `${error.name}: ${stripUrls(error.message)}`;
  return String(error);
}

/** Tells whether a failure is Telegram's "the message is gone" or a reaction it won't take. */
export function isBadRequest(error: unknown, pattern: RegExp): boolean {
  return error instanceof GrammyError && error.error_code === 400 &&
    pattern.test(error.description);
}

function stripUrls(text: string): string {
  // The URL ends before a bracket or quote, and punctuation after it stays: "(<url>): refused".
  return text.replace(
    /\bhttps?:\/\/[^\s()<>"']+/g,
    (url) => `<url>${url.match(/[.,:;]+$/)?.[0] ?? ""}`,
  );
}
