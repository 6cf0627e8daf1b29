/**
 * `forge-coordinator health`: is the poll loop's heartbeat fresh?
 *
 * @module
 */

import { readHeartbeat } from "../shared/heartbeat.ts";
import { parseHealthSettings } from "../shared/config.ts";
import { POLL_SLACK_S } from "./poller.ts";

/** The verdict on a heartbeat. */
export interface Health {
  ok: boolean;
  /** One line for a person or a monitor. */
  line: string;
}

/** Options for {@linkcode checkHealth}. */
export interface HealthOptions {
  /** The heartbeat file. */
  path: string;
  /** Older than this is stale, in ms. */
  thresholdMs: number;
  /** The clock, ms since the epoch. Default: `Date.now`. */
  now?: () => number;
}

/** Reads the heartbeat and judges it against the threshold. */
export function checkHealth(options: HealthOptions): Health {
  const { path, thresholdMs, now = Date.now } = options;
  const at = readHeartbeat(path);
  const threshold = `${Math.round(thresholdMs / 1000)} s`;
  if (at === undefined) {
    return { ok: false, line: `unhealthy: no heartbeat at ${path} (threshold ${threshold})` };
  }
  const ageMs = Math.max(0, now() - at.getTime());
  const age = `${(ageMs / 1000).toFixed(1)} s`;
  return ageMs <= thresholdMs
    ? { ok: true, line: `healthy: heartbeat ${age} old (threshold ${threshold})` }
    : { ok: false, line: `unhealthy: heartbeat ${age} old, over the threshold of ${threshold}` };
}

/**
 * How old a heartbeat may get: the longest the loop may legitimately spend in one iteration (a
 * long poll plus its slack) with room to spare.
 */
export function healthThresholdMs(pollTimeoutS: number): number {
  return (pollTimeoutS + POLL_SLACK_S) * 1000 * 1.5;
}

/** Exit status for bad arguments (sysexits.h EX_USAGE). */
const EX_USAGE = 64;

/** Options for {@linkcode runHealthCommand}. */
export interface RunHealthCommandOptions {
  /** Prints the health line. Default: `console.log`. */
  print?: (line: string) => void;
  /** Prints the usage error for bad arguments. Default: `console.error`. */
  printError?: (line: string) => void;
}

/**
 * `forge-coordinator health [--max-age SECONDS]`, for monitors other than systemd (a timer, an
 * uptime checker): prints one line and returns the exit status (0 healthy, 1 not, 64 bad
 * arguments). Throws `ConfigError` for a malformed setting.
 */
export function runHealthCommand(
  args: string[],
  env: Readonly<Record<string, string | undefined>>,
  options: RunHealthCommandOptions = {},
): number {
  const { print = console.log, printError = console.error } = options;
  const { stateDir, pollTimeoutS } = parseHealthSettings(env);
  const maxAge = parseMaxAge(args);
  if (maxAge === null) {
    printError(
      `forge-coordinator health: unknown arguments "${
        args.join(" ")
      }"; usage: health [--max-age SECONDS]`,
    );
    return EX_USAGE;
  }
  const health = checkHealth({
    path: `${stateDir}/heartbeat`,
    thresholdMs: maxAge ?? healthThresholdMs(pollTimeoutS),
  });
  print(health.line);
  return health.ok ? 0 : 1;
}

/** `--max-age SECONDS` (or `--max-age=SECONDS`) in ms; `undefined` when absent, `null` when bad. */
function parseMaxAge(args: string[]): number | undefined | null {
  const joined = args.join("=");
  if (joined === "") return undefined;
  const match = joined.match(/^--max-age=(\d+(?:\.\d+)?)$/);
  return match ? Number(match[1]) * 1000 : null;
}
