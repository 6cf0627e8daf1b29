/**
 * Containment by cgroup, where there is one to use: each brain attempt runs in a cgroup (v2) of
 * its own, under the bot's, and is ended with `cgroup.kill`, which kills every process in it at
 * once, whatever they did to their environment (`env -i`), session (`setsid`) or process group.
 *
 * Under systemd the unit delegates its cgroup to the bot (`Delegate=yes`); run as root at the top
 * of the hierarchy (CI) the bot's cgroup is writable too. At start the poll process checks, once,
 * that it can create a cgroup under its own, move a process into it and kill it
 * ({@linkcode probeCgroup}); if not (no cgroup v2, a cgroup of someone else's, a kernel before
 * 5.14 without `cgroup.kill`), brains are ended by their marker alone (`sweep.ts`), which runs in
 * both cases.
 *
 * Deno 2.9.6 refuses `/sys` and `/proc` without `--allow-all`, whatever `--allow-read` and
 * `--allow-write` say, so every step here is a `/bin/sh` of a few lines, which needs nothing but
 * `--allow-run`; the exec wrapper creates and joins the attempt's cgroup (`exec_wrapper.ts`).
 *
 * ```
 * <the bot's cgroup>/forge-brain-<bot marker>.<run>   one brain attempt (its COORD_BRAIN_RUN)
 * ```
 *
 * @module
 */

import { runShell } from "./shell.ts";

/** The variable that hands the bot's cgroup folder to its handlers (set only when usable). */
export const CGROUP_ENV = "COORD_CGROUP";

/** What {@linkcode probeCgroup} found. */
export type CgroupProbe =
  /** `dir` is the bot's own cgroup folder, and brains' cgroups can be made under it. */
  | { ok: true; dir: string }
  /** Why not, as a phrase. */
  | { ok: false; reason: string };

// Reads our cgroup and the cgroup2 mount from /proc in plain sh (no awk, sed or grep needed),
// then makes a cgroup, moves a process into it, and removes it again.
const PROBE = `cg= mnt=
while IFS= read -r line; do case $line in 0::*) cg=\${line#0::} ;; esac; done </proc/self/cgroup
while read -r _ point type _; do [ "$type" = cgroup2 ] && { mnt=$point; break; }; done </proc/self/mounts
[ -n "$cg" ] || { echo "no cgroup v2 entry in /proc/self/cgroup"; exit 1; }
[ -n "$mnt" ] || { echo "cgroup v2 is not mounted"; exit 1; }
dir=$mnt\${cg%/}
probe=$dir/forge-probe-$$
mkdir "$probe" 2>/dev/null || { echo "cannot create a cgroup under $dir"; exit 1; }
if [ ! -e "$probe/cgroup.kill" ]; then rmdir "$probe"; echo "no cgroup.kill (Linux 5.14 or newer has it)"; exit 1; fi
/bin/sh -c 'echo $$ >"$1/cgroup.procs"' probe "$probe" 2>/dev/null; joined=$?
i=0; until rmdir "$probe" 2>/dev/null; do i=$((i+1)); [ $i -gt 100 ] && break; sleep 0.01; done
[ $joined = 0 ] || { echo "cannot move a process into a cgroup under $dir"; exit 1; }
printf '%s\\n' "$dir"`;

// Kills every process of each cgroup named, waits until it is empty (2 s at most), removes it.
const KILL = `status=0
for cg in "$@"; do
  [ -d "$cg" ] || continue
  echo 1 >"$cg/cgroup.kill" || { status=1; continue; }
  i=0
  until grep -q '^populated 0' "$cg/cgroup.events" 2>/dev/null; do
    i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.01
  done
  rmdir "$cg" 2>/dev/null || status=1
done
exit $status`;

/** Options for the functions of this module. */
export interface CgroupOptions {
  /** The shell. Default: "/bin/sh". */
  shell?: string;
}

/** Checks whether brains can run in cgroups of their own under ours; never throws. */
export async function probeCgroup(options: CgroupOptions = {}): Promise<CgroupProbe> {
  try {
    const { code, stdout } = await runShell(PROBE, options);
    const text = stdout.trim();
    return code === 0 && text.startsWith("/")
      ? { ok: true, dir: text }
      : { ok: false, reason: text || `the check exited with status ${code}` };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

/** The cgroup folder of one brain attempt (its marker), under the bot's cgroup `base`. */
export function attemptCgroup(base: string, run: string): string {
  if (!/^[0-9a-f]+\.[0-9a-f-]+$/.test(run)) {
    throw new TypeError(`Cannot name a cgroup after the run marker "${run}"`);
  }
  return `${base.replace(/\/+$/, "")}/forge-brain-${run}`;
}

/**
 * Kills every process in each cgroup of `dirs` (`cgroup.kill`) and removes the cgroups, once
 * empty. One that doesn't exist is skipped. Throws when one could not be killed or removed.
 */
export async function killCgroups(
  dirs: readonly string[],
  options: CgroupOptions = {},
): Promise<void> {
  if (dirs.length === 0) return;
  const { code, stderr } = await runShell(KILL, { ...options, args: dirs });
  if (code !== 0) {
    throw new Error(`Cannot end the cgroups ${dirs.join(", ")}: ${stderr.trim() || code}`);
  }
}

/** Options for {@linkcode killBotCgroups}. */
export interface KillBotCgroupsOptions extends CgroupOptions {
  /** The bot's marker (`botMarker()` of its state folder). Required. */
  bot: string;
}

/**
 * Kills and removes every brain cgroup of the bot whose marker is `options.bot` under `base` (at
 * start: what a crashed run left; at teardown). Returns how many there were. Throws like
 * {@linkcode killCgroups}.
 */
export async function killBotCgroups(
  base: string,
  options: KillBotCgroupsOptions,
): Promise<number> {
  const { bot } = options;
  if (!/^[0-9a-f]+$/.test(bot)) throw new TypeError(`Cannot sweep cgroups of the bot "${bot}"`);
  const prefix = `forge-brain-${bot}.`;
  const list = `for d in "$1"/${prefix}*; do [ -d "$d" ] && printf '%s\\n' "$d"; done; exit 0`;
  const { stdout } = await runShell(list, { ...options, args: [base.replace(/\/+$/, "")] });
  const dirs = stdout.split("\n").filter((line) => line !== "");
  await killCgroups(dirs, options);
  return dirs.length;
}
