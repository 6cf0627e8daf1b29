/**
 * The run's results: the machine, the ratios, the hard invariants, and the table printed at the
 * end.
 *
 * @module
 */

import type { AckPathFigures } from "./_ack_path.ts";
import { evaluateGoals, formatGoals, type Goal } from "./_goals.ts";
import type { Plan } from "./_plan.ts";
import type { ConditionName, TargetResult } from "./_scenarios.ts";
import type { Summary } from "./_stats.ts";

/** The machine the figures come from. */
export interface Machine {
  nproc: number;
  memTotalMiB: number;
  cpu: string;
  deno: string;
  v8: string;
  kernel: string;
}

/** Reads the machine's description from /proc and Deno. */
export function describeMachine(): Machine {
  const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
  const meminfo = Deno.readTextFileSync("/proc/meminfo");
  return {
    nproc: navigator.hardwareConcurrency,
    memTotalMiB: Math.round(Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1]) / 1024),
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    kernel: Deno.osRelease(),
  };
}

/** (a)/(b): the price of process isolation. */
export interface Ratios {
  /** Per condition, the bot's ack p50 and p99 over the runner's. */
  ack: Partial<Record<ConditionName, { p50: number; p99: number }>>;
  /** The bot's answered/s over the runner's. */
  throughput: number;
}

/** Computes the (a)/(b) ratios. */
export function ratios(bot: TargetResult, busy: TargetResult, runner: TargetResult): Ratios {
  const ack: Ratios["ack"] = {};
  const ours = { ...bot.conditions, busy: busy.conditions.busy };
  for (const [name, theirs] of Object.entries(runner.conditions)) {
    const mine = ours[name as ConditionName];
    if (!mine || !theirs) continue;
    ack[name as ConditionName] = {
      p50: ratio(mine.ack.p50, theirs.ack.p50),
      p99: ratio(mine.ack.p99, theirs.ack.p99),
    };
  }
  const throughput = ratio(
    bot.throughput?.answeredPerSecond ?? NaN,
    runner.throughput?.answeredPerSecond ?? NaN,
  );
  return { ack, throughput };
}

/** " (cap 5)" for runs from before issue #11, which raised the busy bot's cap. */
function busyCap(result: TargetResult): string {
  const note = result.conditions.busy?.note;
  return note ? ` (cap ${note.split("=")[1]})` : "";
}

/**
 * The progress calls of (a)'s backlog (issue #16), to be read beside its hand-over → 👀; nothing
 * for runs from before the bench's brain wrote progress.
 */
function progressLine(bot: TargetResult): string | undefined {
  const progress = bot.conditions.backlog?.progress;
  if (!progress) return undefined;
  return `(a) backlog with progress: ${progress.drafts} sendMessageDraft call(s) in its chat, ` +
    `${progress.duringAcks} of them while its messages were being acknowledged (issue #16)`;
}

function ratio(a: number, b: number): number {
  return Math.round((a / b) * 100) / 100;
}

/** The hard invariants that fail the run; empty when all hold. */
export function violations(results: readonly TargetResult[]): string[] {
  const failures: string[] = [];
  for (const result of results) {
    for (const [name, condition] of Object.entries(result.conditions)) {
      if (condition.unanswered > 0) {
        failures.push(`${result.kind} ${name}: ${condition.unanswered} message(s) unanswered`);
      }
    }
    if (result.resources && result.resources.zombies > 0) {
      const list = result.resources.zombieList.map((p) => `${p.pid} (${p.comm}, parent ${p.ppid})`);
      failures.push(`${result.kind}: ${result.resources.zombies} zombie(s): ${list.join(", ")}`);
    }
    // The baselines are measured, not held to the bot's rules: they leave their brains' children.
    if (result.kind === "bot" && result.teardown.left.length > 0) {
      const left = result.teardown.left.map((p) => `${p.pid} (${p.comm})`).join(", ");
      failures.push(`${result.kind}: processes left after SIGTERM: ${left}`);
    }
  }
  return failures;
}

/** Everything the run writes to its JSON file. */
export interface Report {
  date: string;
  plan: Plan;
  machine: Machine;
  ackPath: AckPathFigures;
  /**
   * (a) the bot, (a') the bot with 4 brains busy (default cap; runs before issue #11's bench used
   * cap 5), (b) runner, (c) seed.
   */
  results: { bot: TargetResult; botBusy: TargetResult; runner: TargetResult; seed: TargetResult };
  ratios: Ratios;
  /** Issue #11's targets, judged (absent in runs from before they were added). */
  goals?: Goal[];
  violations: string[];
  durationS: number;
}

/** The table, as printed and pasted into BENCHMARKS.md. */
export function formatReport(report: Report): string {
  const { results, machine, ratios: r, ackPath } = report;
  const out: string[] = [];
  const line = (...cells: (string | number)[]) =>
    out.push(
      cells.map((c, i) => i === 0 ? String(c).padEnd(34) : String(c).padStart(9)).join(""),
    );
  const fmt = (x: number) => Number.isFinite(x) ? x.toFixed(1) : "-";
  const ackRow = (label: string, s: Summary | undefined, send: Summary | undefined) =>
    s && send &&
    line(label, fmt(s.p50), fmt(s.p95), fmt(s.p99), fmt(s.max), s.n, fmt(send.p50), fmt(send.p99));

  out.push(
    `forge-coordinator bench (${report.plan.name}), ${report.date}: ${machine.nproc} cores, ` +
      `${machine.memTotalMiB} MiB, ${machine.cpu}, Deno ${machine.deno}, ${report.durationS} s`,
    "",
    "Ack latency, ms: getUpdates hand-over -> 👀 (and the phone's send -> 👀)",
  );
  line("", "p50", "p95", "p99", "max", "n", "send p50", "send p99");
  const rows: [string, TargetResult, ConditionName][] = [
    ["(a) bot       idle", results.bot, "idle"],
    ["(b) runner    idle", results.runner, "idle"],
    [`(a) bot       4 brains busy${busyCap(results.botBusy)}`, results.botBusy, "busy"],
    ["(b) runner    4 brains busy", results.runner, "busy"],
    ["(a) bot       burst 50 / 10 chats", results.bot, "burst"],
    ["(b) runner    burst 50 / 10 chats", results.runner, "burst"],
    ["(a) bot       stall (5 s brain)", results.bot, "stall"],
    ["(b) runner    stall (5 s brain)", results.runner, "stall"],
    ["(c) seed      stall (5 s brain)", results.seed, "stall"],
    ["(a) bot       backlog (20 s brain)", results.bot, "backlog"],
    ["(b) runner    backlog (20 s brain)", results.runner, "backlog"],
    ["(c) seed      backlog (20 s brain)", results.seed, "backlog"],
  ];
  const { burst, stall, backlog } = report.plan;
  for (const [label, result, name] of rows) {
    const condition = result.conditions[name];
    ackRow(
      label.replace("5 s", `${stall.seconds} s`).replace("20 s", `${backlog?.seconds ?? 20} s`)
        .replace("50 / 10", `${burst.size} / ${burst.chats}`),
      condition?.ack,
      condition?.sendToAck,
    );
  }
  const progress = progressLine(results.bot);
  if (progress) out.push(`  ${progress}`);

  const commandRows = ([["(a) bot", results.bot], ["(b) runner", results.runner], [
    "(c) seed",
    results.seed,
  ]] as const).flatMap(([label, result]) => {
    const commands = result.conditions.backlog?.commands;
    return commands
      ? [[`${label} /status`, commands.status], [`${label} /cancel`, commands.cancel]] as const
      : [];
  });
  if (commandRows.length > 0 && backlog) {
    out.push(
      "",
      `Backlog commands, ms: hand-over -> the reply to the command (and the phone's send -> reply)`,
      `  (a /status after every ${backlog.statusEvery} of ${backlog.count} messages ` +
        `${backlog.gapMs} ms apart, a /cancel at the end; the seed has no commands: its brain ` +
        `answers them)`,
    );
    line("", "p50", "p95", "p99", "max", "n", "send p50", "send p99");
    for (const [label, c] of commandRows) ackRow(label, c.reply, c.sendToReply);
  }

  out.push("", "Loop turnaround, ms: a getUpdates answer with messages -> the next getUpdates");
  line("", "p50", "p99", "max", "n");
  for (
    const [label, result] of [["(a) bot, below the cap", results.bot], [
      "(b) runner",
      results.runner,
    ]] as const
  ) {
    const t = label.startsWith("(a)") ? result.turnaround.belowCap : result.turnaround.all;
    line(label, fmt(t.p50), fmt(t.p99), fmt(t.max), t.n);
  }
  const capped = results.bot.turnaround.all;
  line(
    "(a) bot, all (cap waits included)",
    fmt(capped.p50),
    fmt(capped.p99),
    fmt(capped.max),
    capped.n,
  );

  out.push(
    "",
    `Throughput: ${report.plan.throughput.count} messages over ${report.plan.throughput.chats} chats, instant echo brain`,
  );
  line("", "msg/s", "last reply ms");
  for (
    const [label, result] of [["(a) bot (cap 4)", results.bot], [
      "(b) runner",
      results.runner,
    ]] as const
  ) {
    line(
      label,
      fmt(result.throughput?.answeredPerSecond ?? NaN),
      result.throughput?.lastReplyMs ?? "-",
    );
  }

  const res = results.bot.resources;
  if (res) {
    out.push("", "Resources of (a), the poll process");
    line("", "messages", "RSS MiB", "fds");
    const samples = [["before (warm-up)", res.before], ["halfway, warm", res.middle], [
      "after",
      res.after,
    ]] as const;
    for (const [label, f] of samples) f && line(label, f.messages, fmt(f.rssKiB / 1024), f.fds);
    out.push(
      `handler peak RSS (VmHWM): max ${fmt(res.handlers.maxKiB / 1024)} MiB, median ` +
        `${fmt(res.handlers.medianKiB / 1024)} MiB over ${res.handlers.seen} handlers sampled`,
      `zombies at the end: ${res.zombies}; after SIGTERM (${results.bot.teardown.inFlight} brains ` +
        `in flight): ${results.bot.teardown.left.length} process(es) left, ${results.bot.teardown.exit} ` +
        `in ${Math.round(results.bot.teardown.stopMs)} ms`,
    );
  }

  out.push(
    "",
    "After SIGTERM with brains in flight (processes left are the hard invariant for (a))",
  );
  for (const result of [results.bot, results.botBusy, results.runner, results.seed]) {
    const t = result.teardown;
    out.push(
      `  ${result.kind.padEnd(7)} ${t.exit}, ${
        Math.round(t.stopMs)
      } ms, ${t.inFlight} in flight, ` +
        `${t.left.length} left${t.left.length ? `: ${t.left.map((p) => p.comm).join(", ")}` : ""}`,
    );
  }

  out.push("", "Ratios (a)/(b)");
  for (const [name, x] of Object.entries(r.ack)) {
    out.push(`  ack latency, ${name.padEnd(10)} p50 x${x.p50}   p99 x${x.p99}`);
  }
  out.push(`  throughput (msg/s)       x${r.throughput}`);

  out.push("", "Ack path, ms from spawn (each probe run one at a time on an idle machine)");
  const pieces: [string, Summary][] = [
    ["deno run, empty script, to exit", ackPath.emptyScriptExit],
    ["no imports, first fetch arrives", ackPath.fetchFirstRequest],
    ["same, second fetch (warm)", ackPath.fetchWarmRequest],
    ["grammy/web loaded, first call", ackPath.grammyFirstRequest],
    ["handler.ts, its first call arrives", ackPath.handlerAck],
  ];
  line("", "p50", "max", "n");
  for (const [label, s] of pieces) line(label, fmt(s.p50), fmt(s.max), s.n);

  out.push(
    "",
    "Targets of issue #11, 2 cores (judged on (a); --quick counts are too small to judge by)",
    ...formatGoals(report.goals ?? evaluateGoals(results)).map((l) => `  ${l}`),
  );
  const progressNote = progressLine(results.bot);
  if (progressNote) out.push(`  ${progressNote}`);

  out.push("", report.violations.length === 0 ? "Invariants: all hold" : "INVARIANTS FAILED:");
  for (const v of report.violations) out.push(`  ${v}`);
  return out.join("\n");
}
