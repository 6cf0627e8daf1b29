/**
 * One message's handler process, started by the poll loop with the update as one JSON line on
 * stdin and the token in its environment. A spare (started ahead of its update, `WARM_ENV` set)
 * loads everything first and then waits for its line, so that its 👀 takes milliseconds.
 *
 * @module
 */

import { type Config, ConfigError, EX_CONFIG, loadConfig } from "./lib/config.ts";
import { WARM_ENV } from "./lib/dispatch.ts";
import { handleEdit } from "./lib/edits.ts";
import { handleMessage, reportCrash } from "./lib/handle.ts";
import { Journal } from "./lib/journal.ts";
import { getLog, setupLogging } from "./lib/log.ts";
import { createApi, enableRetries } from "./lib/telegram.ts";
import { parseHandlerUpdate } from "./lib/update.ts";
import { readFirstLine } from "./lib/stdin.ts";

let config: Config;
try {
  config = loadConfig({ checkFiles: false });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`forge-coordinator handler: ${error.message}`);
  Deno.exit(EX_CONFIG);
}
await setupLogging({ secrets: [config.token] });
const log = getLog("handler");

const warm = Deno.env.get(WARM_ENV) === "1";
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
// brain); replies and files retry 429 and 5xx.
const api = createApi(config.token, { apiRoot: config.apiRoot, timeoutSeconds: 30 });
const replyApi = createApi(config.token, { apiRoot: config.apiRoot, timeoutSeconds: 30 });
const journal = new Journal(`${config.stateDir}/journal`);
// A spare has time now; a handler started for a waiting message loads the retry plugin after its
// acknowledgement instead.
if (warm) await enableRetries(replyApi);

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

try {
  if (update.edited_message !== undefined) {
    // An edit: no acknowledgement, no turn; it is left for its message or answered at once.
    await handleEdit({ api: replyApi, config, update, journal, log, signal: stop.signal });
  } else {
    await handleMessage({
      api,
      replyApi,
      config,
      update,
      env: Deno.env.toObject(),
      log,
      signal: stop.signal,
      journal,
      afterAck: warm ? undefined : () => enableRetries(replyApi),
    });
  }
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
  // An edit has no 👀 of its own: it runs again (the poll loop queues it), up to the poison limit.
  if (update.edited_message !== undefined) Deno.exit(1);
  // Rather than leave the person with a 👀 and nothing else, say so, if Telegram can be reached.
  await reportCrash(replyApi, update, {
    signal: AbortSignal.timeout(3000),
    journal,
    log,
    stateDir: config.stateDir,
  })
    .catch(() => {});
  Deno.exit(1);
}
Deno.exit(stop.signal.aborted ? 143 : 0);
