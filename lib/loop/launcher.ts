/**
 * The processes that started the bot by hand, and the bot's stop when one of them goes.
 *
 * `npx -y deno@2.9.6 task start` is a chain: `npm exec` → a shell (`sh -c`) → `deno task` → the
 * poll process. A SIGTERM or SIGINT to the poll process, or to `deno task` (which passes it on),
 * stops the bot; but one to `npm exec` (which hands it to the shell) kills the shell and leaves
 * `deno task` and the bot running with no parent: `npx … &` then `kill $!` used to leave a second
 * bot behind. So the poll process learns the chain once at start (one `ps`), and checks every
 * second that each link is still there (`kill(pid, 0)`, which sends nothing); when one is gone, the
 * bot stops as if it had been sent SIGTERM.
 *
 * Under systemd, `nix run` or a plain `deno run` there is no such chain (the launcher is not one of
 * those programs), and nothing is watched.
 *
 * @module
 */

/** A process between the person (or their supervisor) and the poll process. */
export interface Launcher {
  pid: number;
  /** Its command line, for the log. */
  args: string;
}

/** What a launching program's command line looks like: `deno task`, npm's, or a shell of theirs. */
const LAUNCHERS: readonly RegExp[] = [
  /(^|\/)deno\s+(\S+\s+)*task(\s|$)/,
  /^npm exec(\s|$)/,
  /(^|\/)npx(-cli\.js)?(\s|$)/,
  /^(\S*\/)?(sh|dash|bash)\s+-c\s.*\bdeno\b/,
];

/**
 * The launchers of the process whose parent is `ppid`, nearest first, from `ps -A -o
 * pid=,ppid=,args=` output: the parent if it is one of the launching programs, its parent if that
 * is one too, and so on.
 */
export function parseLaunchers(psOutput: string, ppid: number): Launcher[] {
  const table = new Map<number, { ppid: number; args: string }>();
  for (const line of psOutput.split("\n")) {
    const match = line.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/);
    if (match) table.set(Number(match[1]), { ppid: Number(match[2]), args: match[3] });
  }
  const chain: Launcher[] = [];
  for (let pid = ppid; pid > 1 && chain.length < 8;) {
    const process = table.get(pid);
    if (process === undefined || !LAUNCHERS.some((pattern) => pattern.test(process.args))) break;
    chain.push({ pid, args: process.args });
    pid = process.ppid;
  }
  return chain;
}

/** Options for {@linkcode findLaunchers}. */
export interface FindLaunchersOptions {
  /**
   * `npm_config_user_agent`, which npm and `deno task` set for what they start: without it nobody
   * of theirs started us, and `ps` is not run. Required (undefined when unset).
   */
  userAgent: string | undefined;
  /** The program that lists processes. Default: "ps". */
  ps?: string;
}

/** The chain of launchers above us (see the module doc); empty when there is none or no `ps`. */
export async function findLaunchers(
  ppid: number,
  options: FindLaunchersOptions,
): Promise<Launcher[]> {
  const { userAgent, ps = "ps" } = options;
  if (userAgent === undefined || userAgent === "") return [];
  try {
    const out = await new Deno.Command(ps, {
      args: ["-A", "-o", "pid=,ppid=,args="],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? parseLaunchers(new TextDecoder().decode(out.stdout), ppid) : [];
  } catch {
    return [];
  }
}

/** Options for {@linkcode watchLaunchers}. */
export interface WatchLaunchersOptions {
  /** Told the first launcher found gone; the watch then ends. Required. */
  onGone: (launcher: Launcher) => void;
  /** Ends the watch. Required. */
  signal: AbortSignal;
  /** How often the chain is checked. Default: 1000 ms. */
  everyMs?: number;
  /** Tells whether a pid is still a process. Default: `kill(pid, 0)`. */
  alive?: (pid: number) => boolean;
}

/** Checks the launchers every `everyMs` until one is gone or `signal` aborts. */
export function watchLaunchers(launchers: readonly Launcher[], options: WatchLaunchersOptions) {
  const { onGone, signal, everyMs = 1000, alive = exists } = options;
  if (launchers.length === 0 || signal.aborted) return;
  const timer = setInterval(() => {
    const gone = launchers.find((launcher) => !alive(launcher.pid));
    if (gone === undefined) return;
    clearInterval(timer);
    onGone(gone);
  }, everyMs);
  // The watch never keeps the process alive by itself.
  Deno.unrefTimer(timer);
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
}

/** `kill(pid, 0)`: is there a process with this pid (ours to signal)? Sends nothing. */
function exists(pid: number): boolean {
  try {
    // Deno.kill passes a signal number through to kill(2); 0 is its existence check.
    Deno.kill(pid, 0 as unknown as Deno.Signal);
    return true;
  } catch (error) {
    // ESRCH: gone; EPERM: the pid now belongs to another user's process, so ours is gone too.
    // Anything else (no permission to signal at all) can't tell, and stops nothing.
    return !(error instanceof Deno.errors.NotFound ||
      error instanceof Deno.errors.PermissionDenied);
  }
}
