/**
 * The poll loop: fetch updates, hand each authorized message to its own handler process, reap,
 * beat. It never waits on a brain.
 *
 * Run with `deno task start`; configuration comes from the environment (see the README).
 *
 * @module
 */

import { type Config, ConfigError, EX_CONFIG, loadConfig } from "./lib/config.ts";
import { Dispatcher } from "./lib/dispatch.ts";
import { Heartbeat } from "./lib/heartbeat.ts";
import { handlerLaunch } from "./lib/launch.ts";
import { getLog, setupLogging } from "./lib/log.ts";
import { FatalPollError, Poller, runPollLoop } from "./lib/poll.ts";
import { createApi } from "./lib/telegram.ts";
import { Intake } from "./lib/intake.ts";
import { Journal } from "./lib/journal.ts";
import { TurnQueue } from "./lib/turn.ts";

/** Exit status when Telegram refuses the token (sysexits.h EX_NOPERM): restarting won't help. */
const EX_NOPERM = 77;

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  exitWithConfigError(error.message);
}
try {
  Deno.mkdirSync(config.stateDir, { recursive: true });
} catch (error) {
  exitWithConfigError(`Cannot create COORD_STATE_DIR "${config.stateDir}": ${String(error)}`);
}

function exitWithConfigError(line: string): never {
  console.error(`forge-coordinator: ${line.split("\n")[0]}`);
  Deno.exit(EX_CONFIG);
}

await setupLogging({ secrets: [config.token] });
const log = getLog("main");

const stop = new AbortController();
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => {
    if (!stop.signal.aborted) log.info("{signal} received: stopping", { signal });
    stop.abort();
  });
}

const turns = new TurnQueue(config.lockDir);
try {
  const stale = turns.clearStale();
  if (stale > 0) log.info("removed {stale} turn ticket(s) left by an earlier run", { stale });
} catch (error) {
  log.warn("cannot tidy the lock folder {dir}: {error}", {
    dir: config.lockDir,
    error: String(error),
  });
}

const journal = new Journal(`${config.stateDir}/journal`);
const dispatcher = new Dispatcher({
  launch: handlerLaunch(config, {
    denoPath: Deno.execPath(),
    handlerPath: new URL("./handler.ts", import.meta.url).pathname,
    configPath: new URL("./deno.json", import.meta.url).pathname,
    env: Deno.env.toObject(),
  }),
  cap: config.maxConcurrentHandlers,
  spares: config.spareHandlers,
  // At once, not at the next reap: a handler that crashed must not hold up the chat behind it.
  onExit: (child) => intake.handlerExited(child),
});
const intake = new Intake({
  journal,
  turns,
  dispatcher,
  authorized: config.authorizedUserIds,
  poisonLimit: config.poisonLimit,
  lockDir: config.lockDir,
});
try {
  journal.open();
  intake.recover();
} catch (error) {
  exitWithConfigError(`Cannot use the journal in COORD_STATE_DIR "${journal.dir}": ${error}`);
}

const api = createApi(config.token, {
  apiRoot: config.apiRoot,
  timeoutSeconds: config.pollTimeoutS + 30,
});
const poller = new Poller({ api, timeoutS: config.pollTimeoutS, offset: journal.readOffset() });
const heartbeat = new Heartbeat(`${config.stateDir}/heartbeat`);

dispatcher.warmUp();
log.info("polling {apiRoot} with at most {cap} handlers, {n} authorized user(s)", {
  apiRoot: config.apiRoot,
  cap: config.maxConcurrentHandlers,
  n: config.authorizedUserIds.size,
});

let exitCode = 0;
try {
  await runPollLoop({
    poller,
    dispatcher,
    intake,
    heartbeat: () => heartbeat.beat(),
    // Everything routed is journaled by now: from here on Telegram may forget it.
    afterBatch: () => journal.writeOffset(poller.offset),
    signal: stop.signal,
  });
} catch (error) {
  if (!(error instanceof FatalPollError)) throw error;
  log.error("{message}", { message: error.message });
  exitCode = EX_NOPERM;
}

// Teardown, top to bottom: polling has stopped; stop every handler (each stops its brain), bounded.
// Their messages stay in the journal and run again at the next start.
intake.stop();
log.info("stopping {live} handler(s)", { live: dispatcher.live });
await dispatcher.terminateAll();
log.info("stopped");
Deno.exit(exitCode);
