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
import { TurnQueue } from "./lib/turn.ts";
import { routeUpdate } from "./lib/update.ts";

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

const queue = new TurnQueue(config.lockDir);
try {
  const stale = queue.clearStale();
  if (stale > 0) log.info("removed {stale} turn ticket(s) left by an earlier run", { stale });
} catch (error) {
  log.warn("cannot tidy the lock folder {dir}: {error}", {
    dir: config.lockDir,
    error: String(error),
  });
}

const env = Deno.env.toObject();
const dispatcher = new Dispatcher({
  launch: handlerLaunch(config, {
    denoPath: Deno.execPath(),
    handlerPath: new URL("./handler.ts", import.meta.url).pathname,
    configPath: new URL("./deno.json", import.meta.url).pathname,
    env,
  }),
  cap: config.maxConcurrentHandlers,
  // A handler that crashed or was killed must not hold up the messages behind it.
  onExit: (child) => queue.withdraw(child.chatId, child.updateId),
});

const api = createApi(config.token, {
  apiRoot: config.apiRoot,
  timeoutSeconds: config.pollTimeoutS + 30,
});
const heartbeat = new Heartbeat(`${config.stateDir}/heartbeat`);
const authorized = config.authorizedUserIds;

function route(update: unknown) {
  const route = routeUpdate(update, authorized);
  if (route.kind === "skip") {
    log.info("update {updateId} skipped: {reason}", route);
    return;
  }
  if (route.kind === "unauthorized") {
    log.warn("message from unauthorized user {userId} ignored (chat {chatId}, update {updateId})", {
      ...route,
      userId: route.userId ?? "unknown",
    });
    return;
  }
  const { updateId, chatId } = route;
  try {
    queue.enqueue(chatId, updateId);
  } catch (error) {
    log.warn("cannot take a turn ticket for update {updateId} in {dir}: {error}", {
      updateId,
      dir: config.lockDir,
      error: String(error),
    });
  }
  try {
    dispatcher.spawn(JSON.stringify(update), { updateId, chatId });
  } catch (error) {
    queue.withdraw(chatId, updateId);
    log.error("dispatch crash: update {updateId}, chat {chatId}: {error}", {
      updateId,
      chatId,
      error: String(error),
    });
  }
}

log.info("polling {apiRoot} with at most {cap} handlers, {n} authorized user(s)", {
  apiRoot: config.apiRoot,
  cap: config.maxConcurrentHandlers,
  n: authorized.size,
});

let exitCode = 0;
try {
  await runPollLoop({
    poller: new Poller({ api, timeoutS: config.pollTimeoutS }),
    dispatcher,
    heartbeat: () => heartbeat.beat(),
    route,
    signal: stop.signal,
  });
} catch (error) {
  if (!(error instanceof FatalPollError)) throw error;
  log.error("{message}", { message: error.message });
  exitCode = EX_NOPERM;
}

// Teardown, top to bottom: polling has stopped; stop every handler (each stops its brain), bounded.
log.info("stopping {live} handler(s)", { live: dispatcher.live });
await dispatcher.terminateAll();
log.info("stopped");
Deno.exit(exitCode);
