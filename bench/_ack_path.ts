/**
 * Where a handler's ack time goes, piece by piece, each measured on the simulator's clock from the
 * moment the process is spawned: the runtime alone, a first HTTP request (cold and warm
 * connection), loading grammY, and the real `handler.ts` up to its first Bot API call.
 *
 * @module
 */

import { BotApiSimulator } from "../tests/sim/simulator.ts";
import { denoDir } from "../tests/_helpers.ts";
import { parseConfig } from "../lib/shared/config.ts";
import { handlerLaunch } from "../lib/loop/launch.ts";
import { encodeLine } from "../lib/shared/line.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import { send, simNow, waitForEmoji } from "./_record.ts";
import { summarise, type Summary } from "./_stats.ts";
import { BRAIN } from "./_targets.ts";

/** The ack path's pieces, ms from spawn. */
export interface AckPathFigures {
  /** `deno run` of a script with no imports, spawn to exit. */
  emptyScriptExit: Summary;
  /** No imports, `fetch` to the simulator: spawn to the request's arrival (cold connection). */
  fetchFirstRequest: Summary;
  /** The same script's second request: the first one's answer to the second's arrival. */
  fetchWarmRequest: Summary;
  /** grammY's web build loaded (as the handler loads it), then `getMe`: spawn to arrival. */
  grammyFirstRequest: Summary;
  /**
   * `handler.ts` with the poll loop's exact command line: spawn to its first call about the message
   * (its 👀 while handlers acknowledged; the ✍ or typing since the front desk, issue #11).
   */
  handlerAck: Summary;
}

/** Options for {@linkcode measureAckPath}. */
export interface AckPathOptions {
  /** Runs of each probe. */
  repeats: number;
  signal: AbortSignal;
}

const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const probe = (name: string) => new URL(`./probes/${name}`, import.meta.url).pathname;

/** Runs each probe `repeats` times, one at a time. */
export async function measureAckPath(options: AckPathOptions): Promise<AckPathFigures> {
  const { repeats, signal } = options;
  await using sim = await BotApiSimulator.start();
  await using dirs = await scratch();
  const runs = {
    empty: [] as number[],
    fetchFirst: [] as number[],
    fetchWarm: [] as number[],
    grammy: [] as number[],
    handler: [] as number[],
  };
  const flags = ["run", "--quiet", "--no-prompt", "--frozen", `--config=${CONFIG}`];
  for (let i = 0; i < repeats; i++) {
    signal.throwIfAborted();
    let started = simNow();
    await run([...flags, probe("empty.ts")]);
    runs.empty.push(simNow() - started);

    const url = `${sim.apiRoot}/bot${sim.token}/getMe`;
    let seen = sim.calls.length;
    started = simNow();
    await run([...flags, "--allow-net=127.0.0.1", probe("fetch.ts"), url]);
    const [cold, warm] = sim.calls.slice(seen);
    runs.fetchFirst.push(cold.at - started);
    runs.fetchWarm.push(warm.at - cold.endedAt!);

    seen = sim.calls.length;
    started = simNow();
    await run([...flags, "--allow-net=127.0.0.1", probe("grammy.ts"), sim.apiRoot, sim.token]);
    runs.grammy.push(sim.calls[seen].at - started);

    runs.handler.push(await handlerAck(sim, dirs.path, signal));
  }
  return {
    emptyScriptExit: summarise(runs.empty),
    fetchFirstRequest: summarise(runs.fetchFirst),
    fetchWarmRequest: summarise(runs.fetchWarm),
    grammyFirstRequest: summarise(runs.grammy),
    handlerAck: summarise(runs.handler),
  };
}

/**
 * Starts the real handler for one message, as the poll loop would; returns spawn to its first Bot
 * API call about the message, in ms.
 */
async function handlerAck(sim: BotApiSimulator, root: string, signal: AbortSignal) {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: root,
    NO_COLOR: "1",
    DENO_DIR: denoDir(),
    TELEGRAM_BOT_TOKEN: sim.token,
    COORD_AUTHORIZED_USER_IDS: "1",
    COORD_API_ROOT: sim.apiRoot,
    COORD_BRAIN_CMD: BRAIN,
    COORD_LOCK_DIR: `${root}/lock`,
    COORD_STATE_DIR: `${root}/state`,
  };
  const config = parseConfig({
    env,
    uid: () => null,
    readTextFile: (path) => Deno.readTextFileSync(path),
    isReadableFile: () => true,
  });
  const launch = handlerLaunch(config, {
    denoPath: Deno.execPath(),
    handlerPath: new URL("../handler.ts", import.meta.url).pathname,
    configPath: CONFIG,
    env,
  });
  // Nothing polls this simulator: the message goes to the handler as the scheduler would hand it
  // over, after the token.
  const message = send(sim, 1, "ack path");
  const entry = {
    updateId: (message.update as { update_id: number }).update_id,
    chatId: message.chatId,
    update: message.update,
    stage: "started",
    dispatches: 1,
    receivedAt: new Date().toISOString(),
  };
  const lines = [
    encodeLine({ kind: "hello", token: launch.token, role: "message" }),
    encodeLine({ kind: "start", entry: entry as JournalEntry }),
  ];
  const started = simNow();
  const child = new Deno.Command(launch.command, {
    args: [...launch.args],
    env: launch.env,
    clearEnv: true,
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const stdin = child.stdin.getWriter();
  let missing: unknown[] = [];
  try {
    for (const line of lines) await stdin.write(line);
    missing = await waitForEmoji(sim, [message], "👌", { timeoutMs: 30_000, signal });
  } finally {
    // EOF tells the handler that its poll process is gone: it stops.
    await stdin.close().catch(() => {});
    await child.status;
  }
  if (missing.length > 0) {
    throw new Error(`The ack-path handler did not answer; its stderr:\n${await stderr}`);
  }
  const first = sim.calls.find((c) => c.at >= started && c.params.chat_id === message.chatId)!;
  return first.at - started;
}

/** Runs `deno` with `args` to its end; throws on a non-zero exit. */
async function run(args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    env: { DENO_DIR: denoDir(), NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`deno ${args.at(-1)} failed (${code}): ${new TextDecoder().decode(stderr)}`);
  }
}

/**
 * A temporary folder with `lock/` and `state/` (and in it what the poll process would have made:
 * the journal's folder and the brains' working folder), removed on dispose.
 */
async function scratch(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "coord-bench-ack-" });
  for (const dir of ["lock", "state", "state/journal", "state/brain"]) {
    await Deno.mkdir(`${path}/${dir}`, { mode: 0o700 });
  }
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}
