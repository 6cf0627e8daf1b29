/**
 * Running a command in its own process group, and killing the whole group.
 *
 * A brain (or a handler) may start grandchildren of its own. Killing only the direct child leaves them
 * running under PID 1 and holding our pipes, so every process we start is started `detached` (its own
 * session and process group, pgid = pid) and is stopped by signalling the group: `kill(-pid)`. It
 * starts through the shell of `exec_wrapper.ts` (stdin, stdout and stderr only; the umask; a cgroup).
 *
 * `runTree` runs a command to its end with its input given at once; `startTree` keeps its stdin
 * open for the caller to write to while it runs, and lets the caller end it early (the Claude
 * driver, which has its answer before the CLI exits).
 *
 * @module
 */

import { within } from "./abort.ts";
import { wrapperArgv, wrapperError } from "./exec_wrapper.ts";
import { collect, type Collector, inputOf } from "./pipes.ts";
import { parseUmask, PERSON_UMASK_ENV } from "./private.ts";

export { withUmask } from "./exec_wrapper.ts";

/**
 * Sends `signal` to the process group led by `pid`; a group that is already gone is not an error.
 * A pid of 1 or less (or not a whole number) is never signalled: `kill(-1)` would reach every
 * process of ours, `kill(0)` our own group. Returns whether the signal was sent.
 */
export function killGroup(pid: number, signal: Deno.Signal): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 1) return false;
  try {
    Deno.kill(-pid, signal);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Options for {@linkcode startTree}. */
export interface StartTreeOptions {
  /** Arguments after the command. Default: none. */
  args?: readonly string[];
  /** The complete environment of the child (nothing is inherited). Default: empty. */
  env?: Record<string, string>;
  /** Working directory. Default: ours. */
  cwd?: string;
  /** The run's limit in milliseconds; past it the whole group is killed. Default: no limit. */
  timeoutMs?: number;
  /** Aborting it kills the whole group. */
  signal?: AbortSignal;
  /** Between SIGTERM and SIGKILL to the group. Default: 2000 ms. */
  killGraceMs?: number;
  /** Output kept per stream; the rest is read and dropped so the child never blocks. Default: 1 MiB. */
  maxOutputBytes?: number;
  /** Told the child's pid (= its process group id) once it has started. */
  onSpawn?: (pid: number) => void;
  /** Told each piece of stdout as it comes (decoded, pieces may split lines), e.g. for progress. */
  onStdout?: (text: string) => void;
  /**
   * Run once the child has exited (or been killed), before its output is drained: the brain's
   * sweep of escaped descendants, which may still hold the pipes. Its errors are ignored.
   */
  afterExit?: () => Promise<unknown>;
  /**
   * The child's umask (the person's own, while the bot keeps 077 for its own files: the brain's
   * and the transcriber's files are theirs to decide). Default: `env.COORD_PERSON_UMASK` (octal,
   * set by the poll process), else ours, unchanged.
   */
  umask?: number;
  /**
   * A cgroup folder (cgroup v2) the child creates and joins before the command runs, so that the
   * command and everything it starts are in it (`cgroup.ts`); ending it is the caller's. Default:
   * none.
   */
  cgroup?: string;
}

/** Options for {@linkcode runTree}. */
export interface RunTreeOptions extends StartTreeOptions {
  /** Written to the child's stdin, which is then closed. Default: stdin is closed at once. */
  input?: string | Uint8Array;
}

/** What one run of a command ended with. */
export interface RunTreeResult {
  /** Exit code (128 + n when killed by signal n), or `undefined` when the command could not start. */
  code?: number;
  /** The signal that ended the child, if any. */
  signal?: Deno.Signal | null;
  stdout: string;
  stderr: string;
  /** True when the limit ran out and the group was killed. */
  timedOut: boolean;
  /** True when `signal` aborted the run and the group was killed. */
  aborted: boolean;
  /** True when the caller ended the run early ({@linkcode TreeRun.end}); absent otherwise. */
  ended?: boolean;
  /** Why the command could not start (e.g. `command not found: "claude"`). */
  spawnError?: string;
  /** Bytes of stdout past `maxOutputBytes`, read and dropped; absent when nothing was. */
  stdoutDropped?: number;
}

/** Output kept per stream by default: 1 MiB. */
export const MAX_OUTPUT_BYTES = 1024 * 1024;

/** A command running in its own process group, talked to while it runs (see {@linkcode startTree}). */
export interface TreeRun {
  /** The child's pid (= its process group id); undefined when it could not start. */
  readonly pid?: number;
  /** Writes to its stdin, after what was written before; false once stdin is closed or broken. */
  write(data: string | Uint8Array): Promise<boolean>;
  /** Closes its stdin after what was written; idempotent. */
  closeInput(): Promise<void>;
  /** Ends the run now: its group is stopped as at the time limit, and the result says `ended`. */
  end(): void;
  /** How the run ended, once the child has exited and its output is drained. Never rejects. */
  readonly result: Promise<RunTreeResult>;
}

/** How long stream readers may lag behind the child's exit before they are cancelled. */
const STREAM_DRAIN_MS = 1000;

/**
 * Runs `command` in a new process group, feeding `input` and collecting stdout and stderr, and kills
 * the whole group (SIGTERM, then SIGKILL after `killGraceMs`) on timeout or abort. Never throws for
 * the child's own failures: they are in the result.
 */
export function runTree(command: string, options: RunTreeOptions = {}): Promise<RunTreeResult> {
  const run = startTree(command, options);
  if (options.input !== undefined) void run.write(options.input);
  void run.closeInput();
  return run.result;
}

/**
 * Starts `command` in a new process group with its stdin left open: the caller writes to it,
 * closes it, and may end the run early. Otherwise as {@linkcode runTree}: stdout and stderr are
 * collected, and the whole group is killed on timeout, abort or `end()`.
 */
export function startTree(command: string, options: StartTreeOptions = {}): TreeRun {
  const { env = {}, maxOutputBytes = MAX_OUTPUT_BYTES, umask = parseUmask(env[PERSON_UMASK_ENV]) } =
    options;
  const argv = wrapperArgv(command, { args: options.args, umask, cgroup: options.cgroup, env });
  let child: Deno.ChildProcess;
  try {
    child = spawnGroup(argv, { env, cwd: options.cwd });
  } catch (error) {
    const spawnError = describeSpawnError(command, error);
    return {
      write: () => Promise.resolve(false),
      closeInput: () => Promise.resolve(),
      end: () => {},
      result: Promise.resolve({
        stdout: "",
        stderr: "",
        timedOut: false,
        aborted: false,
        spawnError,
      }),
    };
  }
  options.onSpawn?.(child.pid);
  const stdout = collect(child.stdout, { maxBytes: maxOutputBytes, onText: options.onStdout });
  const stderr = collect(child.stderr, { maxBytes: maxOutputBytes });
  const input = inputOf(child.stdin);
  const ender = new AbortController();
  const output = { stdout, stderr };
  const result = endOf(child, { ...options, command, ender: ender.signal, output });
  return {
    pid: child.pid,
    write: (data) => input.write(data),
    closeInput: () => input.close(),
    end: () => ender.abort(),
    result,
  };
}

/** How a started run ends: its exit, the sweep after it, its output drained. */
async function endOf(
  child: Deno.ChildProcess,
  run: StartTreeOptions & {
    command: string;
    ender: AbortSignal;
    output: { stdout: Collector; stderr: Collector };
  },
): Promise<RunTreeResult> {
  const { command, output } = run;
  const { status, timedOut, aborted, ended } = await exitWithin(child, run);
  await run.afterExit?.().catch(() => {});
  // A grandchild that escaped the group may still hold the pipes: don't wait for it forever.
  const [stdout, stderr] = await Promise.all([
    output.stdout.drain(STREAM_DRAIN_MS),
    output.stderr.drain(STREAM_DRAIN_MS),
  ]);
  const spawnError = wrapperError(command, { code: status.code, stderr });
  if (spawnError !== undefined) {
    return { stdout, stderr: "", timedOut: false, aborted: false, spawnError };
  }
  const { code, signal } = status;
  const dropped = output.stdout.dropped;
  return {
    code,
    signal,
    stdout,
    stderr,
    timedOut,
    aborted,
    ...(ended ? { ended } : {}),
    ...(dropped > 0 ? { stdoutDropped: dropped } : {}),
  };
}

/** Starts `argv` in a process group of its own, with exactly `env`, all three streams piped. */
function spawnGroup(argv: string[], { env, cwd }: Pick<RunTreeOptions, "env" | "cwd">) {
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    clearEnv: true,
    cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
}

/**
 * Waits for the child's exit; stops its group (`stopGroups`) at the time limit, on abort, or when
 * the caller ends the run (`ender`).
 */
async function exitWithin(
  child: Deno.ChildProcess,
  options: Pick<RunTreeOptions, "timeoutMs" | "signal" | "killGraceMs"> & { ender: AbortSignal },
) {
  const { timeoutMs, signal, killGraceMs = 2000, ender } = options;
  const limit = new AbortController();
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => limit.abort(), timeoutMs);
  const stop = AbortSignal.any([limit.signal, ender, ...(signal ? [signal] : [])]);
  const onStop = () => void stopGroups([child], killGraceMs);
  stop.addEventListener("abort", onStop, { once: true });
  if (stop.aborted) onStop();
  try {
    const status = await child.status;
    const timedOut = limit.signal.aborted;
    const aborted = !timedOut && (signal?.aborted ?? false);
    return { status, timedOut, aborted, ended: !timedOut && !aborted && ender.aborted };
  } finally {
    clearTimeout(timer);
    stop.removeEventListener("abort", onStop);
  }
}

/**
 * Stops the process groups that `children` lead: SIGTERM to each group, then, after `graceMs` (or
 * as soon as every leader has exited), SIGKILL to every group: a member that ignored SIGTERM goes
 * too, even when its leader has exited. Resolves once every leader has exited, with the pids of
 * those that outlived the grace period.
 */
export async function stopGroups(
  children: readonly Deno.ChildProcess[],
  graceMs: number,
): Promise<number[]> {
  for (const child of children) killGroup(child.pid, "SIGTERM");
  const exited = new Set<number>();
  const all = Promise.all(children.map((c) => c.status.then(() => exited.add(c.pid))));
  await within(all, graceMs);
  const late = children.filter((c) => !exited.has(c.pid)).map((c) => c.pid);
  for (const child of children) killGroup(child.pid, "SIGKILL");
  await all;
  return late;
}

function describeSpawnError(command: string, error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return `command not found: "${command}"`;
  if (error instanceof Deno.errors.PermissionDenied) return `permission denied: "${command}"`;
  return `cannot start "${command}": ${error instanceof Error ? error.message : String(error)}`;
}
