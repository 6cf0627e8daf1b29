/**
 * The Bot API client and the one place where its failures are sorted.
 *
 * grammY's web build (`grammy/web`) is used for the calls: it loads in about a third of the time of
 * the Node build, needs no environment access and prints no deprecation warning, which matters on
 * the handler's ack path. Its `Api` is the same class as the Node build's.
 *
 * @module
 */

import { Api, GrammyError, HttpError } from "grammy/web";

export { Api, GrammyError, HttpError };

/** Options for {@linkcode createApi}. */
export interface ApiOptions {
  /** Bot API root without a trailing slash. */
  apiRoot: string;
  /** Upper bound of one request in seconds (grammY's own timer). Default: 60. */
  timeoutSeconds?: number;
}

/** Creates a Bot API client. Requests carry the token in their URL; errors never do. */
export function createApi(token: string, options: ApiOptions): Api {
  const { apiRoot, timeoutSeconds = 60 } = options;
  return new Api(token, { apiRoot, timeoutSeconds });
}

/** Options for {@linkcode enableRetries}. */
export interface RetryOptions {
  /** Retries per call after a 429 or a 5xx. Default: 3. */
  maxRetryAttempts?: number;
  /** A longer `retry_after` than this fails the call at once. Default: 60 s. */
  maxDelaySeconds?: number;
}

/**
 * Makes the client wait out 429 (`retry_after`) and retry 5xx answers, with grammY's auto-retry
 * plugin. Loaded lazily: the plugin pulls in grammY's Node build (about 0.1 s), which must not
 * delay the handler's first reaction.
 */
export async function enableRetries(api: Api, options: RetryOptions = {}): Promise<void> {
  const { maxRetryAttempts = 3, maxDelaySeconds = 60 } = options;
  // The Node build grammY pulls in warns that `punycode` is deprecated on every start: noise in the
  // journal that says nothing about us.
  const { default: process } = await import("node:process");
  (process as { noDeprecation?: boolean }).noDeprecation = true;
  const { autoRetry } = await import("@grammyjs/auto-retry");
  // Network errors are not retried here: the plugin recognises only the Node build's HttpError, and
  // a handler that lost the network is better off failing fast and saying so in its log.
  api.config.use(autoRetry({ maxRetryAttempts, maxDelaySeconds, rethrowHttpErrors: true }));
}

/** The signal type grammY's declarations name (the `abort-controller` shim's); at run time it is the
 * platform's own `AbortSignal`. */
export type ApiSignal = Parameters<Api["getUpdates"]>[1];

/** Passes a platform `AbortSignal` to a grammY call. */
export function apiSignal(signal: AbortSignal | undefined): ApiSignal {
  return signal as unknown as ApiSignal;
}

/** How the poll loop should react to a failed call. */
export type FailureVerdict =
  /** The token is not (or no longer) valid: stop. */
  | { kind: "fatal"; summary: string }
  /** Telegram asked us to wait this long. */
  | { kind: "wait"; ms: number; summary: string }
  /** Anything transient (network, 5xx, 409, bad body): back off and retry. */
  | { kind: "backoff"; summary: string };

/** Sorts a Bot API failure: 401 is fatal, 429 waits `retry_after`, everything else backs off. */
export function classifyFailure(error: unknown): FailureVerdict {
  const summary = describeError(error);
  if (error instanceof GrammyError) {
    if (error.error_code === 401) return { kind: "fatal", summary };
    const retryAfter = error.parameters.retry_after;
    if (error.error_code === 429 && typeof retryAfter === "number") {
      return { kind: "wait", ms: retryAfter * 1000, summary };
    }
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
  return text.replace(/\bhttps?:\/\/\S+/g, "<url>");
}
