/**
 * Running a command in its own process group, and killing the whole group.
 *
 * A brain (or a handler) may start grandchildren of its own. Killing only the direct child leaves them
 * running under PID 1 and holding our pipes, so every process we start is started `detached` (its own
 * session and process group, pgid = pid) and is stopped by signalling the group: `kill(-pid)`. It
 * starts through the shell of `exec_wrapper.ts` (stdin, stdout and stderr only; the umask; a cgroup).
 *
 * @module
 */

import { within } from "./abort.ts";
import { wrapperArgv, wrapperError } from "./exec_wrapper.ts";
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

/** Options for {@linkcode runTree}. */
export interface RunTreeOptions {
  /** Arguments after the command. Default: none. */
  args?: readonly string[];
  /** The complete environment of the child (nothing is inherited). Default: empty. */
  env?: Record<string, string>;
  /** Working directory. Default: ours. */
  cwd?: string;
  /** Written to the child's stdin, which is then closed. Default: stdin is closed at once. */
  input?: string | Uint8Array;
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
  /** Why the command could not start (e.g. `command not found: "claude"`). */
  spawnError?: string;
  /** Bytes of stdout past `maxOutputBytes`, read and dropped; absent when nothing was. */
  stdoutDropped?: number;
}

/** Output kept per stream by default: 1 MiB. */
export const MAX_OUTPUT_BYTES = 1024 * 1024;

/** How long stream readers may lag behind the child's exit before they are cancelled. */
const STREAM_DRAIN_MS = 1000;

/**
 * Runs `command` in a new process group, feeding `input` and collecting stdout and stderr, and kills
 * the whole group (SIGTERM, then SIGKILL after `killGraceMs`) on timeout or abort. Never throws for
 * the child's own failures: they are in the result. The command runs through the wrapper of
 * `exec_wrapper.ts`: stdin, stdout and stderr are the only descriptors it gets, with the umask and
 * the cgroup asked for.
 */
export async function runTree(
  command: string,
  options: RunTreeOptions = {},
): Promise<RunTreeResult> {
  const { env = {}, maxOutputBytes = MAX_OUTPUT_BYTES, umask = parseUmask(env[PERSON_UMASK_ENV]) } =
    options;
  const argv = wrapperArgv(command, { args: options.args, umask, cgroup: options.cgroup, env });
  let child: Deno.ChildProcess;
  try {
    child = spawnGroup(argv, { env, cwd: options.cwd });
  } catch (error) {
    const spawnError = describeSpawnError(command, error);
    return { stdout: "", stderr: "", timedOut: false, aborted: false, spawnError };
  }
  options.onSpawn?.(child.pid);
  const stdout = collect(child.stdout, { maxBytes: maxOutputBytes, onText: options.onStdout });
  const stderr = collect(child.stderr, { maxBytes: maxOutputBytes });
  writeInput(child.stdin, options.input);
  const { status, timedOut, aborted } = await exitWithin(child, options);
  await options.afterExit?.().catch(() => {});
  // A grandchild that escaped the group may still hold the pipes: don't wait for it forever.
  const [out, err] = await Promise.all([
    stdout.drain(STREAM_DRAIN_MS),
    stderr.drain(STREAM_DRAIN_MS),
  ]);
  const spawnError = wrapperError(command, { code: status.code, stderr: err });
  if (spawnError !== undefined) {
    return { stdout: out, stderr: "", timedOut: false, aborted: false, spawnError };
  }
  const dropped = stdout.dropped > 0 ? { stdoutDropped: stdout.dropped } : {};
  return {
    code: status.code,
    signal: status.signal,
    stdout: out,
    stderr: err,
    timedOut,
    aborted,
    ...dropped,
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

/** Waits for the child's exit; stops its group (`stopGroups`) at the time limit or on abort. */
async function exitWithin(
  child: Deno.ChildProcess,
  options: Pick<RunTreeOptions, "timeoutMs" | "signal" | "killGraceMs">,
) {
  const { timeoutMs, signal, killGraceMs = 2000 } = options;
  const limit = new AbortController();
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => limit.abort(), timeoutMs);
  const stop = signal ? AbortSignal.any([limit.signal, signal]) : limit.signal;
  const onStop = () => void stopGroups([child], killGraceMs);
  stop.addEventListener("abort", onStop, { once: true });
  if (stop.aborted) onStop();
  try {
    const status = await child.status;
    const timedOut = limit.signal.aborted;
    return { status, timedOut, aborted: !timedOut && (signal?.aborted ?? false) };
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

function writeInput(stdin: WritableStream<Uint8Array>, input: string | Uint8Array | undefined) {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  const writer = stdin.getWriter();
  // A child that exits without reading its input makes the write fail with a broken pipe: harmless.
  (bytes ? writer.write(bytes) : Promise.resolve())
    .then(() => writer.close())
    .catch(() => writer.abort().catch(() => {}));
}

interface Collector {
  /** The text read so far once the stream ends, or after `ms` (then the stream is cancelled). */
  drain(ms: number): Promise<string>;
  /** Bytes read past `maxBytes` and dropped, so far. */
  readonly dropped: number;
}

function collect(
  stream: ReadableStream<Uint8Array>,
  options: { maxBytes: number; onText?: (text: string) => void },
): Collector {
  const { maxBytes, onText } = options;
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let dropped = 0;
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  const done = (async () => {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        if (onText !== undefined) {
          try {
            onText(decoder.decode(value, { stream: true }));
          } catch {
            // A listener's failure is not the child's.
          }
        }
        const part = value.subarray(0, Math.max(0, maxBytes - kept));
        chunks.push(part);
        kept += part.length;
        dropped += value.length - part.length;
      }
    } catch {
      // Cancelled or broken: keep what was read.
    }
  })();
  return {
    get dropped() {
      return dropped;
    },
    async drain(ms) {
      if (!(await within(done, ms)).settled) {
        await reader.cancel().catch(() => {});
        await done;
      }
      reader.releaseLock();
      return new TextDecoder().decode(concat(chunks));
    },
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
