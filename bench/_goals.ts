/**
 * The targets of issue #11 ("Nothing waits behind a brain"), as numbers, and whether a run met
 * them. They are judged on (a), the bot; (b), the in-process runner of the same run, is shown
 * beside each for scale. A `--quick` run prints them too, but its counts are too small to judge by.
 *
 * @module
 */

import type { ConditionName, TargetResult } from "./_scenarios.ts";

/** The conditions whose hand-over → 👀 is held to the same limits. */
export const ACK_CONDITIONS: readonly ConditionName[] = [
  "idle",
  "busy",
  "burst",
  "backlog",
  "stall",
];

/** Hand-over → 👀 p50, ms, in every condition. */
export const ACK_P50_MS = 5;
/** Hand-over → 👀 p99, ms, in every condition. */
export const ACK_P99_MS = 25;
/** Send → 👀 p99 in the burst, ms. */
export const BURST_SEND_P99_MS = 100;
/** `/status` answered p99 (from the phone's send, so a wait at Telegram counts), ms. */
export const STATUS_P99_MS = 100;
/**
 * "Flat" RSS: the poll process grows by at most this fraction from halfway through the soak (1,000
 * messages) to its end (2,000), both taken once warm and with the bot quiet.
 */
export const RSS_GROWTH = 0.05;

/** One target and how the run did against it. */
export interface Goal {
  /** What is measured. */
  what: string;
  /** The limit, as printed. */
  limit: string;
  /** (a)'s figure, printed; "-" when not measured. */
  bot: string;
  /** (b)'s figure, printed; "-" when not measured or not applicable. */
  runner: string;
  /** Whether (a) met it; `undefined` when not measured. */
  met?: boolean;
}

/** The results a goal is judged on (those of a saved run may lack newer conditions). */
export interface GoalInput {
  bot: TargetResult;
  botBusy: TargetResult;
  runner: TargetResult;
}

/** Judges every target of issue #11 on a run's results. */
export function evaluateGoals(results: GoalInput): Goal[] {
  const goals: Goal[] = [];
  const ours = (name: ConditionName) =>
    (name === "busy" ? results.botBusy : results.bot).conditions[name];
  for (const name of ACK_CONDITIONS) {
    const mine = ours(name)?.ack;
    const theirs = results.runner.conditions[name]?.ack;
    for (const [p, limit] of [["p50", ACK_P50_MS], ["p99", ACK_P99_MS]] as const) {
      goals.push(goal(`hand-over → 👀 ${p}, ${name}`, limit, mine?.[p], theirs?.[p]));
    }
  }
  goals.push(
    goal(
      "send → 👀 p99, burst",
      BURST_SEND_P99_MS,
      results.bot.conditions.burst?.sendToAck.p99,
      results.runner.conditions.burst?.sendToAck.p99,
    ),
    goal(
      "send → /status answered p99, backlog",
      STATUS_P99_MS,
      results.bot.conditions.backlog?.commands?.status.sendToReply.p99,
      results.runner.conditions.backlog?.commands?.status.sendToReply.p99,
    ),
  );
  const res = results.bot.resources;
  const growth = res?.middle ? res.after.rssKiB / res.middle.rssKiB - 1 : NaN;
  goals.push({
    what: "poll process RSS, halfway → end of the soak",
    limit: `≤ +${RSS_GROWTH * 100} %`,
    bot: res?.middle
      ? `${mib(res.middle.rssKiB)} → ${mib(res.after.rssKiB)} MiB (${signed(growth * 100)} %)`
      : "-",
    runner: "-",
    met: Number.isFinite(growth) ? growth <= RSS_GROWTH : undefined,
  });
  return goals;
}

/** The goals as table lines: what, limit, (a), (b), met. */
export function formatGoals(goals: readonly Goal[]): string[] {
  const widths = [44, 8, 30, 10];
  const row = (cells: string[]) =>
    cells.map((c, i) => i < widths.length ? c.padEnd(widths[i]) : c).join(" ").trimEnd();
  return [
    row(["target (issue #11)", "limit", "(a) bot", "(b) runner", "met"]),
    ...goals.map((g) =>
      row([g.what, g.limit, g.bot, g.runner, g.met === undefined ? "not measured" : verdict(g.met)])
    ),
  ];
}

function goal(what: string, limitMs: number, bot?: number, runner?: number): Goal {
  const measured = bot !== undefined && Number.isFinite(bot);
  return {
    what,
    limit: `≤ ${limitMs} ms`,
    bot: ms(bot),
    runner: ms(runner),
    met: measured ? bot <= limitMs : undefined,
  };
}

function verdict(met: boolean): string {
  return met ? "met" : "NOT MET";
}

function ms(x?: number): string {
  return x !== undefined && Number.isFinite(x) ? `${x.toFixed(1)} ms` : "-";
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

function signed(x: number): string {
  return `${x >= 0 ? "+" : ""}${x.toFixed(1)}`;
}
