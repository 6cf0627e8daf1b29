/**
 * `forge-coordinator health`: is the poll loop's heartbeat fresh?
 *
 * @module
 */

import { readHeartbeat } from "../shared/heartbeat.ts";
import { POLL_SLACK_S } from "./poll.ts";

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
