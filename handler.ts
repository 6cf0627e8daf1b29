/**
 * A handler process, started by the poll loop with the token in its environment, in one of two
 * roles:
 * - the desk (`COORD_HANDLER_ROLE=desk`): one long-lived process that reads jobs from stdin, one
 *   JSON line each, and does the quick work for every chat: 👀, commands, edits (`lib/handler/desk.ts`);
 * - a message handler: gets one message as one JSON line on stdin and works it through: lock,
 *   input, brain, reply (`lib/handler/handle.ts`). A spare (started ahead of its message) loads
 *   everything first and then waits for its line.
 *
 * @module
 */

import { type Config, loadConfig } from "./lib/shared/config.ts";
import { ConfigError, EX_CONFIG } from "./lib/shared/config_values.ts";
import { DESK_ROLE_ENV } from "./lib/shared/desk_protocol.ts";
import { runDesk, writeReport } from "./lib/handler/desk.ts";
import { handleMessage, reportCrash } from "./lib/handler/handle.ts";
import { Journal } from "./lib/shared/journal.ts";
import { entryRecord } from "./lib/shared/journal_record.ts";
import { getLog, logUncaught, setupLogging, writeEarlyLine } from "./lib/shared/log.ts";
import { createApi, enablePatience } from "./lib/shared/telegram.ts";
import { parseHandlerUpdate } from "./lib/shared/update.ts";
import { readFirstLine, readLines } from "./lib/shared/lines.ts";

let config: Config;
try {
  config = loadConfig({ checkFiles: false });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  writeEarlyLine(`forge-coordinator handler: ${error.message}`);
  Deno.exit(EX_CONFIG);
}
await setupLogging({ secrets: [config.token] });
const log = getLog("handler");
// Anything uncaught still goes through the redacting logger; exit 70 (EX_SOFTWARE).
logUncaught(log, 70);

const stop = new AbortController();
let working = false;
const onSignal = () => {
  // A spare with no update yet has nothing to finish.
  if (!working) Deno.exit(143);
  stop.abort(new Error("stopped by signal"));
  // The brain's tree gets SIGTERM, then SIGKILL 2 s later; if anything still holds us after that,
  // leave anyway, well before the poll process's own SIGKILL at 5 s.
  Deno.unrefTimer(setTimeout(() => Deno.exit(143), 4000));
};
Deno.addSignalListener("SIGTERM", onSignal);
Deno.addSignalListener("SIGINT", onSignal);

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
const journal = new Journal(`${config.stateDir}/journal`);

if (Deno.env.get(DESK_ROLE_ENV) === "desk") {
  // The desk works until its stdin ends: the loop replaced it, or the loop is gone. A SIGTERM
  // (teardown) stops it at once; its unfinished jobs stay in the journal.
  working = true;
  // The stop ends the read of stdin too: otherwise the desk waits for an EOF that the loop,
  // which keeps the pipe open until the desk has exited, never sends before its 4 s timer.
  await runDesk(readLines(Deno.stdin.readable, { signal: stop.signal }), {
    api,
    replyApi,
    config,
    journal,
    log,
    signal: stop.signal,
    report: writeReport,
  });
  Deno.exit(stop.signal.aborted ? 143 : 0);
}

// The poll process keeps our stdin open: EOF means it is gone (even if SIGKILLed), and so must we.
const { line, rest } = await readFirstLine(Deno.stdin.readable);
working = line !== undefined;
rest.then(() => {
  if (!stop.signal.aborted) log.warn("the poll process is gone: stopping");
  onSignal();
});

if (line === undefined) {
  log.warn("the poll process went away before handing over an update: stopping");
  Deno.exit(143);
}
let update;
try {
  update = parseHandlerUpdate(line);
} catch (error) {
  log.error("{error}", { error: String(error) });
  Deno.exit(65); // EX_DATAERR
}

if (update.message === undefined) {
  log.error("handler for update {updateId} got no message (edits go to the desk)", {
    updateId: update.update_id,
  });
  Deno.exit(65); // EX_DATAERR
}
try {
  await handleMessage({
    api,
    replyApi,
    config,
    update,
    env: Deno.env.toObject(),
    log,
    signal: stop.signal,
    journal,
  });
} catch (error) {
  if (stop.signal.aborted) {
    // Stopped while waiting (for the turn, or Telegram): no reply; the journal keeps the message.
    log.info("handler for update {updateId} stopped", { updateId: update.update_id });
    Deno.exit(143);
  }
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  log.error("handler for update {updateId} failed: {error}", {
    updateId: update.update_id,
    error: reason,
  });
  // An answer already in the outbox is delivered by the next handler: it must not be replaced.
  if (entryRecord(journal, update.update_id, { log }).read()?.stage === "answered") Deno.exit(1);
  // Rather than leave the person with a 👀 and nothing else, say so, if Telegram can be reached.
  await reportCrash({
    api,
    replyApi,
    config,
    update,
    env: {},
    log,
    journal,
    signal: AbortSignal.timeout(3000),
  }).catch(() => {});
  Deno.exit(1);
}
Deno.exit(stop.signal.aborted ? 143 : 0);
