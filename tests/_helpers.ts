/**
 * Test resources that can't leak: temporary folders and the real bot process (`main.ts`) against
 * the simulator, each `AsyncDisposable`; and the waits and fakes several test files share.
 *
 * @module
 */

import { reset } from "@logtape/logtape";
import { setupLogging } from "../lib/shared/log.ts";
import { GrammyError } from "../lib/shared/telegram.ts";
import type { Api } from "grammy/web";
import type { Message, Update } from "grammy/types";
import { HandlerLine } from "../lib/handler/line.ts";
import { Journal } from "../lib/shared/journal.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import { type Control, encodeLine, type Report } from "../lib/shared/line.ts";
import type { Logger } from "../lib/shared/log.ts";
import { createApi } from "../lib/shared/telegram.ts";
import { BotApiSimulator, type RecordedCall } from "./sim/simulator.ts";

export { BotApiSimulator, type RecordedCall };

// From import.meta.dirname, not a URL's pathname, which percent-encodes spaces and non-ASCII.
const ROOT = import.meta.dirname!.replace(/\/tests$/, "");

/** Absolute path of a file of the project. */
export function projectPath(relative: string): string {
  return `${ROOT}/${relative}`;
}

/** The stub brain and transcriber. */
export const STUB_BRAIN = projectPath("tests/stubs/brain.sh");
export const STUB_TRANSCRIBER = projectPath("tests/stubs/transcribe.sh");

/** A temporary folder, removed on dispose. */
export interface TempDir extends AsyncDisposable {
  readonly path: string;
}

/** Creates a temporary folder. */
export async function tempDir(prefix = "coord-test-"): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/**
 * Waits until `check` returns a value other than `undefined` or `false`, polling, with a
 * deadline. (`false` is "not yet" too: a boolean check must not pass at its first `false`.)
 */
export async function waitUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; description: string },
): Promise<T> {
  const { timeoutMs = 20_000, description } = options;
  const deadline = performance.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** True when a process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch (error) {
    // Only "no such process" means dead; anything else (a permission) must fail the test.
    if (error instanceof Deno.errors.NotFound) return false;
    // Deno reads /proc only with --allow-all; the demo runs with deno.json's narrower flags.
    if (error instanceof Deno.errors.NotCapable) return psState(pid);
    throw error;
  }
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X";
}

/** {@linkcode isAlive} through `ps`, for a caller without --allow-all (needs --allow-run). */
function psState(pid: number): boolean {
  const out = new Deno.Command("ps", {
    args: ["-o", "stat=", "-p", String(pid)],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  const state = new TextDecoder().decode(out.stdout).trim();
  return state !== "" && !state.startsWith("Z") && !state.startsWith("X");
}

/** The argv of `deno task start`, as written in deno.json, with our own Deno binary. */
export function startCommand(): { command: string; args: string[] } {
  const config = JSON.parse(Deno.readTextFileSync(projectPath("deno.json")));
  const words = String(config.tasks.start).split(/\s+/);
  if (words[0] !== "deno") throw new Error(`Unexpected start task: ${config.tasks.start}`);
  return { command: Deno.execPath(), args: words.slice(1) };
}

/** Options for {@linkcode startBot}. */
export interface BotOptions {
  sim: BotApiSimulator;
  /** Settings on top of the defaults below (a value of `undefined` removes one). */
  env?: Record<string, string | undefined>;
  /** Authorized user ids. Default: `[1001]`. */
  authorized?: number[];
  /** The folders of an earlier bot to start again in (a restart); they are then not removed. */
  dirs?: BotProcess["dirs"];
}

/** The real bot, started as `deno task start` would, against the simulator. */
export class BotProcess implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  readonly dirs: { state: string; lock: string; pids: string; root: string };
  readonly status: Promise<Deno.CommandStatus>;
  #stderr = "";
  #stderrDone: Promise<void>;
  #listeners = new Set<() => void>();

  #ownsDirs: boolean;
  #options?: BotOptions;
  /** The bots started again from this one ({@linkcode restart}), for their stderr on failure. */
  #restarts: BotProcess[] = [];

  constructor(
    process: Deno.ChildProcess,
    dirs: BotProcess["dirs"],
    ownsDirs = true,
    options?: BotOptions,
  ) {
    this.process = process;
    this.dirs = dirs;
    this.#ownsDirs = ownsDirs;
    this.#options = options;
    this.status = process.status;
    this.#stderrDone = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of process.stderr) {
        this.#stderr += decoder.decode(chunk, { stream: true });
        for (const listener of this.#listeners) listener();
      }
    })();
  }

  /** Everything the bot (and its handlers) wrote to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** The stderr lines so far. */
  get lines(): string[] {
    return this.#stderr.split("\n").filter((l) => l !== "");
  }

  /** Waits for a stderr line matching `pattern`; resolves with it. */
  waitForLog(
    pattern: RegExp,
    options: { timeoutMs?: number; count?: number } = {},
  ): Promise<string> {
    const { timeoutMs = 20_000, count = 1 } = options;
    const find = () => {
      const matches = this.lines.filter((l) => pattern.test(l));
      return matches.length >= count ? matches[count - 1] : undefined;
    };
    return new Promise((resolve, reject) => {
      const done = () => {
        const line = find();
        if (line === undefined) return;
        cleanup();
        resolve(line);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for a log line ${pattern}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#listeners.delete(done);
      };
      this.#listeners.add(done);
      done();
    });
  }

  /** The pids of every handler the bot logged as started (given an update, a spare, or the desk). */
  handlerPids(): number[] {
    const pids = this.lines.flatMap((l) => {
      const m = l.match(/(?:child|spare|desk) started: .*pid (\d+)/);
      return m ? [Number(m[1])] : [];
    });
    return [...new Set(pids)];
  }

  /** The pids the stub brains recorded (brains and their grandchildren). */
  brainPids(): number[] {
    const pids: number[] = [];
    for (const entry of Deno.readDirSync(this.dirs.pids)) {
      const text = Deno.readTextFileSync(`${this.dirs.pids}/${entry.name}`);
      pids.push(...text.split("\n").filter((l) => l !== "").map(Number));
    }
    return pids;
  }

  /** Every process the bot started, directly or not, that is still alive. */
  leftovers(): number[] {
    return [...this.handlerPids(), ...this.brainPids()].filter(isAlive);
  }

  /**
   * Starts the bot again in the same folders, with the same simulator and settings (`env` on top):
   * a restart. It doesn't stop this one first; the new bot doesn't remove the folders, this one
   * does. Its stderr is printed with this one's by {@linkcode printStderrOnFailure}, and it is
   * disposed with this one: a test that restarts a bot several times restarts it from the first.
   */
  async restart(env: Record<string, string | undefined> = {}): Promise<BotProcess> {
    if (this.#options === undefined) {
      throw new TypeError("Cannot restart a bot that was not started by startBot()");
    }
    const options = { ...this.#options, env: { ...this.#options.env, ...env }, dirs: this.dirs };
    const bot = await startBot(options);
    this.#restarts.push(bot);
    return bot;
  }

  /**
   * Runs `body`; when it throws, prints the stderr of this bot and of every bot restarted from it
   * (a passing test prints nothing), and throws on.
   */
  async printStderrOnFailure<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      console.error(this.#stderrReport());
      throw error;
    }
  }

  #stderrReport(): string {
    const own =
      `--- bot stderr (pid ${this.process.pid}) ---\n${this.#stderr}--- end of bot stderr ---`;
    return [own, ...this.#restarts.map((bot) => bot.#stderrReport())].join("\n");
  }

  /** Sends a signal to the bot process. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.process.kill(signal);
    } catch {
      // Already gone.
    }
  }

  /** When the bot exited, in ms on the simulator's clock (`performance.timeOrigin` based). */
  exitedAt?: number;

  /** Waits for the bot's exit and its stderr's end. */
  async exited(): Promise<Deno.CommandStatus> {
    const status = await this.status;
    this.exitedAt ??= performance.timeOrigin + performance.now();
    await this.#stderrDone;
    return status;
  }

  /** Kills this bot and every bot restarted from it, and what they left; removes its folders. */
  async [Symbol.asyncDispose](): Promise<void> {
    // The restarts first: they run in this bot's folders, which go last.
    for (const bot of this.#restarts) await bot[Symbol.asyncDispose]();
    this.kill("SIGKILL");
    await this.exited();
    // Whatever a failed test left behind goes too, so that one failure can't spoil the next test.
    for (const pid of this.leftovers()) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    if (this.#ownsDirs) await Deno.remove(this.dirs.root, { recursive: true }).catch(() => {});
  }
}

/** The environment a test bot runs with, before `options.env`. */
export function botEnv(
  sim: BotApiSimulator,
  dirs: BotProcess["dirs"],
  authorized: number[],
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? dirs.root,
    NO_COLOR: "1",
    TELEGRAM_BOT_TOKEN: sim.token,
    COORD_AUTHORIZED_USER_IDS: authorized.join(","),
    COORD_API_ROOT: sim.apiRoot,
    // A JSON array, so that a checkout path with spaces stays one word.
    COORD_BRAIN_CMD: JSON.stringify([STUB_BRAIN]),
    COORD_BRAIN_TIMEOUT_S: "20",
    COORD_BRAIN_MAX_ITERS: "2",
    COORD_LOCK_DIR: dirs.lock,
    COORD_STATE_DIR: dirs.state,
    COORD_POLL_TIMEOUT_S: "10",
    STUB_BRAIN_LOG: `${dirs.root}/brain.log`,
    STUB_PID_DIR: dirs.pids,
    STUB_GATE_DIR: `${dirs.root}/gates`,
    STUB_INPUT_DIR: `${dirs.root}/inputs`,
  };
  // Keep the module cache where it is (even for a test that moves HOME), so nothing is downloaded.
  env.DENO_DIR = denoDir();
  return env;
}

let cachedDenoDir: string | undefined;

/** Deno's cache folder, as this Deno sees it. */
export function denoDir(): string {
  if (cachedDenoDir === undefined) {
    const out = new Deno.Command(Deno.execPath(), {
      args: ["info", "--json"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    cachedDenoDir = JSON.parse(new TextDecoder().decode(out.stdout)).denoDir as string;
  }
  return cachedDenoDir;
}

/** Starts the real bot against the simulator. */
export async function startBot(options: BotOptions): Promise<BotProcess> {
  const { sim, env = {}, authorized = [1001] } = options;
  let dirs = options.dirs;
  if (dirs === undefined) {
    const root = await Deno.makeTempDir({ prefix: "coord-bot-" });
    dirs = { root, state: `${root}/state`, lock: `${root}/lock`, pids: `${root}/pids` };
    await Deno.mkdir(dirs.lock);
    await Deno.mkdir(dirs.pids);
    await Deno.mkdir(`${root}/gates`);
    await Deno.mkdir(`${root}/inputs`);
  }
  const merged: Record<string, string> = botEnv(sim, dirs, authorized);
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete merged[name];
    else merged[name] = value;
  }
  const { command, args } = startCommand();
  const process = new Deno.Command(command, {
    args,
    cwd: ROOT,
    env: merged,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  return new BotProcess(process, dirs, options.dirs === undefined, options);
}

/**
 * The settings of a bot whose brain is the stand-in Claude CLI (`tests/stubs/claude-bin/claude`,
 * on PATH as the default brain), its conversations in `dir`; `env` on top.
 */
export function claudeEnv(
  dir: string,
  env: Record<string, string | undefined> = {},
): Record<string, string | undefined> {
  return {
    COORD_BRAIN_CMD: undefined,
    PATH: `${projectPath("tests/stubs/claude-bin")}:${Deno.env.get("PATH")}`,
    STUB_CLAUDE_DIR: dir,
    ...env,
  };
}

/** Lets the stub brains waiting at gate `name` answer. */
export function openGate(bot: BotProcess, name: string): void {
  Deno.writeTextFileSync(`${bot.dirs.root}/gates/${name}`, "");
}

/** What the stub brain got on stdin for an update, exactly, once it has run (tests/stubs/brain.sh). */
export function brainInput(bot: BotProcess, updateId: number): Promise<string> {
  return waitUntil(() => {
    try {
      return Deno.readTextFileSync(`${bot.dirs.root}/inputs/input-${updateId}`);
    } catch {
      return undefined;
    }
  }, { description: `the brain's input for update ${updateId}` });
}

/** The brain log's lines (see tests/stubs/brain.sh). */
export function brainLog(bot: BotProcess): string[] {
  try {
    return Deno.readTextFileSync(`${bot.dirs.root}/brain.log`).split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

/**
 * Runs an end-to-end test body with a simulator and a bot; on failure prints the stderr of the bot
 * and of every bot restarted from it (a passing test prints nothing), and always tears them all
 * down. Every end-to-end test starts its bots this way, restarts with {@linkcode BotProcess.restart}.
 */
export async function withBot(
  options: Omit<BotOptions, "sim">,
  body: (sim: BotApiSimulator, bot: BotProcess) => Promise<void>,
): Promise<void> {
  await using sim = await BotApiSimulator.start();
  await using bot = await startBot({ ...options, sim });
  await bot.printStderrOnFailure(() => body(sim, bot));
}

/** Matches the bot's reaction `emoji` on a message. */
export function reacted(chatId: number, messageId: number, emoji: string) {
  return (call: RecordedCall): boolean =>
    call.method === "setMessageReaction" && call.status === 200 &&
    call.params.chat_id === chatId && call.params.message_id === messageId &&
    JSON.stringify(call.params.reaction).includes(emoji);
}

/** Matches a successful reply to a message. */
export function repliedTo(chatId: number, messageId: number) {
  return (call: RecordedCall): boolean =>
    call.method === "sendMessage" && call.status === 200 && call.params.chat_id === chatId &&
    (call.params.reply_parameters as { message_id?: number } | undefined)?.message_id === messageId;
}

/** Matches a successful sendMessage in a chat. */
export function sentTo(chatId: number) {
  return (call: RecordedCall): boolean =>
    call.method === "sendMessage" && call.status === 200 && call.params.chat_id === chatId;
}

/** The text a recorded call sent. */
export function textOf(call: RecordedCall): string {
  return String(call.params.text);
}

/** The message id of an update the simulator's phone sent. */
export function messageIdOf(update: { message?: { message_id: number } }): number {
  if (!update.message) throw new TypeError("Cannot take the message id: not a message update");
  return update.message.message_id;
}

/** Waits (with a deadline) until `pid` is gone: a signal reaches a process a moment later. */
export function gone(pid: number, timeoutMs = 5000): Promise<true> {
  return waitUntil(() => !isAlive(pid) || undefined, {
    timeoutMs,
    description: `pid ${pid} to end`,
  });
}

/** Kills processes a failed test may have left behind. */
export function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
}

/** Kills the bot and every process it started at once, as an OOM kill of its cgroup would. */
export async function killEverything(bot: BotProcess): Promise<void> {
  const pids = bot.handlerPids();
  bot.kill("SIGKILL");
  killAll(pids);
  await bot.exited();
  await waitUntil(() => (bot.leftovers().length === 0 ? true : undefined), {
    description: "the bot's processes to end",
  });
}

/** Resolves with `promise`, or rejects when it takes longer than `ms`. */
export async function withDeadline<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One scripted answer of {@linkcode FakeApi}'s `getUpdates`: updates, an error to throw, "hang"
 * (until aborted), or any other answer.
 */
export type GetUpdatesStep = unknown[] | Error | "hang" | { answer: unknown };

/** A `getUpdates` call as {@linkcode FakeApi} recorded it. */
export interface GetUpdatesCall {
  params: { offset: number; limit: number; timeout: number; allowed_updates: string[] };
  signal: AbortSignal;
}

/** A Bot API stand-in for the `Poller`: its `getUpdates` follows a script, recording every call. */
export class FakeApi {
  readonly calls: GetUpdatesCall[] = [];
  #script: GetUpdatesStep[];
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(script: GetUpdatesStep[]) {
    this.#script = [...script];
  }

  getUpdates(params: GetUpdatesCall["params"], signal: AbortSignal): Promise<unknown> {
    this.calls.push({ params, signal });
    for (const waiter of this.#waiters) if (this.calls.length >= waiter.count) waiter.resolve();
    const step = this.#script.shift() ?? "hang";
    if (step === "hang") {
      // Like fetch: pending until its signal aborts.
      return new Promise((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    if (step instanceof Error) return Promise.reject(step);
    if (Array.isArray(step)) return Promise.resolve(step);
    return Promise.resolve(step.answer);
  }

  /** Resolves once `count` calls have come in. */
  called(count: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ count, resolve });
    if (this.calls.length >= count) resolve();
    return promise;
  }
}

/** A Bot API error, as grammY throws it, from `getUpdates`. */
export function apiError(code: number, description: string, parameters = {}): GrammyError {
  return new GrammyError(
    `Call to 'getUpdates' failed! (${code}: ${description})`,
    { ok: false, error_code: code, description, parameters },
    "getUpdates",
    {},
  );
}

/** One line a {@linkcode recordingLog} was given. */
export interface LoggedLine {
  level: "debug" | "info" | "warn" | "error";
  message: string;
  props: Record<string, unknown>;
}

/** A logger that keeps its lines (for a unit test to read) and prints nothing. */
export function recordingLog(): { log: Logger; lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const at = (level: LoggedLine["level"]) => (message: string, props = {}) =>
    void lines.push({ level, message, props });
  const log = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { log: log as unknown as Logger, lines };
}

/**
 * Records each Bot API call `api` makes (on its way out, before it is sent) with what `look()`
 * returns at that moment: what the journal held when a message went out, for example.
 */
export function observeCalls<T>(api: Api, look: () => T): { method: string; seen: T }[] {
  const seen: { method: string; seen: T }[] = [];
  api.config.use((prev, method, payload, signal) => {
    seen.push({ method, seen: look() });
    return prev(method, payload, signal);
  });
  return seen;
}

/** The bot's log lines, captured in memory. */
export interface CapturedLog extends AsyncDisposable {
  /** Each line as the bot would write it to stderr (journald prefixes off). */
  readonly lines: string[];
}

/** Sends this process's log (every `coord` logger) into memory until disposed, then resets it. */
export async function captureLog(): Promise<CapturedLog> {
  const lines: string[] = [];
  const decoder = new TextDecoder();
  await setupLogging({ secrets: [], journal: false, write: (b) => lines.push(decoder.decode(b)) });
  return { lines, [Symbol.asyncDispose]: () => reset() };
}

/** The permission bits of a file or folder. */
export function modeOf(path: string): number {
  return Deno.statSync(path).mode! & 0o777;
}

/**
 * Keeps this process's umask and `COORD_PERSON_UMASK` as they are now, for a test that changes
 * them (as `keepPrivate()` does): both are restored on dispose. Sets the umask to `umask` meanwhile.
 */
export function umaskKept(umask: number): Disposable {
  const before = Deno.umask(umask);
  const person = Deno.env.get("COORD_PERSON_UMASK");
  return {
    [Symbol.dispose]() {
      Deno.umask(before);
      if (person === undefined) Deno.env.delete("COORD_PERSON_UMASK");
      else Deno.env.set("COORD_PERSON_UMASK", person);
    },
  };
}

/** What {@linkcode messageRig} sets up for a handler-side unit test. */
export interface MessageRig extends AsyncDisposable {
  sim: BotApiSimulator;
  /** The state folder. */
  dir: TempDir;
  /** A journal in `dir`, not durable (no fsync). */
  journal: Journal;
  /** The person's message, as the simulator queued it. */
  update: Update & { message: Message };
  ids: { updateId: number; chatId: number; messageId: number };
  /** The message's entry as journaled (what the poll process hands its handler). */
  entry: JournalEntry;
  /** A client of the simulator. */
  api: Api;
}

/**
 * A simulator with the person's message (from chat `chatId`) in it, that message journaled as
 * its brain runs (or as `patch` says), a client and a state folder: where a handler's step finds a
 * message. Released on dispose.
 */
export async function messageRig(
  chatId: number,
  options: {
    /** What the person sends. Default: the text "the question". */
    send?: (sim: BotApiSimulator) => Update;
    /** The journal entry's fields. Default: its brain's first attempt under way. */
    patch?: Partial<JournalEntry>;
  } = {},
): Promise<MessageRig> {
  const {
    send = (sim: BotApiSimulator) => sim.sendText(chatId, "the question"),
    patch = { stage: "brain", attempt: 1 },
  } = options;
  const sim = await BotApiSimulator.start();
  const dir = await tempDir();
  const journal = new Journal(`${dir.path}/journal`, { durable: false });
  journal.open();
  const update = send(sim) as Update & { message: Message };
  const ids = { updateId: update.update_id, chatId, messageId: update.message.message_id };
  journal.record(update, { updateId: ids.updateId, chatId });
  const entry = journal.update(ids.updateId, patch)!;
  const api = createApi(sim.token, { apiRoot: sim.apiRoot });
  return {
    sim,
    dir,
    journal,
    update,
    ids,
    entry,
    api,
    async [Symbol.asyncDispose]() {
      await sim.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

/**
 * Counts the timers and intervals set and not yet cleared (or fired, for a timer) while it is in
 * use: what could still act later. Deno's sanitizers see leaks only at a test's end; this lets a
 * test check "nothing left to happen" at any point, instead of waiting to see nothing happen.
 */
export function trackTimers(): { readonly pending: number } & Disposable {
  const { setTimeout: set, clearTimeout: clear, setInterval: every, clearInterval: stop } =
    globalThis;
  type Id = ReturnType<typeof setTimeout>;
  const pending = new Set<Id>();
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    const id = set(() => {
      pending.delete(id);
      fn();
    }, ms);
    pending.add(id);
    return id;
  }) as typeof setTimeout;
  globalThis.setInterval = ((fn: () => void, ms?: number) => {
    const id = every(fn, ms);
    pending.add(id);
    return id;
  }) as typeof setInterval;
  globalThis.clearTimeout = ((id?: Id) => {
    if (id !== undefined) pending.delete(id);
    clear(id);
  }) as typeof clearTimeout;
  globalThis.clearInterval = ((id?: Id) => {
    if (id !== undefined) pending.delete(id);
    stop(id);
  }) as typeof clearInterval;
  return {
    get pending() {
      return pending.size;
    },
    [Symbol.dispose]() {
      Object.assign(globalThis, { setTimeout: set, clearTimeout: clear });
      Object.assign(globalThis, { setInterval: every, clearInterval: stop });
      // A test that failed must not leave its long timers running.
      for (const id of pending) clear(id);
    },
  };
}

/** A handler's end of the line (`lib/handler/line.ts`) on a stream fed by hand. */
export interface TestLine {
  readonly line: HandlerLine;
  /** The reports the handler sent, in order. */
  readonly reports: Report[];
  /** Writes a control on the handler's stdin. */
  send(control: Control): void;
  /** Writes raw text on the handler's stdin (a line that is not a control, say). */
  write(text: string): void;
  /** Closes the handler's stdin: EOF, as when the poll process is gone (again: nothing). */
  close(): void;
}

/** A {@linkcode HandlerLine} whose stdin the test writes and whose reports it keeps. */
export function testLine(options: { onBadLine?: (error: TypeError) => void } = {}): TestLine {
  let input!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (input = c) });
  const reports: Report[] = [];
  const line = new HandlerLine(stream, { report: (r) => reports.push(r), ...options });
  let closed = false;
  return {
    line,
    reports,
    send: (control) => input.enqueue(encodeLine(control)),
    write: (text) => input.enqueue(new TextEncoder().encode(text)),
    close() {
      if (!closed) input.close();
      closed = true;
    },
  };
}

/** The person of the scheduler's unit tests: an authorized user, whose private chat has the same id. */
export const PERSON = 1001;

/** A text message of update `updateId` (its `message_id` is `updateId + 100`) in `chatId`. */
export function textUpdate(
  updateId: number,
  options: { chatId?: number; text?: string; replyTo?: number; from?: number } = {},
): Update & { message: Message } {
  // In a private chat the sender is the chat; in a group, the person.
  const { chatId = PERSON, text = `m${updateId}`, replyTo, from = chatId > 0 ? chatId : PERSON } =
    options;
  return {
    update_id: updateId,
    message: {
      message_id: updateId + 100,
      chat: { id: chatId, type: chatId > 0 ? "private" : "supergroup" },
      from: { id: from, is_bot: false, first_name: "P" },
      date: 0,
      text,
      ...(replyTo === undefined ? {} : {
        reply_to_message: {
          message_id: replyTo,
          chat: { id: chatId, type: chatId > 0 ? "private" : "supergroup" },
          date: 0,
        },
      }),
    },
  } as unknown as Update & { message: Message };
}

/** An edit (update `updateId`) of the message `messageId`, to `text`. */
export function editUpdate(
  updateId: number,
  messageId: number,
  options: { chatId?: number; text?: string } = {},
): Update {
  const { chatId = PERSON, text = `edited by ${updateId}` } = options;
  return {
    update_id: updateId,
    edited_message: {
      message_id: messageId,
      chat: { id: chatId, type: "private" },
      from: { id: PERSON, is_bot: false, first_name: "P" },
      date: 0,
      edit_date: 1,
      text,
    },
  } as unknown as Update;
}

/** A press of the 🛑 under the progress message of update `target`, in `chatId`. */
export function pressUpdate(updateId: number, target: number, chatId = PERSON): Update {
  return {
    update_id: updateId,
    callback_query: {
      id: `q${updateId}`,
      // In a private chat, its own person presses.
      from: { id: chatId > 0 ? chatId : PERSON, is_bot: false, first_name: "P" },
      chat_instance: "c",
      data: `stop:${target}`,
      message: { message_id: 77, chat: { id: chatId, type: "private" }, date: 0 },
    },
  } as unknown as Update;
}
