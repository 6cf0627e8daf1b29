/**
 * The phone's side of each measured condition: what is sent, when, and what is waited for. Waits
 * are on the simulator's record (the 👀, 👌 or reply arrived), with deadlines; the only timed
 * pauses are where time is the input: the samplers', and the person's pace in the backlog.
 *
 * @module
 */

import type { BotApiSimulator } from "../tests/sim/simulator.ts";
import { delay, isAbortOf } from "../lib/shared/abort.ts";
import { descendants, memory } from "./_proc.ts";
import { send, type SentMessage, waitForEmoji, waitForReplies } from "./_record.ts";

/** What every workload needs. */
export interface WorkloadContext {
  sim: BotApiSimulator;
  /** The target's main process. */
  pid: number;
  /** Deadline for one message (or one batch) to be answered, ms. */
  timeoutMs: number;
  signal: AbortSignal;
}

/** What a workload sent, and what was never answered. */
export interface Sent {
  messages: SentMessage[];
  unanswered: SentMessage[];
}

/** Options for {@linkcode oneAtATime}. */
export interface OneAtATimeOptions {
  chatId: number;
  count: number;
}

/**
 * Sends `count` echo messages to one chat, each after the previous one's 👌, so each is alone in
 * the bot. Stops at the first message left unanswered.
 */
export async function oneAtATime(ctx: WorkloadContext, options: OneAtATimeOptions): Promise<Sent> {
  const { chatId, count } = options;
  const sent: Sent = { messages: [], unanswered: [] };
  for (let i = 0; i < count && sent.unanswered.length === 0; i++) {
    const message = send(ctx.sim, chatId, `idle ${i}`);
    sent.messages.push(message);
    sent.unanswered.push(...await waitForEmoji(ctx.sim, [message], "👌", ctx));
  }
  return sent;
}

/** Options for {@linkcode withBurners}. */
export interface BurnersOptions {
  /** One CPU-burning brain per chat, kept going until the body ends. */
  chats: readonly number[];
  /** How long each burner brain burns; a new one follows at once. */
  seconds: number;
}

/**
 * Runs `body` while one CPU-burning brain runs in each of `options.chats`, all of them verified
 * running (a `timeout` process each under the target) before `body` starts. Burners are replaced
 * as they finish, and all are awaited before it returns.
 */
export async function withBurners<T extends Sent>(
  ctx: WorkloadContext,
  options: BurnersOptions,
  body: () => Promise<T>,
): Promise<T> {
  const { chats, seconds } = options;
  const done = new AbortController();
  const burners: SentMessage[] = [];
  const unanswered: SentMessage[] = [];
  const loops = chats.map(async (chatId) => {
    while (!done.signal.aborted) {
      const message = send(ctx.sim, chatId, `burn ${seconds}`);
      burners.push(message);
      const missing = await waitForEmoji(ctx.sim, [message], "👌", {
        ...ctx,
        timeoutMs: ctx.timeoutMs + seconds * 1000,
      });
      unanswered.push(...missing);
      if (missing.length > 0) return;
    }
  });
  let result: T;
  try {
    await waitFor(
      () =>
        descendants(ctx.pid).filter((p) => p.comm === "timeout" && p.state !== "Z").length >=
          chats.length,
      { ...ctx, description: `${chats.length} burner brains running` },
    );
    result = await body();
  } finally {
    done.abort();
    await Promise.all(loops);
  }
  return { ...result, unanswered: [...result.unanswered, ...unanswered] };
}

/** Options for {@linkcode bursts}. */
export interface BurstsOptions {
  /** The chats a burst is spread over, round-robin. */
  chats: readonly number[];
  /** Messages per burst. */
  size: number;
  /** Bursts, each after the previous one was fully answered. */
  count: number;
}

/** Sends `count` bursts of `size` echo messages at once, spread over `chats`. */
export async function bursts(ctx: WorkloadContext, options: BurstsOptions): Promise<Sent> {
  const { chats, size, count } = options;
  const sent: Sent = { messages: [], unanswered: [] };
  for (let b = 0; b < count && sent.unanswered.length === 0; b++) {
    const burst = flood(ctx.sim, chats, size, `burst ${b}`);
    sent.messages.push(...burst);
    sent.unanswered.push(...await waitForEmoji(ctx.sim, burst, "👌", batchDeadline(ctx, size)));
  }
  return sent;
}

/** Sends `count` echo messages at once over `chats`, round-robin; returns them. */
export function flood(
  sim: BotApiSimulator,
  chats: readonly number[],
  count: number,
  label: string,
): SentMessage[] {
  return Array.from(
    { length: count },
    (_, i) => send(sim, chats[i % chats.length], `${label} ${i}`),
  );
}

/**
 * The deadline for a batch of `count` messages: the per-message one plus a second a message, since
 * a bot that starts a process per message answers a few per second.
 */
export function batchDeadline(ctx: WorkloadContext, count: number): WorkloadContext {
  return { ...ctx, timeoutMs: ctx.timeoutMs + count * 1000 };
}

/** Options for {@linkcode stall}. */
export interface StallOptions {
  /** The chat whose brain thinks. */
  slowChat: number;
  /** The chat whose message is measured. */
  chatId: number;
  /** How long the slow brain thinks. */
  seconds: number;
  /** Repetitions. */
  count: number;
}

/**
 * The seed's stall: a message whose brain thinks `seconds` (in `slowChat`), then, once its 👀 is
 * in, an echo message in another chat; only the second message is measured.
 */
export async function stall(ctx: WorkloadContext, options: StallOptions): Promise<Sent> {
  const { slowChat, chatId, seconds, count } = options;
  const sent: Sent = { messages: [], unanswered: [] };
  const slowCtx = { ...ctx, timeoutMs: ctx.timeoutMs + seconds * 1000 };
  for (let i = 0; i < count && sent.unanswered.length === 0; i++) {
    const slow = send(ctx.sim, slowChat, `sleep ${seconds}`);
    sent.unanswered.push(...await waitForEmoji(ctx.sim, [slow], "👀", slowCtx));
    const fast = send(ctx.sim, chatId, `while busy ${i}`);
    sent.messages.push(fast);
    sent.unanswered.push(...await waitForEmoji(ctx.sim, [slow, fast], "👌", slowCtx));
  }
  return sent;
}

/** Options for {@linkcode backlog}. */
export interface BacklogOptions {
  chatId: number;
  /** How long the first message's brain thinks, s. */
  seconds: number;
  /** Messages sent after it. */
  count: number;
  /** Between two sends, ms. */
  gapMs: number;
  /** A `/status` after every this many messages. */
  statusEvery: number;
}

/** What the backlog sent: its messages, and the commands among them. */
export interface BacklogSent extends Sent {
  status: SentMessage[];
  cancel: SentMessage[];
}

/**
 * The backlog of issue #11, as a new user would try it: in one chat, a message whose brain thinks
 * `seconds`; once its 👀 is in, `count` echo messages `gapMs` apart, with a `/status` after every
 * `statusEvery` of them, then a `/cancel` (not a reply: it means the running brain). Waits until
 * every message and command has a reply. The `/cancel` may stop the first brain (its message then
 * ends with a reply and no 👌) or, if it comes too late, find nothing to stop: its text isn't
 * looked at, only when it came.
 */
export async function backlog(ctx: WorkloadContext, options: BacklogOptions): Promise<BacklogSent> {
  const { chatId, seconds, count, gapMs, statusEvery } = options;
  const sent: BacklogSent = { messages: [], unanswered: [], status: [], cancel: [] };
  const slow = send(ctx.sim, chatId, `sleep ${seconds}`);
  sent.messages.push(slow);
  sent.unanswered.push(...await waitForEmoji(ctx.sim, [slow], "👀", ctx));
  if (sent.unanswered.length > 0) return sent;
  const pause = async () => {
    // The person's pace: time is the input here.
    await delay(gapMs, { signal: ctx.signal });
  };
  for (let i = 1; i <= count; i++) {
    await pause();
    sent.messages.push(send(ctx.sim, chatId, `backlog ${i}`));
    if (i % statusEvery === 0) sent.status.push(send(ctx.sim, chatId, "/status"));
  }
  await pause();
  sent.cancel.push(send(ctx.sim, chatId, "/cancel"));
  // The seed answers one message at a time after the first brain: about a second each is ample.
  const deadline = { ...ctx, timeoutMs: ctx.timeoutMs + (seconds + count) * 1000 };
  const everything = [...sent.messages, ...sent.status, ...sent.cancel];
  sent.unanswered.push(...await waitForReplies(ctx.sim, everything, deadline));
  return sent;
}

/** Options for {@linkcode waitFor}. */
export interface WaitForOptions {
  timeoutMs: number;
  signal: AbortSignal;
  description: string;
  /** How often `check` runs, ms. Default: 10. */
  intervalMs?: number;
}

/** Polls `check` (state in /proc has no event to wait on) until it holds, with a deadline. */
export async function waitFor(check: () => boolean, options: WaitForOptions): Promise<void> {
  const { timeoutMs, signal, description, intervalMs = 10 } = options;
  const deadline = AbortSignal.any([AbortSignal.timeout(timeoutMs), signal]);
  while (!check()) {
    await delay(intervalMs, { signal: deadline }).catch((error) => {
      signal.throwIfAborted();
      if (!isAbortOf(deadline, error)) throw error;
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}`);
    });
  }
}

/** The peak memory of the handler processes seen under a target. */
export interface HandlerPeaks {
  /** Handler processes seen. */
  seen: number;
  /** Highest VmHWM of any one handler, KiB. */
  maxKiB: number;
  /** Median of the handlers' VmHWM, KiB. */
  medianKiB: number;
}

/**
 * Samples the VmHWM of every `deno` process under `pid` every `intervalMs` (time is this
 * sampler's input) until `signal` aborts.
 */
export async function sampleHandlerPeaks(
  pid: number,
  options: { intervalMs: number; signal: AbortSignal },
): Promise<HandlerPeaks> {
  const { intervalMs, signal } = options;
  const peaks = new Map<number, number>();
  try {
    while (true) {
      for (const child of descendants(pid)) {
        if (child.comm !== "deno") continue;
        const hwm = memory(child.pid)?.hwmKiB;
        if (hwm !== undefined) peaks.set(child.pid, Math.max(hwm, peaks.get(child.pid) ?? 0));
      }
      await delay(intervalMs, { signal });
    }
  } catch (error) {
    // The stop is this sampler's end.
    if (!isAbortOf(signal, error)) throw error;
  }
  const values = [...peaks.values()].sort((a, b) => a - b);
  return {
    seen: values.length,
    maxKiB: values.at(-1) ?? NaN,
    medianKiB: values[Math.floor(values.length / 2)] ?? NaN,
  };
}
