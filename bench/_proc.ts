/**
 * What /proc says about a process tree: memory, open fds, children, zombies, and processes that
 * outlived their parent.
 *
 * @module
 */

/** One row of /proc/<pid>/stat. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  /** The state letter: R, S, D, Z... */
  state: string;
  /** The executable's name (15 characters at most). */
  comm: string;
}

/** Reads /proc/<pid>/stat, or `undefined` when the process is gone. */
export function procInfo(pid: number): ProcInfo | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // comm may hold spaces and parentheses: it ends at the last ")".
  const close = stat.lastIndexOf(")");
  const fields = stat.slice(close + 2).split(" ");
  return {
    pid,
    ppid: Number(fields[1]),
    state: fields[0],
    comm: stat.slice(stat.indexOf("(") + 1, close),
  };
}

/** Every process on the machine, by pid. */
export function processTable(): Map<number, ProcInfo> {
  const table = new Map<number, ProcInfo>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const info = procInfo(Number(entry.name));
    if (info) table.set(info.pid, info);
  }
  return table;
}

/** The processes whose parent chain leads to `root` (not `root` itself). */
export function descendants(root: number, table = processTable()): ProcInfo[] {
  const children = new Map<number, ProcInfo[]>();
  for (const info of table.values()) {
    const list = children.get(info.ppid) ?? [];
    list.push(info);
    children.set(info.ppid, list);
  }
  const found: ProcInfo[] = [];
  const stack = [root];
  while (stack.length > 0) {
    for (const child of children.get(stack.pop()!) ?? []) {
      found.push(child);
      stack.push(child.pid);
    }
  }
  return found;
}

/** A process's memory, in KiB: resident now (VmRSS) and its peak (VmHWM). */
export interface Memory {
  rssKiB: number;
  hwmKiB: number;
}

/** Reads /proc/<pid>/status, or `undefined` when the process is gone (or a zombie). */
export function memory(pid: number): Memory | undefined {
  let status: string;
  try {
    status = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return undefined;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1]);
  const rssKiB = field("VmRSS");
  const hwmKiB = field("VmHWM");
  return Number.isFinite(rssKiB) ? { rssKiB, hwmKiB } : undefined;
}

/** How many fds a process holds open. */
export function fdCount(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

/**
 * Live processes (zombies excluded) whose environment holds `marker`, other than this one. Every
 * process the bot starts inherits its environment, so a marker there finds them even after they
 * were re-parented to PID 1.
 */
export function processesWithEnv(marker: string): ProcInfo[] {
  const found: ProcInfo[] = [];
  for (const info of processTable().values()) {
    if (info.pid === Deno.pid || info.state === "Z") continue;
    let environ: string;
    try {
      environ = Deno.readTextFileSync(`/proc/${info.pid}/environ`);
    } catch {
      continue;
    }
    if (environ.includes(marker)) found.push(info);
  }
  return found;
}
