/**
 * One target's part of the run: start it against a fresh simulator, play the workloads, read the
 * simulator's record, tear it down and look for what it left behind.
 *
 * @module
 */

import { BotApiSimulator, type RecordedCall } from "../tests/sim/simulator.ts";
import { parseConfig } from "../lib/config.ts";
import { ALL_CHATS, CHATS, type Plan } from "./_plan.ts";
import { descendants, fdCount, memory, type ProcInfo } from "./_proc.ts";
import {
  ackTimes,
  CallIndex,
  loopTurnaround,
  send,
  type SentMessage,
  waitForEmoji,
} from "./_record.ts";
import { summarise, type Summary } from "./_stats.ts";
import { startTarget, type Target, type TargetKind, type Teardown } from "./_targets.ts";
import {
  batchDeadline,
  bursts,
  flood,
  type HandlerPeaks,
  oneAtATime,
  sampleHandlerPeaks,
  type Sent,
  stall,
  waitFor,
  withBurners,
  type WorkloadContext,
} from "./_workloads.ts";

/** The measured conditions. */
export type ConditionName = "idle" | "busy" | "burst" | "throughput" | "stall";

/** Ack figures of one condition. */
export interface ConditionResult {
  /** Hand-over to `getUpdates` → 👀, ms. */
  ack: Summary;
  /** Phone's send → 👀, ms. */
  sendToAck: Summary;
  /** Messages without 👀, reply or 👌. */
  unanswered: number;
  /** The raw samples, ms. */
  samples: { ack: number[]; sendToAck: number[] };
  /** Settings that differ from the target's defaults for this condition. */
  note?: string;
}

/** Throughput figures. */
export interface ThroughputResult {
  messages: number;
  chats: number;
  /** Messages answered (👌) per second, from the first send to the last 👌. */
  answeredPerSecond: number;
  /** From the first send to the last reply, ms. */
  lastReplyMs: number;
}

/** The poll process's footprint at one moment. */
export interface Footprint {
  /** Messages the target had handled by then. */
  messages: number;
  rssKiB: number;
  fds: number;
}

/** Resource figures (the bot only). */
export interface ResourceResult {
  before: Footprint;
  after: Footprint;
  handlers: HandlerPeaks;
  /** Zombies among the target's descendants once the workloads were done (and 2 s later). */
  zombies: number;
  /** Those zombies, for the record. */
  zombieList: ProcInfo[];
}

/** Everything measured for one target. */
export interface TargetResult {
  kind: TargetKind;
  conditions: Partial<Record<ConditionName, ConditionResult>>;
  throughput?: ThroughputResult;
  turnaround: { all: Summary; belowCap: Summary };
  resources?: ResourceResult;
  teardown: Teardown & { inFlight: number };
  /** Messages sent in all. */
  messages: number;
  /** The target's stderr, kept only when something failed. */
  stderr?: string;
}

/** Options for the `run*` functions. */
export interface RunOptions {
  plan: Plan;
  signal: AbortSignal;
  /** Progress lines. */
  progress: (line: string) => void;
}

/** The bot as built, default cap: idle, burst, throughput, soak, stall, resources, teardown. */
export async function runBot(options: RunOptions): Promise<TargetResult> {
  const { plan, progress } = options;
  return await withTarget("bot", {}, options, async (ctx, target) => {
    const sent = new Map<ConditionName, Sent>();
    let total = (await oneAtATime(ctx, { chatId: CHATS.warmup, count: 3 })).messages.length;
    await quiet(ctx);
    const before = footprint(target.pid, total);
    const stopSampler = new AbortController();
    const sampler = sampleHandlerPeaks(target.pid, { intervalMs: 20, signal: stopSampler.signal });
    try {
      progress(`bot: idle, ${plan.idle} messages one at a time`);
      sent.set("idle", await oneAtATime(ctx, { chatId: CHATS.idle, count: plan.idle }));
      progress(`bot: ${plan.burst.count} burst(s) of ${plan.burst.size}`);
      sent.set("burst", await bursts(ctx, burstOptions(plan)));
      progress(`bot: throughput, ${plan.throughput.count} messages at once`);
      const throughput = await floodAndWait(ctx, plan);
      sent.set("throughput", throughput);
      total += [...sent.values()].reduce((n, s) => n + s.messages.length, 0);
      const soak: Sent = { messages: [], unanswered: [] };
      progress(`bot: soak up to ${plan.soakTotal} messages`);
      while (total < plan.soakTotal && soak.unanswered.length === 0) {
        const round = await floodAndWait(ctx, plan, plan.soakTotal - total);
        soak.messages.push(...round.messages);
        soak.unanswered.push(...round.unanswered);
        total += round.messages.length;
      }
      await quiet(ctx);
      const after = footprint(target.pid, total);
      progress(`bot: stall, ${plan.stall.count} x a ${plan.stall.seconds} s brain`);
      sent.set("stall", await stall(ctx, stallOptions(plan)));
      await quiet(ctx);
      stopSampler.abort();
      const handlers = await sampler;
      const zombies = await lastingZombies(ctx);
      return {
        sent,
        extra: soak,
        resources: { before, after, handlers, zombies: zombies.length, zombieList: zombies },
        throughputOf: throughput,
      };
    } finally {
      stopSampler.abort();
      await sampler;
    }
  });
}

/** The bot with 4 CPU-burning brains; the cap is raised to 5 so that a 5th message has a slot. */
export async function runBotBusy(options: RunOptions): Promise<TargetResult> {
  const { plan, progress } = options;
  const env = { COORD_MAX_CONCURRENT_BRAINS: "5" };
  return await withTarget("bot", env, options, async (ctx) => {
    await oneAtATime(ctx, { chatId: CHATS.warmup, count: 3 });
    progress(`bot: 4 brains busy, ${plan.busy.count} messages one at a time (cap 5)`);
    const busy = await busyCondition(ctx, plan);
    return { sent: new Map([["busy", busy]]), note: { busy: "COORD_MAX_CONCURRENT_BRAINS=5" } };
  });
}

/** The grammY-runner baseline: idle, busy, burst, throughput, stall. */
export async function runRunner(options: RunOptions): Promise<TargetResult> {
  const { plan, progress } = options;
  return await withTarget("runner", {}, options, async (ctx) => {
    const sent = new Map<ConditionName, Sent>();
    await oneAtATime(ctx, { chatId: CHATS.warmup, count: 3 });
    progress(`runner: idle, busy, burst, throughput, stall`);
    sent.set("idle", await oneAtATime(ctx, { chatId: CHATS.idle, count: plan.idle }));
    sent.set("busy", await busyCondition(ctx, plan));
    sent.set("burst", await bursts(ctx, burstOptions(plan)));
    const throughput = await floodAndWait(ctx, plan);
    sent.set("throughput", throughput);
    sent.set("stall", await stall(ctx, stallOptions(plan)));
    return { sent, throughputOf: throughput };
  });
}

/** The seed's design: the stall only (everything else is one message at a time by design). */
export async function runSeed(options: RunOptions): Promise<TargetResult> {
  const { plan, progress } = options;
  return await withTarget("seed", {}, options, async (ctx) => {
    await oneAtATime(ctx, { chatId: CHATS.warmup, count: 3 });
    progress(`seed: stall, ${plan.stall.count} x a ${plan.stall.seconds} s brain`);
    return { sent: new Map([["stall", await stall(ctx, stallOptions(plan))]]) };
  });
}

interface Played {
  sent: Map<ConditionName, Sent>;
  /** Messages sent outside the conditions (the soak). */
  extra?: Sent;
  resources?: ResourceResult;
  throughputOf?: Sent;
  note?: Partial<Record<ConditionName, string>>;
}

async function withTarget(
  kind: TargetKind,
  env: Record<string, string>,
  options: RunOptions,
  play: (ctx: WorkloadContext, target: Target) => Promise<Played>,
): Promise<TargetResult> {
  const { plan, signal } = options;
  await using sim = await BotApiSimulator.start();
  await using target = await startTarget({ sim, kind, chats: ALL_CHATS, env });
  const ctx: WorkloadContext = { sim, pid: target.pid, timeoutMs: plan.timeoutMs, signal };
  const played = await play(ctx, target);
  const inFlight = await startInFlight(ctx, kind);
  // The baselines stop their brain but not its children (whose pipes keep the brain's output
  // open), so they hang on SIGTERM: they get a short grace before SIGKILL.
  const teardown = await target.stop(kind === "bot" ? 15_000 : 3_000);
  const index = new CallIndex(sim.calls);
  const conditions: TargetResult["conditions"] = {};
  let unanswered = 0;
  for (const [name, sent] of played.sent) {
    conditions[name] = conditionResult(index, sent, played.note?.[name]);
    unanswered += conditions[name]!.unanswered;
  }
  unanswered += played.extra ? ackTimes(index, played.extra.messages).unanswered.length : 0;
  const turnaround = loopTurnaround(sim.calls);
  const result: TargetResult = {
    kind,
    conditions,
    throughput: played.throughputOf && throughputResult(index, played.throughputOf, plan),
    turnaround: { all: summarise(turnaround.all), belowCap: summarise(turnaround.belowCap) },
    resources: played.resources,
    teardown: { ...teardown, inFlight: inFlight.length },
    messages: countMessages(sim.calls),
  };
  const failed = unanswered > 0 || teardown.left.length > 0 || (played.resources?.zombies ?? 0) > 0;
  if (failed) result.stderr = target.stderr();
  return result;
}

function conditionResult(index: CallIndex, sent: Sent, note?: string): ConditionResult {
  const times = ackTimes(index, sent.messages);
  const round = (xs: number[]) => xs.map((x) => Math.round(x * 100) / 100);
  return {
    ack: summarise(times.ack),
    sendToAck: summarise(times.sendToAck),
    unanswered: new Set([...times.unanswered, ...sent.unanswered]).size,
    samples: { ack: round(times.ack), sendToAck: round(times.sendToAck) },
    ...(note ? { note } : {}),
  };
}

function throughputResult(index: CallIndex, sent: Sent, plan: Plan): ThroughputResult {
  const first = Math.min(...sent.messages.map((m) => m.sentAt));
  const done = sent.messages.map((m) => index.reactedAt(m, "👌") ?? NaN);
  const replies = sent.messages.map((m) => index.repliedAt(m) ?? NaN);
  return {
    messages: sent.messages.length,
    chats: plan.throughput.chats,
    answeredPerSecond:
      Math.round(sent.messages.length / ((Math.max(...done) - first) / 1000) * 10) /
      10,
    lastReplyMs: Math.round(Math.max(...replies) - first),
  };
}

async function busyCondition(ctx: WorkloadContext, plan: Plan): Promise<Sent> {
  return await withBurners(
    ctx,
    { chats: CHATS.burners, seconds: plan.busy.burnSeconds },
    () => oneAtATime(ctx, { chatId: CHATS.busy, count: plan.busy.count }),
  );
}

async function floodAndWait(ctx: WorkloadContext, plan: Plan, most = Infinity): Promise<Sent> {
  const chats = CHATS.throughput.slice(0, plan.throughput.chats);
  const messages = flood(ctx.sim, chats, Math.min(most, plan.throughput.count), "flood");
  const deadline = batchDeadline(ctx, messages.length);
  return { messages, unanswered: await waitForEmoji(ctx.sim, messages, "👌", deadline) };
}

function burstOptions(plan: Plan) {
  return { ...plan.burst, chats: CHATS.burst.slice(0, plan.burst.chats) };
}

function stallOptions(plan: Plan) {
  return { slowChat: CHATS.stallSlow, chatId: CHATS.stall, ...plan.stall };
}

/**
 * Two messages whose brains sleep, caught in flight (brains running) so that SIGTERM has something
 * to stop: they are not expected to be answered.
 */
async function startInFlight(ctx: WorkloadContext, kind: TargetKind): Promise<SentMessage[]> {
  const before = sleepers(ctx.pid);
  const messages = CHATS.teardown.map((chatId) => send(ctx.sim, chatId, "sleep 60"));
  // The seed runs one brain at a time.
  const expected = kind === "seed" ? 1 : messages.length;
  await waitFor(() => sleepers(ctx.pid) >= before + expected, {
    ...ctx,
    description: "the in-flight brains before SIGTERM",
  });
  return messages;
}

function sleepers(pid: number): number {
  return descendants(pid).filter((p) => p.comm === "sleep" && p.state !== "Z").length;
}

/**
 * Waits until the bot is quiet: no brain running and no handler left but the spares it keeps
 * started ahead of time (`COORD_SPARE_HANDLERS`, read from its own environment; none in a bot
 * without spares).
 */
async function quiet(ctx: WorkloadContext): Promise<void> {
  const spares = sparesOf(ctx.pid);
  const tree = () => descendants(ctx.pid).filter((p) => p.state !== "Z");
  try {
    await waitFor(() => {
      const live = tree();
      // At most: a spare that died is not replaced at once, or at all after repeated failures.
      return live.length <= spares && live.every((p) => p.comm === "deno" && p.ppid === ctx.pid);
    }, { ...ctx, description: `the bot to be quiet (at most ${spares} spare handler(s) left)` });
  } catch (error) {
    const left = tree().map((p) => `${p.pid} ${p.comm} (parent ${p.ppid})`).join(", ");
    throw new Error(`${error instanceof Error ? error.message : error}; still there: ${left}`);
  }
}

function sparesOf(pid: number): number {
  const env: Record<string, string> = {};
  for (const pair of Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0")) {
    const eq = pair.indexOf("=");
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const config = parseConfig({
    env,
    uid: () => null,
    readTextFile: (path) => Deno.readTextFileSync(path),
    isReadableFile: () => true,
  });
  // A bot from before spare handlers has no such setting.
  return (config as { spareHandlers?: number }).spareHandlers ?? 0;
}

/**
 * The zombies under the target that are still there after up to 2 s: one caught between its exit
 * and its parent's wait is not a leak.
 */
async function lastingZombies(ctx: WorkloadContext): Promise<ProcInfo[]> {
  const zombies = () => descendants(ctx.pid).filter((p) => p.state === "Z");
  try {
    await waitFor(() => zombies().length === 0, {
      ...ctx,
      timeoutMs: 2000,
      description: "zombies to be reaped",
    });
  } catch (error) {
    ctx.signal.throwIfAborted();
    if (!(error instanceof Error && error.message.startsWith("Timed out"))) throw error;
  }
  return zombies();
}

function footprint(pid: number, messages: number): Footprint {
  return { messages, rssKiB: memory(pid)?.rssKiB ?? NaN, fds: fdCount(pid) };
}

function countMessages(calls: readonly RecordedCall[]): number {
  const ids = new Set<number>();
  for (const call of calls) {
    if (call.method !== "getUpdates" || !Array.isArray(call.result)) continue;
    for (const update of call.result as { update_id: number }[]) ids.add(update.update_id);
  }
  return ids.size;
}
