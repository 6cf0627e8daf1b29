/**
 * What the two baselines share: their settings (from the same environment variables as the bot)
 * and one brain call with `Deno.Command`, the way a single-process bot would make it.
 *
 * @module
 */

/** A baseline's settings. */
export interface BaselineConfig {
  token: string;
  apiRoot: string;
  /** The brain's argv. */
  brain: string[];
  /** Long-poll timeout, seconds. */
  pollTimeoutS: number;
}

/** Reads `TELEGRAM_BOT_TOKEN`, `COORD_API_ROOT`, `COORD_BRAIN_CMD`, `COORD_POLL_TIMEOUT_S`. */
export function baselineConfig(env: Record<string, string>): BaselineConfig {
  const token = env.TELEGRAM_BOT_TOKEN;
  const apiRoot = env.COORD_API_ROOT;
  const brain = (env.COORD_BRAIN_CMD ?? "").split(/\s+/).filter((w) => w !== "");
  if (!token || !apiRoot || brain.length === 0) {
    throw new TypeError(
      "Cannot start a baseline: TELEGRAM_BOT_TOKEN, COORD_API_ROOT and COORD_BRAIN_CMD are required",
    );
  }
  return { token, apiRoot, brain, pollTimeoutS: Number(env.COORD_POLL_TIMEOUT_S ?? "10") };
}

/** Options for {@linkcode callBrain}. */
export interface CallBrainOptions {
  /** The brain's argv. */
  command: readonly string[];
  /** The message text, on stdin. */
  input: string;
  /** Extra environment (the message's ids). */
  env: Record<string, string>;
  /** Stops the brain. */
  signal?: AbortSignal;
}

/** Runs the brain once and returns its stdout; rejects on a non-zero exit. */
export async function callBrain(options: CallBrainOptions): Promise<string> {
  const { command, input, env, signal } = options;
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    signal,
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input)).catch(() => {});
  await writer.close().catch(() => {});
  const { code, stdout } = await child.output();
  if (code !== 0) throw new Error(`Brain exited with status ${code}`);
  return new TextDecoder().decode(stdout).trim();
}

/** The environment a brain gets for one message, as the bot gives it. */
export function messageEnv(ids: { chatId: number; messageId: number; updateId: number }) {
  return {
    COORD_CHAT_ID: String(ids.chatId),
    COORD_MESSAGE_ID: String(ids.messageId),
    COORD_UPDATE_ID: String(ids.updateId),
  };
}

/** An AbortSignal aborted by SIGTERM or SIGINT. */
export function stopSignal(): AbortSignal {
  const stop = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => stop.abort());
  }
  return stop.signal;
}
