/**
 * The shell every child the bot runs for a message (a brain, the transcriber) is started through,
 * to set up what `Deno.Command` can't before the command itself is `exec`ed:
 *
 * - it closes every descriptor but stdin, stdout and stderr: whatever started the bot may have
 *   left others open (an inherited socket, a terminal's leftovers), and Deno passes them on;
 * - it sets the person's own umask (the bot keeps 077 for its own files);
 * - it creates the attempt's cgroup, when there is one, and moves itself into it, so that the
 *   command and everything it starts are in it from their first instruction (`cgroup.ts`).
 *
 * `/bin/sh` (dash on Debian) can close only descriptors 0 to 9, so the script runs itself again
 * under `bash` where there is one, which closes any; bash then hands over to `/bin/sh` for the
 * last `exec`, because bash's `exec` puts `SHLVL` into the command's environment. The command's
 * environment is exactly the one given (a shell's own `PWD` and `SHLVL` are removed unless they
 * were given), except that a given `PWD` is the working folder the command really starts in.
 *
 * @module
 */

/** What the wrapper prints before a reason of its own, so it isn't mistaken for the command's. */
export const WRAPPER_TAG = "forge-coordinator-exec";

/** The shell's exit statuses for a command it could not run: not found, not executable. */
const SHELL_NOT_FOUND = 127;
const SHELL_NOT_EXECUTABLE = 126;
/** The wrapper's own failure: the umask or the cgroup could not be set up. */
const WRAPPER_FAILED = 125;

/** Variables a shell sets by itself; removed unless the command was given them. */
const SHELL_VARIABLES = ["PWD", "OLDPWD", "SHLVL"];

// $1 is this script (to run it again under bash), $2 the cgroup folder or "", $3 the umask or "",
// $4 the variables to remove; the command follows.
const SCRIPT =
  `if [ -z "\${BASH_VERSION-}" ] && command -v bash >/dev/null 2>&1; then exec bash -c "$1" "$0" "$@"; fi
cg=$2 mask=$3 drop=$4
shift 4
for f in /proc/$$/fd/*; do
  n=\${f##*/}
  case $n in 0|1|2|*[!0-9]*) continue ;; esac
  if [ -n "\${BASH_VERSION-}" ]; then { exec {n}>&-; } 2>/dev/null
  elif [ "$n" -le 9 ]; then eval "exec $n>&-"
  fi
done
if [ -n "$mask" ]; then umask "$mask" || exit ${WRAPPER_FAILED}; fi
if [ -n "$cg" ]; then
  { mkdir "$cg" && echo $$ >"$cg/cgroup.procs"; } 2>/dev/null || { echo "$0: cannot join the cgroup $cg" >&2; exit ${WRAPPER_FAILED}; }
fi
if [ -n "\${BASH_VERSION-}" ]; then exec /bin/sh -c 'for v in $1; do unset "$v"; done; shift; exec "$@"' "$0" "$drop" "$@"; fi
for v in $drop; do unset "$v"; done
exec "$@"`;

/** Options for {@linkcode wrapperArgv}. */
export interface WrapperOptions {
  /** The command's arguments. Default: none. */
  args?: readonly string[];
  /** The umask set before the command runs, from 0 to 0o777. Default: ours, unchanged. */
  umask?: number;
  /**
   * A cgroup folder (cgroup v2) to create and join first; the command fails to start (a spawn
   * error) when it can't. Default: none.
   */
  cgroup?: string;
  /** The command's environment, to tell which shell variables to remove. Default: empty. */
  env?: Readonly<Record<string, string>>;
}

/** The argv that runs `command` through the wrapper. Throws `RangeError` for a bad umask. */
export function wrapperArgv(command: string, options: WrapperOptions = {}): string[] {
  const { args = [], umask, cgroup = "", env = {} } = options;
  if (umask !== undefined && (!Number.isInteger(umask) || umask < 0 || umask > 0o777)) {
    throw new RangeError(`Cannot use umask: expected 0 to 0777, got ${umask}`);
  }
  const mask = umask === undefined ? "" : umask.toString(8).padStart(4, "0");
  const drop = SHELL_VARIABLES.filter((name) => !(name in env)).join(" ");
  return ["/bin/sh", "-c", SCRIPT, WRAPPER_TAG, SCRIPT, cgroup, mask, drop, command, ...args];
}

/** The argv that runs `command` with `umask` set first. Throws `RangeError` for a bad umask. */
export function withUmask(
  command: string,
  options: { umask: number; args?: readonly string[] },
): string[] {
  return wrapperArgv(command, options);
}

/** Why the wrapper could not start `command` (not found, not executable, no cgroup), if it couldn't. */
export function wrapperError(
  command: string,
  exit: { code: number | undefined; stderr: string },
): string | undefined {
  const { code, stderr } = exit;
  if (!stderr.startsWith(`${WRAPPER_TAG}:`)) return undefined;
  if (code === SHELL_NOT_FOUND) return `command not found: "${command}"`;
  if (code === SHELL_NOT_EXECUTABLE) return `permission denied: "${command}"`;
  if (code === WRAPPER_FAILED) return stderr.slice(WRAPPER_TAG.length + 1).trim().split("\n")[0];
  return undefined;
}
