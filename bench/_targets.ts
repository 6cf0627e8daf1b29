/**
 * The three things measured, each started as its own process against the simulator: (a) the bot
 * as built (`main.ts`, exactly as `deno task start` runs it), (b) the grammY-runner baseline and
 * (c) the seed's design.
 *
 * @module
 */

import { BotApiSimulator, type BotProcess, denoDir, startBot } from "../tests/_helpers.ts";
import { processesWithEnv, type ProcInfo } from "./_proc.ts";

/** The benchmark's brain. */
export const BRAIN = new URL("./brain.sh", import.meta.url).pathname;

/** Which implementation runs. */
export type TargetKind = "bot" | "runner" | "seed";

/** How a target ended after SIGTERM. */
export interface Teardown {
  /** Exit status, or the signal that ended it. */
  exit: string;
  /** From SIGTERM to exit, ms. */
  stopMs: number;
  /** Processes it started that are still alive after it exited. */
  left: ProcInfo[];
}

/** A running target. */
export interface Target extends AsyncDisposable {
  readonly kind: TargetKind;
  /** Its main process. */
  readonly pid: number;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM, wait for the exit (SIGKILL after `graceMs`), then look for leftovers. */
  stop(graceMs?: number): Promise<Teardown>;
}

/** Options for {@linkcode startTarget}. */
export interface StartTargetOptions {
  sim: BotApiSimulator;
  kind: TargetKind;
  /** Chats (= user ids) the target answers. */
  chats: readonly number[];
  /** Settings on top of the benchmark's. Default: none. */
  env?: Record<string, string>;
}

const BASELINE_SCRIPTS: Record<Exclude<TargetKind, "bot">, string> = {
  runner: new URL("./baseline_runner.ts", import.meta.url).pathname,
  seed: new URL("./baseline_seed.ts", import.meta.url).pathname,
};

/** Starts a target and waits for its first `getUpdates`. */
export async function startTarget(options: StartTargetOptions): Promise<Target> {
  const { sim, kind, chats, env = {} } = options;
  const settings = {
    COORD_BRAIN_CMD: BRAIN,
    COORD_BRAIN_TIMEOUT_S: "120",
    COORD_BRAIN_MAX_ITERS: "1",
    COORD_POLL_TIMEOUT_S: "10",
    ...env,
    // A setting to compare, on top of everything (e.g. `{"COORD_SPARE_HANDLERS":"0"}`).
    ...JSON.parse(Deno.env.get("BENCH_BOT_ENV") ?? "{}") as Record<string, string>,
  };
  const target = kind === "bot"
    ? botTarget(await startBot({ sim, env: settings, authorized: [...chats] }))
    : await baselineTarget(sim, kind, settings);
  try {
    await sim.waitForCall((c) => c.method === "getUpdates", {
      includePending: true,
      timeoutMs: 30_000,
      description: `the first getUpdates of ${kind}`,
    });
  } catch (error) {
    console.error(target.stderr());
    await target[Symbol.asyncDispose]();
    throw error;
  }
  return target;
}

function botTarget(bot: BotProcess): Target {
  return {
    kind: "bot",
    pid: bot.process.pid,
    stderr: () => bot.stderr,
    async stop(graceMs = 15_000) {
      const started = performance.now();
      bot.kill("SIGTERM");
      const killer = setTimeout(() => bot.kill("SIGKILL"), graceMs);
      const status = await bot.exited();
      clearTimeout(killer);
      const stopMs = performance.now() - started;
      // The helpers' view (logged handler pids, the brains' pid files) and /proc's (anything that
      // inherited the bot's environment, re-parented or not), together.
      const byEnv = processesWithEnv(bot.dirs.root);
      const pids = new Set([...bot.leftovers(), ...byEnv.map((p) => p.pid)]);
      const left = [...pids].map((pid) =>
        byEnv.find((p) => p.pid === pid) ?? { pid, ppid: 0, state: "?", comm: "?" }
      );
      return { exit: describeStatus(status), stopMs, left };
    },
    [Symbol.asyncDispose]: () => bot[Symbol.asyncDispose](),
  };
}

async function baselineTarget(
  sim: BotApiSimulator,
  kind: Exclude<TargetKind, "bot">,
  settings: Record<string, string>,
): Promise<Target> {
  const marker = await Deno.makeTempDir({ prefix: `coord-bench-${kind}-` });
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--frozen",
      "--no-prompt",
      `--config=${new URL("../deno.json", import.meta.url).pathname}`,
      "--allow-env",
      "--allow-net=127.0.0.1",
      "--allow-run",
      BASELINE_SCRIPTS[kind],
    ],
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      DENO_DIR: denoDir(),
      NO_COLOR: "1",
      TELEGRAM_BOT_TOKEN: sim.token,
      COORD_API_ROOT: sim.apiRoot,
      BENCH_MARKER: marker,
      ...settings,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const stderrDone = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of process.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  const kill = (signal: Deno.Signal) => {
    try {
      process.kill(signal);
    } catch {
      // Already gone.
    }
  };
  const exited = async () => {
    const status = await process.status;
    await stderrDone;
    return status;
  };
  return {
    kind,
    pid: process.pid,
    stderr: () => stderr,
    async stop(graceMs = 15_000) {
      const started = performance.now();
      kill("SIGTERM");
      const killer = setTimeout(() => kill("SIGKILL"), graceMs);
      const status = await exited();
      clearTimeout(killer);
      return {
        exit: describeStatus(status),
        stopMs: performance.now() - started,
        left: processesWithEnv(marker),
      };
    },
    async [Symbol.asyncDispose]() {
      kill("SIGKILL");
      await exited();
      for (const { pid } of processesWithEnv(marker)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
      }
      await Deno.remove(marker, { recursive: true }).catch(() => {});
    },
  };
}

function describeStatus(status: Deno.CommandStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit ${status.code}`;
}
