/**
 * `deno task bench [--quick] [--out PATH]`: ack latency, command latency under a backlog, loop
 * turnaround, throughput and resources of the bot against the simulator, side by side with the
 * grammY-runner baseline and the seed's design, and issue #11's targets met or not. Prints a
 * table, writes the raw figures as JSON (`bench/results/<ISO date>.json` by default; `--table PATH`
 * prints a saved run's table again), and exits 1 when a hard invariant fails (a message or command
 * unanswered, a zombie, a process left after SIGTERM). A target not met does not fail the run.
 *
 * @module
 */

import { measureAckPath } from "./_ack_path.ts";
import { evaluateGoals } from "./_goals.ts";
import { FULL, QUICK } from "./_plan.ts";
import { describeMachine, formatReport, ratios, type Report, violations } from "./_report.ts";
import { runBot, runBotBusy, runRunner, runSeed } from "./_scenarios.ts";

const USAGE =
  "Usage: deno task bench [--quick] [--out PATH] | deno task bench --table RESULTS.json";

const args = parseArgs(Deno.args);
if (args.table !== undefined) {
  // Prints the table of a saved run again.
  console.log(formatReport(JSON.parse(await Deno.readTextFile(args.table)) as Report));
  Deno.exit(0);
}
const plan = args.quick ? QUICK : FULL;
const started = performance.now();
const date = new Date().toISOString();
const out = args.out ??
  new URL(`./results/${date.replaceAll(":", "-")}.json`, import.meta.url).pathname;

const stop = new AbortController();
Deno.addSignalListener("SIGINT", () => stop.abort(new Error("interrupted")));
const progress = (line: string) =>
  console.error(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const options = { plan, signal: stop.signal, progress };

progress(`${plan.name} run; results go to ${out}`);
progress("ack path probes");
const ackPath = await measureAckPath({ repeats: plan.ackPathRepeats, signal: stop.signal });
const bot = await runBot(options);
const botBusy = await runBotBusy(options);
const runner = await runRunner(options);
const seed = await runSeed(options);

const all = [bot, botBusy, runner, seed];
const report: Report = {
  date,
  plan,
  machine: describeMachine(),
  ackPath,
  results: { bot, botBusy, runner, seed },
  ratios: ratios(bot, botBusy, runner),
  goals: evaluateGoals({ bot, botBusy, runner }),
  violations: violations(all),
  durationS: Math.round((performance.now() - started) / 1000),
};
await Deno.mkdir(new URL(".", `file://${out}`).pathname, { recursive: true });
await Deno.writeTextFile(out, JSON.stringify(report, null, 2) + "\n");
console.log(formatReport(report));
for (const result of all) {
  if (result.stderr) console.error(`--- ${result.kind} stderr ---\n${result.stderr}`);
}
console.log(`\nraw figures: ${out}`);
Deno.exit(report.violations.length === 0 ? 0 : 1);

function parseArgs(argv: string[]): { quick: boolean; out?: string; table?: string } {
  const parsed: { quick: boolean; out?: string; table?: string } = { quick: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--quick") parsed.quick = true;
    else if (arg === "--out" && i + 1 < argv.length) parsed.out = argv[++i];
    else if (arg.startsWith("--out=")) parsed.out = arg.slice("--out=".length);
    else if (arg === "--table" && i + 1 < argv.length) parsed.table = argv[++i];
    else if (arg === "--help" || arg === "-h") {
      console.log(USAGE);
      Deno.exit(0);
    } else {
      console.error(`Unknown argument "${arg}"\n${USAGE}`);
      Deno.exit(64);
    }
  }
  return parsed;
}
