/**
 * Escapes: finding and killing whatever a brain started that left its process group.
 *
 * A brain's helper that calls `setsid` (a daemonizing tool, `tmux`, `nohup setsid`, a dev server)
 * leaves the brain's process group, so `kill(-pgid)` misses it. What it cannot leave is its
 * environment: every brain attempt runs with `COORD_BRAIN_RUN=<bot>.<run>`, descendants inherit
 * it, and a sweep kills every process of ours whose `/proc/<pid>/environ` carries it. `<bot>` is
 * derived from the state folder, so it is the same across restarts of one bot and differs between
 * two bots of one user; `<run>` is random per attempt.
 *
 * Deno 2.9.6 reads nothing under `/proc` without `--allow-all`, so the reading is done by `grep`
 * (through `/bin/sh` for the glob), which needs only `--allow-run`; `Deno.kill` needs the same.
 * Another user's `environ` is unreadable to us, so only our own processes can match.
 *
 * @module
 */

import { attemptCgroup, killBotCgroups, killCgroups } from "./cgroup.ts";
import { getLog } from "./log.ts";
import { runShell } from "./shell.ts";

/** The variable that marks a brain attempt and everything it starts. */
export const RUN_MARKER_ENV = "COORD_BRAIN_RUN";

/** This bot's marker: a stable 16-hex-digit digest of its state folder. */
export function botMarker(stateDir: string): string {
  // FNV-1a, 64 bits: a name, not a secret; it only has to differ between one user's bots.
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(stateDir.replace(/\/+$/, ""))) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}

/** A fresh marker for one brain attempt of the bot `bot`. */
export function runMarker(bot: string): string {
  return `${bot}.${crypto.randomUUID()}`;
}

/** Which processes a sweep looks for. */
export type SweepTarget =
  /** Everything any brain run of this bot started (at start and at teardown). */
  | { bot: string }
  /** Everything one brain attempt started. */
  | { run: string };

/** Options for {@linkcode sweep}. */
export interface SweepOptions {
  /** Pids never killed. Default: our own. */
  exclude?: readonly number[];
  /** Find-and-kill rounds at most (a process may fork while it is being killed). Default: 5. */
  rounds?: number;
  /** The shell that runs `grep`. Default: "/bin/sh". */
  shell?: string;
  /**
   * The bot's cgroup, when brains run in cgroups of their own (`cgroup.ts`): the target's cgroups
   * are killed and removed first. Default: none (the marker alone).
   */
  cgroup?: string;
}

/**
 * Kills (SIGKILL) every process of ours carrying the target's marker, round after round until
 * none is left or the rounds run out. Returns the pids killed. Throws when the processes can't be
 * listed (no shell or grep).
 */
export async function sweep(target: SweepTarget, options: SweepOptions = {}): Promise<number[]> {
  const { exclude = [Deno.pid], rounds = 5, shell = "/bin/sh", cgroup } = options;
  // What env -i took out of the marker's reach is still in its cgroup. Its failure must not keep
  // the marker's sweep from running: it is reported after it.
  const cgroupEnded = cgroup === undefined
    ? Promise.resolve()
    : "bot" in target
    ? killBotCgroups(cgroup, { bot: target.bot, shell }).then(() => {})
    : killCgroups([attemptCgroup(cgroup, target.run)], { shell });
  const cgroupError = await cgroupEnded.then(() => undefined, (error) => error);
  const pattern = "bot" in target
    ? `^${RUN_MARKER_ENV}=${hexOnly(target.bot)}\\.`
    : `^${RUN_MARKER_ENV}=${hexOnly(target.run.split(".")[0])}\\.${
      safeRun(target.run.split(".").slice(1).join("."))
    }$`;
  const killed: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Never pid 1 or less: a kill(-1) or kill(0) would reach far more than a brain's leftovers.
    const pids = (await findMarked(pattern, shell)).filter((pid) =>
      pid > 1 && !exclude.includes(pid)
    );
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
        killed.push(pid);
      } catch {
        // Gone meanwhile.
      }
    }
  }
  if (cgroupError !== undefined) throw cgroupError;
  return killed;
}

/** The pids whose environment has an entry matching `pattern` (an extended regex). */
async function findMarked(pattern: string, shell: string): Promise<number[]> {
  // -z: environ entries are NUL-separated, so ^ and $ anchor one entry. -s: other users'
  // processes, and processes that exit while we read, are skipped silently.
  const output = await runShell('exec grep -lsz -E -e "$1" /proc/[0-9]*/environ', {
    shell,
    args: [pattern],
  });
  // grep: 0 some found, 1 none found, 2 some file unreadable (with or without matches).
  if (output.code > 2) {
    throw new Error(
      `Cannot list marked processes: grep exited with status ${output.code}: ${output.stderr.trim()}`,
    );
  }
  const pids: number[] = [];
  for (const line of output.stdout.split("\n")) {
    const match = line.match(/^\/proc\/(\d+)\/environ$/);
    if (match) pids.push(Number(match[1]));
  }
  return pids;
}

function hexOnly(text: string): string {
  if (!/^[0-9a-f]+$/.test(text)) throw new TypeError(`Cannot sweep: bad bot marker "${text}"`);
  return text;
}

function safeRun(text: string): string {
  if (!/^[0-9a-f-]+$/.test(text)) throw new TypeError(`Cannot sweep: bad run marker "${text}"`);
  return text;
}

/** Options for {@linkcode sweepBot}. */
export interface SweepBotOptions extends Pick<SweepOptions, "cgroup"> {
  /** When it runs, for the log ("at start", "at teardown"). Required. */
  when: string;
}

/**
 * Kills every process left by any brain run of the bot whose state folder is `stateDir` (at
 * start: leftovers of a run that crashed; at teardown: what escaped the handlers' own sweeps):
 * first its brains' cgroups, when `options.cgroup` is given, then by the marker. Logs what it did.
 * Never throws.
 */
export async function sweepBot(stateDir: string, options: SweepBotOptions): Promise<number[]> {
  const { when, cgroup } = options;
  const log = getLog("sweep");
  const bot = botMarker(stateDir);
  if (cgroup !== undefined) {
    const ended = await killBotCgroups(cgroup, { bot }).catch((error) => {
      log.warn("cannot end the cgroups brains left ({when}): {error}", {
        when,
        error: String(error),
      });
      return 0;
    });
    if (ended > 0) {
      log.info("ended {n} brain cgroup(s) {when} that brains left behind", { n: ended, when });
    }
  }
  try {
    const killed = await sweep({ bot });
    if (killed.length > 0) {
      log.info("killed {n} process(es) {when} that brains left behind: {pids}", {
        n: killed.length,
        when,
        pids: killed.join(", "),
      });
    }
    return killed;
  } catch (error) {
    log.warn("cannot sweep for processes brains left behind ({when}): {error}", {
      when,
      error: String(error),
    });
    return [];
  }
}

/**
 * Kills what one brain attempt left behind when its handler died without ending it (the handler's
 * own sweep never ran), and logs it. Never throws.
 */
export async function sweepOrphan(
  run: string,
  updateId: number,
  options: Pick<SweepOptions, "cgroup"> = {},
): Promise<void> {
  const log = getLog("sweep");
  try {
    const killed = await sweep({ run }, { cgroup: options.cgroup });
    if (killed.length > 0) {
      log.warn("stopped the orphaned brain of update {updateId}: pids {pids}", {
        updateId,
        pids: killed.join(", "),
      });
    }
  } catch (error) {
    log.error("cannot stop the orphaned brain of update {updateId}: {error}", {
      updateId,
      error: String(error),
    });
  }
}
