/**
 * A handler process, started by the poll process and driven over its stdin (`lib/shared/line.ts`):
 * first the token and its role, one of two:
 * - the desk: one long-lived process that takes jobs, one line each,
 *   and does the quick work for every chat: 👀, commands, Stop presses, late edits
 *   (`lib/handler/desk.ts`);
 * - a message handler: one message (its journal entry) worked through: lock, input, brain, reply
 *   (`lib/handler/handle.ts`), hearing a cancel or an edit on the line while it works. A spare,
 *   started ahead of its message, loads everything first and then waits for its line.
 *
 * @module
 */

import { type Config, loadConfig } from "./lib/shared/config.ts";
import { ConfigError, EX_CONFIG } from "./lib/shared/config_values.ts";
import { runDesk } from "./lib/handler/desk.ts";
import { handleMessage } from "./lib/handler/handle.ts";
import { HandlerLine } from "./lib/handler/line.ts";
import { Journal } from "./lib/shared/journal.ts";
import { getLog, logUncaught, setupLogging, writeEarlyLine } from "./lib/shared/log.ts";
import { createApi, enablePatience } from "./lib/shared/telegram.ts";

const line = new HandlerLine(Deno.stdin.readable, {
  onBadLine: (error) => writeEarlyLine(`forge-coordinator handler: ${error.message}`),
});
const stop = new AbortController();
let working = false;
const onSignal = () => {
  // A spare with no message yet has nothing to finish.
  if (!working) Deno.exit(143);
  stop.abort(new Error("stopped by signal"));
  // A reply under way gets its grace (outbox.ts), the brain's tree SIGTERM then SIGKILL 2 s later;
  // if anything still holds us after that, leave anyway, before the poll process's SIGKILL.
  Deno.unrefTimer(setTimeout(() => Deno.exit(143), 4500));
};
Deno.addSignalListener("SIGTERM", onSignal);
Deno.addSignalListener("SIGINT", onSignal);

// The token first: it never travels in our environment.
const hello = await line.next();
if (hello?.kind !== "hello") Deno.exit(143);
let config: Config;
try {
  config = loadConfig({ checkFiles: false, token: hello.token });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  writeEarlyLine(`forge-coordinator handler: ${error.message}`);
  Deno.exit(EX_CONFIG);
}
await setupLogging({ secrets: [config.token] });
const log = getLog("handler");
// Anything uncaught still goes through the redacting logger; exit 70 (EX_SOFTWARE).
logUncaught(log, 70);

// Reactions and typing go without retries (a late 👀 is worth little, and must not hold up the
// brain); replies and files wait out what is transient (429, 5xx, the network), in place.
const api = createApi(config.token, { apiRoot: config.apiRoot, timeoutSeconds: 30 });
const replyApi = createApi(config.token, { apiRoot: config.apiRoot, timeoutSeconds: 30 });
enablePatience(replyApi, {
  patienceMs: config.replyPatienceMs,
  onRetry: ({ method, summary, waitMs }) =>
    log.warn("{method} failed ({summary}); retrying in {seconds} s", {
      method,
      summary,
      seconds: Number((waitMs / 1000).toFixed(1)),
    }),
});

if (hello.role === "desk") {
  // The desk works until its stdin ends (the poll process replaced it, or is gone) or a SIGTERM;
  // jobs it did not report done stay with the poll process.
  working = true;
  const report = (r: Parameters<typeof line.report>[0]) => line.report(r);
  // runDesk ends at once on the stop, without waiting for the EOF of our stdin, which the poll
  // process keeps open until we have exited.
  await runDesk(line.controls(), { api, replyApi, config, log, signal: stop.signal, report });
  Deno.exit(stop.signal.aborted ? 143 : 0);
}

const start = await line.next();
if (start?.kind !== "start") {
  if (start !== undefined) log.error("handler got {kind} instead of a message", start);
  Deno.exit(start === undefined ? 143 : 65); // EX_DATAERR
}
working = true;
// The poll process keeps our stdin open: EOF means it is gone (even if SIGKILLed), and so must we.
line.listen(start.entry.updateId).then(() => {
  if (!stop.signal.aborted) log.warn("the poll process is gone: stopping");
  onSignal();
});
const handled = await handleMessage({
  api,
  replyApi,
  config,
  entry: start.entry,
  line,
  env: Deno.env.toObject(),
  log,
  signal: stop.signal,
  journal: new Journal(`${config.stateDir}/journal`),
});
if (handled === "stopped") {
  // Stopped while waiting (for the turn, or Telegram): no reply; the message waits for the next run.
  log.info("handler for update {updateId} stopped", { updateId: start.entry.updateId });
}
Deno.exit(handled === "done" ? 0 : handled === "stopped" ? 143 : 1);
