/**
 * The schedules `/status` lists: the bot's systemd user timers (`forge-coordinator-schedule-*`,
 * as the modules and the README's hand-made units name them), each running `forge-coordinator
 * ask` when it fires, asked of systemd with `systemctl --user list-timers --output=json` under a
 * short deadline. Where systemd can't be asked (no user manager, no `systemctl`, a bot run by
 * hand in a container), there is simply nothing to list.
 *
 * @module
 */

/** The units the bot's schedules are, as a `systemctl` pattern. */
export const SCHEDULE_UNITS = "forge-coordinator-schedule-*";

/** One schedule: its name, and when its timer fires next and fired last (ms since the epoch). */
export interface Schedule {
  name: string;
  next?: number;
  last?: number;
}

/** Options for {@linkcode listSchedules}. */
export interface ListSchedulesOptions {
  /** How long `systemctl` may take. Default: 2000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Runs the command and resolves to its stdout, or rejects. Default: `Deno.Command`. */
  run?: (command: string, args: string[], signal: AbortSignal) => Promise<string>;
}

/** The bot's schedules, or `undefined` when systemd could not be asked. */
export async function listSchedules(
  options: ListSchedulesOptions = {},
): Promise<Schedule[] | undefined> {
  const { timeoutMs = 2000, signal, run = runCommand } = options;
  const deadline = AbortSignal.timeout(timeoutMs);
  const bounded = signal === undefined ? deadline : AbortSignal.any([deadline, signal]);
  try {
    const args = ["--user", "list-timers", "--all", "--no-pager", "--output=json", SCHEDULE_UNITS];
    return parseTimers(await run("systemctl", args, bounded));
  } catch {
    return undefined;
  }
}

/**
 * Reads `systemctl list-timers --output=json` (systemd 252: `[{"next": µs, "last": µs, "unit":
 * "…timer", …}]`, 0 for none), keeping the bot's schedules, by name. Throws on anything else.
 */
export function parseTimers(json: string): Schedule[] {
  const timers = JSON.parse(json) as unknown;
  if (!Array.isArray(timers)) throw new TypeError("Cannot read the timers: not a JSON array");
  const prefix = SCHEDULE_UNITS.slice(0, -1);
  const schedules: Schedule[] = [];
  for (const timer of timers as Record<string, unknown>[]) {
    const unit = String(timer?.unit ?? "");
    if (!unit.startsWith(prefix) || !unit.endsWith(".timer")) continue;
    const time = (us: unknown) =>
      typeof us === "number" && us > 0 ? Math.floor(us / 1000) : undefined;
    schedules.push({
      name: unit.slice(prefix.length, -".timer".length),
      next: time(timer.next),
      last: time(timer.last),
    });
  }
  return schedules.sort((a, b) => a.name.localeCompare(b.name));
}

async function runCommand(command: string, args: string[], signal: AbortSignal): Promise<string> {
  const out = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    signal,
  }).output();
  if (!out.success) throw new Error(`${command} exited with status ${out.code}`);
  return new TextDecoder().decode(out.stdout);
}
