/**
 * One brain call: attempts, each under a time limit and with a marker of its own, until one
 * answers, the attempts run out, or another wouldn't help.
 *
 * How one attempt runs is its {@linkcode AttemptRunner}'s: by default the plain protocol (the
 * message on stdin, the reply on stdout: exit 0 with a non-empty stdout is an answer, anything
 * else a failed attempt); the Claude CLI has its driver (`claude_driver.ts`). A timed-out
 * attempt's whole process group is killed, and so, once any attempt ends (answered, failed, timed
 * out, cancelled or stopped), is every process that carries the attempt's marker (`sweep.ts`):
 * what a brain starts dies with it, even what left its group.
 *
 * @module
 */

import { attemptCgroup, CGROUP_ENV, killCgroups } from "../shared/cgroup.ts";
import { runTree, type RunTreeResult } from "../shared/process_tree.ts";
import { type BrainFailure, describeFailure } from "./brain_failure.ts";
import { cutNote } from "./texts.ts";
import { botMarker, RUN_MARKER_ENV, runMarker, sweep } from "../shared/sweep.ts";
import { getLog } from "../shared/log.ts";
import type { Usage } from "./costs.ts";
import { EX_TEMPFAIL, retryAfterLine } from "./usage_limit.ts";

export { parseUmask, PERSON_UMASK_ENV } from "../shared/private.ts";
/** The variable that names the brain's working folder (set by the poll process for handlers). */
export const BRAIN_WORKDIR_ENV = "COORD_BRAIN_WORKDIR";

/** Options for {@linkcode callBrain}. */
export interface BrainOptions {
  /** The brain's argv. */
  command: readonly string[];
  /**
   * The message text, written to stdin; a function is asked again before each attempt (a message
   * grows while it is worked on: what was steered into a failed attempt goes into the next).
   */
  input: string | (() => string);
  /**
   * The brain's complete environment (the caller removes the token). `COORD_CGROUP`, when set,
   * names the bot's cgroup: each attempt then runs in a cgroup of its own under it, and is ended
   * with `cgroup.kill` (`cgroup.ts`); the brain itself doesn't get the variable.
   */
  env: Record<string, string>;
  /** One attempt's limit in ms. */
  timeoutMs: number;
  /** Attempts in all. Default: 1. */
  maxAttempts?: number;
  /** Aborting it kills the running attempt and stops. */
  signal?: AbortSignal;
  /** Told before each attempt (1-based). */
  onAttempt?: (attempt: number) => void;
  /** Told each attempt's pid (its process group) once it has started. */
  onSpawn?: (pid: number) => void;
  /**
   * Told each attempt's marker (`COORD_BRAIN_RUN`) before it starts: whoever holds it can sweep the
   * attempt's processes later without ever hitting an unrelated process that reused a pid.
   */
  onRun?: (run: string) => void;
  /** Told each piece of the brain's stdout as it comes (see `runTree`). */
  onStdout?: (text: string) => void;
  /** Told about each failed attempt. */
  onFailure?: (attempt: number, failure: BrainFailure) => void;
  /** Between SIGTERM and SIGKILL when an attempt is killed. Default: 2000 ms. */
  killGraceMs?: number;
  /** Runs one attempt. Default: {@linkcode plainAttempts}`()`, the plain protocol. */
  runner?: AttemptRunner;
  /**
   * This bot's marker (`botMarker()` of the state folder). Default: derived from
   * `env.COORD_STATE_DIR`, else a random one (then only the attempt's own sweep finds its escapes).
   */
  bot?: string;
  /** The brain's working folder. Default: `env.COORD_BRAIN_WORKDIR`, else ours. */
  cwd?: string;
  /** The brain's umask. Default: `runTree`'s (`env.COORD_PERSON_UMASK`, else ours). */
  umask?: number;
  /** Told about a sweep that killed escaped processes, or could not run. */
  onSweep?: (report: { killed: number[]; error?: string }) => void;
}

/** What one attempt is given to run with (see {@linkcode AttemptRunner}). */
export interface AttemptContext {
  /** The message text. */
  input: string;
  /** The brain's complete environment, the attempt's marker included. */
  env: Record<string, string>;
  cwd?: string;
  umask?: number;
  /** The attempt's own cgroup, when brains run in cgroups (`cgroup.ts`). */
  cgroup?: string;
  /** The attempt's limit in ms. */
  timeoutMs: number;
  signal?: AbortSignal;
  killGraceMs?: number;
  onSpawn?: (pid: number) => void;
  onStdout?: (text: string) => void;
  /** Run once the attempt's process has exited or been killed: the sweep of its marker. */
  afterExit: () => Promise<unknown>;
}

/** One attempt, run. */
export interface AttemptRun {
  verdict: AttemptVerdict;
  /** The signal aborted it. */
  aborted: boolean;
  /** Why the command could not start (no later attempt would start either). */
  spawnError?: string;
  /**
   * Resolves once every process of the attempt is gone, when that may come after the verdict (the
   * Claude driver answers at the CLI's result and ends the CLI after). Absent: gone already.
   */
  settled?: Promise<void>;
}

/** Runs one attempt of the brain with `command`. */
export type AttemptRunner = (
  command: readonly string[],
  context: AttemptContext,
) => Promise<AttemptRun>;

/** The plain protocol's attempts: `runTree`, the input on stdin, read by `parse`. */
export function plainAttempts(
  parse: (result: RunTreeResult, timeoutMs: number) => AttemptVerdict = plainVerdict,
): AttemptRunner {
  return async (command, context) => {
    const result = await runTree(command[0], { ...context, args: command.slice(1) });
    const verdict = parse(result, context.timeoutMs);
    if (verdict.ok) verdict.reply = saidIfCut(verdict.reply, result);
    return { verdict, aborted: result.aborted, spawnError: result.spawnError };
  };
}

/** What one attempt came to. */
export type AttemptVerdict =
  | { ok: true; reply: string; sessionId?: string; usage?: Usage; stopped?: boolean }
  | { ok: false; failure: BrainFailure };

/**
 * What the brain call came to. `settled`, when present, resolves once the last attempt's
 * processes are gone (they may outlive the answer by a few seconds: `claude_turn.ts`).
 */
export type BrainOutcome =
  & (
    | {
      ok: true;
      reply: string;
      attempts: number;
      sessionId?: string;
      usage?: Usage;
      /** The turn was interrupted: `reply` is what it had by then. */
      stopped?: boolean;
    }
    | { ok: false; failure: BrainFailure; attempts: number; aborted: boolean }
  )
  & { settled?: Promise<void> };

/** Runs the brain until an attempt answers, the attempts run out, or `signal` aborts. */
export async function callBrain(options: BrainOptions): Promise<BrainOutcome> {
  const {
    command,
    input,
    env,
    timeoutMs,
    maxAttempts = 1,
    signal,
    onAttempt,
    onSpawn,
    onRun,
    onStdout,
    onFailure,
    killGraceMs,
    runner = plainAttempts(),
    bot = env.COORD_STATE_DIR ? botMarker(env.COORD_STATE_DIR) : botMarker(crypto.randomUUID()),
    cwd = env[BRAIN_WORKDIR_ENV] || undefined,
    umask,
    onSweep = logSweep,
  } = options;
  let failure: BrainFailure = { reason: "was not run", detail: "" };
  const { [CGROUP_ENV]: cgroupBase, ...brainEnv } = env;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (signal?.aborted) return { ok: false, failure, attempts: attempt - 1, aborted: true };
    onAttempt?.(attempt);
    const run = runMarker(bot);
    onRun?.(run);
    const cgroup = cgroupBase ? attemptCgroup(cgroupBase, run) : undefined;
    const { verdict, aborted, spawnError, settled } = await runner(command, {
      input: typeof input === "function" ? input() : input,
      env: { ...brainEnv, [RUN_MARKER_ENV]: run },
      cgroup,
      cwd,
      umask,
      timeoutMs,
      signal,
      killGraceMs,
      onSpawn,
      onStdout,
      afterExit: () => endCgroup(cgroup, onSweep).then(() => sweepRun(run, onSweep)),
    });
    const gone = settled === undefined ? {} : { settled };
    if (verdict.ok) return { ...verdict, attempts: attempt, ...gone };
    failure = verdict.failure;
    if (aborted) return { ok: false, failure, attempts: attempt, aborted: true, ...gone };
    onFailure?.(attempt, failure);
    // A brain that can't even start won't start on the next attempt either.
    if (spawnError !== undefined || failure.final || attempt === maxAttempts) {
      return { ok: false, failure, attempts: attempt, aborted: false, ...gone };
    }
    // The next attempt starts once this one's processes are gone (one CLI per conversation).
    await settled;
  }
  return { ok: false, failure, attempts: maxAttempts, aborted: false };
}

/** An answer whose end was dropped (over the bot's limit) ends with a line that says so. */
function saidIfCut(reply: string, result: RunTreeResult): string {
  return result.stdoutDropped === undefined
    ? reply
    : `${reply}\n\n${cutNote(result.stdoutDropped)}`;
}

/** Ends an attempt's cgroup, if it had one: everything in it dies, whatever it did. */
async function endCgroup(cgroup: string | undefined, onSweep: BrainOptions["onSweep"]) {
  if (cgroup === undefined) return;
  try {
    await killCgroups([cgroup]);
  } catch (error) {
    onSweep?.({ killed: [], error: String(error) });
  }
}

/** Kills whatever an attempt left behind, in its group or out of it (setsid): all of its marker. */
async function sweepRun(run: string, onSweep: BrainOptions["onSweep"]): Promise<void> {
  try {
    const killed = await sweep({ run });
    if (killed.length > 0) onSweep?.({ killed });
  } catch (error) {
    onSweep?.({ killed: [], error: String(error) });
  }
}

function logSweep(report: { killed: number[]; error?: string }) {
  const log = getLog("brain");
  if (report.error !== undefined) {
    log.warn("cannot sweep the brain's escaped processes: {error}", { error: report.error });
  } else {
    log.info("killed {n} process(es) the brain left behind: {pids}", {
      n: report.killed.length,
      pids: report.killed.join(", "),
    });
  }
}

/** The plain brain protocol: exit 0 with a non-empty stdout is the reply. */
export function plainVerdict(result: RunTreeResult, timeoutMs: number): AttemptVerdict {
  if (result.code === 0 && result.stdout.trim() !== "" && !result.timedOut && !result.aborted) {
    return { ok: true, reply: result.stdout.trim() };
  }
  const failure = describeFailure(result, timeoutMs);
  // The protocol's "later, please": exit 75 (EX_TEMPFAIL) and a first line `retry-after: …`.
  const retryAt = result.code === EX_TEMPFAIL
    ? retryAfterLine(result.stdout, Date.now())
    : undefined;
  if (retryAt !== undefined) {
    return {
      ok: false,
      failure: { ...failure, retryAt, final: true, waitReason: "the brain asked to be run later" },
    };
  }
  return { ok: false, failure };
}
