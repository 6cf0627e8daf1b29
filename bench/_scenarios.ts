/**
 * One target's part of the run: start it against a fresh simulator, play the workloads, read the
 * simulator's record, tear it down and look for what it left behind.
 *
 * @module
 */

import { BotApiSimulator, type RecordedCall } from "../tests/sim/simulator.ts";
import { parseConfig } from "../lib/shared/config.ts";
import { ALL_CHATS, CHATS, type Plan } from "./_plan.ts";
import { descendants, fdCount, memory, type ProcInfo } from "./_proc.ts";
import {
  ackTimes,
  CallIndex,
  loopTurnaround,
  replyTimes,
  send,
  type SentMessage,
  waitForEmoji,
} from "./_record.ts";
import { summarise, type Summary } from "./_stats.ts";
import { startTarget, type Target, type TargetKind, type Teardown } from "./_targets.ts";
import {
  backlog,
  type BacklogSent,
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
export type ConditionName = "idle" | "busy" | "burst" | "throughput" | "stall" | "backlog";

/** How fast one kind of command was answered (the backlog's `/status` and `/cancel`). */
export interface CommandResult {
  /** Hand-over to `getUpdates` → the reply to the command, ms. */
  reply: Summary;
  /** Phone's send → that reply, ms. */
  sendToReply: Summary;
  /** The raw samples, ms. */
  samples: { reply: number[]; sendToReply: number[] };
}

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
  /** The backlog only: its commands. */
  commands?: { status: CommandResult; cancel: CommandResult };
  /** The backlog only: the progress calls made in its chat (issue #16). */
  progress?: ProgressCalls;
}

/**
 * The `sendMessageDraft` calls of the backlog's chat: the first brain's progress (the bench's
 * brain notes it every 0.5 s; the bot shows it at most every 2 s), made while the later messages
 * wait for their 👀.
 */
export interface ProgressCalls {
  /** All of them. */
  drafts: number;
  /** Those from the first later message's send to the last 👀 of the condition. */
  duringAcks: number;
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
  /** After 3 warm-up messages. */
  before: Footprint;
  /** Halfway through the soak (1,000 messages in the full run), once warm. */
  middle?: Footprint;
  /** At the end of the soak (2,000 messages in the full run). */
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

/**
 * The bot as built, default cap: idle, burst, throughput, soak, stall, backlog, resources,
 * teardown.
 */
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
      // RSS halfway and at the end, both once warm: growth between them is growth, not warm-up.
      const half = Math.round(plan.soakTotal / 2);
      let middle: Footprint | undefined;
      for (;;) {
        if (middle === undefined && total >= half) {
          await quiet(ctx);
          middle = footprint(target.pid, total);
        }
        if (total >= plan.soakTotal || soak.unanswered.length > 0) break;
        const mark = total < half ? half : plan.soakTotal;
        const round = await floodAndWait(ctx, plan, mark - total);
        soak.messages.push(...round.messages);
        soak.unanswered.push(...round.unanswered);
        total += round.messages.length;
      }
      await quiet(ctx);
      const after = footprint(target.pid, total);
      progress(`bot: stall, ${plan.stall.count} x a ${plan.stall.seconds} s brain`);
      sent.set("stall", await stall(ctx, stallOptions(plan)));
      await quiet(ctx);
      progress(backlogLine("bot", plan));
      sent.set("backlog", await backlog(ctx, backlogOptions(plan)));
      await quiet(ctx);
      stopSampler.abort();
      const handlers = await sampler;
      const zombies = await lastingZombies(ctx);
      return {
        sent,
        extra: soak,
        resources: {
          before,
          middle,
          after,
          handlers,
          zombies: zombies.length,
          zombieList: zombies,
        },
        throughputOf: throughput,
      };
    } finally {
      stopSampler.abort();
      await sampler;
    }
  });
}

/**
 * The bot with 4 CPU-burning brains, at the default cap (4): a 5th chat's message must still get
 * its 👀 at once (issue #11), whether or not a brain slot is free.
 */
export async function runBotBusy(options: RunOptions): Promise<TargetResult> {
  const { plan, progress } = options;
  return await withTarget("bot", {}, options, async (ctx) => {
    await oneAtATime(ctx, { chatId: CHATS.warmup, count: 3 });
    progress(`bot: 4 brains busy, ${plan.busy.count} messages one at a time (default cap)`);
    return { sent: new Map([["busy", await busyCondition(ctx, plan)]]) };
  });
}

/** The grammY-runner baseline: idle, busy, burst, throughput, stall. */
export async function runRunner(options: RunOptions): Promise<TargetResult> {
  const { plan, progress } = options;
  return await withTarget("runner", {}, options, async (ctx) => {
    const sent = new Map<ConditionName, Sent>();
    await oneAtATime(ctx, { chatId: CHATS.warmup, count: 3 });
    progress(`runner: idle, busy, burst, throughput, stall, backlog`);
    sent.set("idle", await oneAtATime(ctx, { chatId: CHATS.idle, count: plan.idle }));
    sent.set("busy", await busyCondition(ctx, plan));
    sent.set("burst", await bursts(ctx, burstOptions(plan)));
    const throughput = await floodAndWait(ctx, plan);
    sent.set("throughput", throughput);
    sent.set("stall", await stall(ctx, stallOptions(plan)));
    sent.set("backlog", await backlog(ctx, backlogOptions(plan)));
    return { sent, throughputOf: throughput };
  });
}

/**
 * The seed's design: the stall and the backlog (everything else is one message at a time by
 * design). It has no commands: its `/status` and `/cancel` go to the brain like any text.
 */
export async function runSeed(options: RunOptions): Promise<TargetResult> {
  const { plan, progress } = options;
  return await withTarget("seed", {}, options, async (ctx) => {
    await oneAtATime(ctx, { chatId: CHATS.warmup, count: 3 });
    progress(`seed: stall, ${plan.stall.count} x a ${plan.stall.seconds} s brain`);
    const sent = new Map<ConditionName, Sent>([["stall", await stall(ctx, stallOptions(plan))]]);
    progress(backlogLine("seed", plan));
    sent.set("backlog", await backlog(ctx, backlogOptions(plan)));
    return { sent };
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
    conditions[name] = conditionResult(index, sim.calls, sent, played.note?.[name]);
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

function conditionResult(
  index: CallIndex,
  calls: readonly RecordedCall[],
  sent: Sent | BacklogSent,
  note?: string,
): ConditionResult {
  const isBacklog = "status" in sent;
  // In the backlog, the message whose brain /cancel stopped ends with a reply but no 👌.
  const times = ackTimes(index, sent.messages, { replyIsEnough: isBacklog });
  const missing = new Set([...times.unanswered, ...sent.unanswered]);
  const commandResult = (commands: SentMessage[]): CommandResult => {
    const replies = replyTimes(index, commands);
    for (const m of replies.unanswered) missing.add(m);
    return {
      reply: summarise(replies.reply),
      sendToReply: summarise(replies.sendToReply),
      samples: { reply: round(replies.reply), sendToReply: round(replies.sendToReply) },
    };
  };
  const commands = isBacklog
    ? { status: commandResult(sent.status), cancel: commandResult(sent.cancel) }
    : undefined;
  return {
    ack: summarise(times.ack),
    sendToAck: summarise(times.sendToAck),
    unanswered: missing.size,
    samples: { ack: round(times.ack), sendToAck: round(times.sendToAck) },
    ...(note ? { note } : {}),
    ...(commands ? { commands } : {}),
    ...(isBacklog ? { progress: progressCalls(index, calls, sent) } : {}),
  };
}

function progressCalls(
  index: CallIndex,
  calls: readonly RecordedCall[],
  sent: BacklogSent,
): ProgressCalls {
  const [first, ...later] = sent.messages;
  const from = later[0]?.sentAt ?? Infinity;
  const acks = sent.messages.map((m) => index.reactedAt(m, "👀") ?? -Infinity);
  const until = Math.max(...acks);
  const drafts = calls.filter((call) =>
    call.method === "sendMessageDraft" && Number(call.params.chat_id) === first?.chatId
  );
  return {
    drafts: drafts.length,
    duringAcks: drafts.filter((call) => call.at >= from && call.at <= until).length,
  };
}

function round(xs: number[]): number[] {
  return xs.map((x) => Math.round(x * 100) / 100);
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

function backlogOptions(plan: Plan) {
  return { chatId: CHATS.backlog, ...plan.backlog };
}

function backlogLine(kind: TargetKind, plan: Plan): string {
  const { seconds, count, gapMs } = plan.backlog;
  return `${kind}: backlog, a ${seconds} s brain, ${count} more messages ${gapMs} ms apart, ` +
    `/status and /cancel`;
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
 * without spares) and one more: a front desk that acknowledges and answers commands (issue #11)
 * lives as long as the bot. Only processes are looked at, so this holds before and after the desk.
 */
async function quiet(ctx: WorkloadContext): Promise<void> {
  const idle = sparesOf(ctx.pid) + 1;
  const tree = () => descendants(ctx.pid).filter((p) => p.state !== "Z");
  try {
    await waitFor(() => {
      const live = tree();
      // At most: a spare that died is not replaced at once, or at all after repeated failures.
      return live.length <= idle && live.every((p) => p.comm === "deno" && p.ppid === ctx.pid);
    }, { ...ctx, description: `the bot to be quiet (at most ${idle} idle handler(s) left)` });
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
