/**
 * Logging: one line per event on stderr (journald takes it), the token redacted everywhere.
 *
 * LogTape stands in for `@std/log`. Its text formatter lets newlines through (in templates and error
 * stacks); journald wants one record per line, so the sink escapes them. The sink writes
 * synchronously: a line is never lost to an exit, and one short `write(2)` to a pipe is atomic, so
 * the lines of concurrent handlers never interleave.
 *
 * Under systemd (`$JOURNAL_STREAM` set: stderr is connected to journald) each line starts with its
 * `sd-daemon(3)` priority (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug) and carries no
 * timestamp of its own (journald keeps one), so `journalctl -p warning` finds the bot's warnings.
 *
 * @module
 */

import { configure, getLogger, getTextFormatter } from "@logtape/logtape";
import type { Logger, LogRecord, Sink } from "@logtape/logtape";
import { underJournald } from "./config_files.ts";

export type { Logger };

/** Anything shaped like a Telegram bot token, in case one reaches us that we weren't told about. */
const TOKEN_SHAPE = /\d{3,}:[A-Za-z0-9_-]{20,}/g;

/** Replaces every secret, and anything shaped like a bot token, with a marker. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret !== "") out = out.replaceAll(secret, "[redacted]");
  }
  return out.replace(TOKEN_SHAPE, "[redacted]");
}

/** The `sd-daemon(3)` prefix of each level. */
export const JOURNAL_PRIORITIES: Readonly<Record<LogRecord["level"], string>> = {
  fatal: "<2>",
  error: "<3>",
  warning: "<4>",
  info: "<6>",
  debug: "<7>",
  trace: "<7>",
};

/** Options for {@linkcode oneLineFormatter}. */
export interface FormatterOptions {
  /** Write for journald: a priority prefix, no timestamp. Default: false. */
  journal?: boolean;
}

/** Formats a log record as exactly one redacted line. */
export function oneLineFormatter(
  secrets: readonly string[],
  options: FormatterOptions = {},
): (record: LogRecord) => string {
  const { journal = underJournald() } = options;
  const text = getTextFormatter({ timestamp: journal ? "none" : "date-time-tz", value: "bare" });
  return (record) => {
    const line = redact(text(record).trimEnd().replaceAll("\n", "\\n"), secrets);
    return journal ? `${JOURNAL_PRIORITIES[record.level]}${line}\n` : `${line}\n`;
  };
}

/** Options for {@linkcode setupLogging}. */
export interface LoggingOptions {
  /** Strings that must never appear in a log line (the token). */
  secrets: readonly string[];
  /** Lowest level written. Default: "info". */
  level?: "debug" | "info" | "warning";
  /** Where lines go. Default: stderr. */
  write?: (bytes: Uint8Array) => void;
  /**
   * Lines for journald (see the module doc). Default: true when `JOURNAL_STREAM` is set (read
   * here, at the edge, when the caller doesn't say).
   */
  journal?: boolean;
}

/** Sends every `coord` logger's records to stderr, one redacted line each. */
export async function setupLogging(options: LoggingOptions): Promise<void> {
  const { secrets, level = "info", write = writeStderr, journal = underJournald() } = options;
  const format = oneLineFormatter(secrets, { journal });
  const encoder = new TextEncoder();
  const sink: Sink = (record) => write(encoder.encode(format(record)));
  await configure({
    reset: true,
    sinks: { stderr: sink },
    loggers: [
      { category: ["coord"], sinks: ["stderr"], lowestLevel: level },
      { category: ["logtape", "meta"], sinks: ["stderr"], lowestLevel: "warning" },
    ],
  });
}

/** The logger of one part of the bot (`main`, `handler`, `dispatch`...). */
export function getLog(name: string): Logger {
  return getLogger(["coord", name]);
}

/** Options for {@linkcode writeEarlyLine}. */
export interface EarlyLineOptions {
  /** The line's level. Default: "error". */
  level?: LogRecord["level"];
  /** Write for journald (a priority prefix). Default: true when `JOURNAL_STREAM` is set. */
  journal?: boolean;
  /** Where the line goes. Default: stderr. */
  write?: (bytes: Uint8Array) => void;
}

/**
 * Writes one line before logging is set up (a configuration error, which stops the bot before it
 * has a token to redact), with the same priority prefix under journald as every other line: the
 * line that says why the bot is down must show in `journalctl -p err`.
 */
export function writeEarlyLine(text: string, options: EarlyLineOptions = {}): void {
  const { level = "error", journal = underJournald(), write = writeStderr } = options;
  const line = text.replaceAll("\n", " ").replaceAll("\r", " ");
  write(new TextEncoder().encode(`${journal ? JOURNAL_PRIORITIES[level] : ""}${line}\n`));
}

function writeStderr(bytes: Uint8Array) {
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}

/**
 * Sends an uncaught error or unhandled rejection through `log` (and so through the redaction)
 * instead of Deno's own report, which would print the raw error and could quote the token; then
 * exits with `exitCode`.
 */
export function logUncaught(log: Logger, exitCode: number): void {
  const fail = (kind: string, error: unknown) => {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    log.error("{kind}: {error}", { kind, error: text });
    Deno.exit(exitCode);
  };
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    fail("uncaught error", event.error);
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    fail("unhandled rejection", event.reason);
  });
}
