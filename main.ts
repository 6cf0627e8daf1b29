/**
 * The poll process: the poll loop (`lib/loop/poll.ts`) hands what Telegram sends to the scheduler
 * (`lib/loop/scheduler.ts`), which owns every message's life: the desk acknowledges and answers
 * commands, one handler process per message does its work. It never waits on a brain.
 *
 * Run with `deno task start`; configuration comes from the environment (see the README).
 *
 * @module
 */

import { type Config, loadConfig } from "./lib/shared/config.ts";
import { parseBoxSettings } from "./lib/shared/box_settings.ts";
import { ConfigError, EX_CONFIG } from "./lib/shared/config_values.ts";
import { runHealthCommand } from "./lib/loop/health.ts";
import {
  brainCgroup,
  EX_DISK_FAULT,
  prepareState,
  type StartupFault,
  startupFault,
  tidyAttachments,
} from "./lib/loop/startup.ts";
import { SystemdNotifier } from "./lib/loop/notify.ts";
import { Dispatcher } from "./lib/loop/dispatch.ts";
import { Heartbeat } from "./lib/shared/heartbeat.ts";
import { handlerLaunch } from "./lib/loop/launch.ts";
import { getLog, logUncaught, setupLogging, writeEarlyLine } from "./lib/shared/log.ts";
import { runPollLoop } from "./lib/loop/poll.ts";
import { FatalPollError, POLL_SLACK_S, Poller } from "./lib/loop/poller.ts";
import { apiSignal, classifyFailure, createApi, describeError } from "./lib/shared/telegram.ts";
import { delay, isAbortOf, within } from "./lib/shared/abort.ts";
import { Scheduler } from "./lib/loop/scheduler.ts";
import { Disk } from "./lib/loop/disk.ts";
import { Journal } from "./lib/shared/journal.ts";
import { DeskLink } from "./lib/loop/desk_link.ts";
import { sweepBot } from "./lib/shared/sweep.ts";
import { EX_IN_USE, instanceInUseLine, takeInstanceLock } from "./lib/loop/instance_lock.ts";
import { findLaunchers, watchLaunchers } from "./lib/loop/launcher.ts";
import { type BrainCheck, checkBrain } from "./lib/loop/brain_check.ts";
import { brainBaseEnv } from "./lib/shared/child_env.ts";
import { writeBrainReport } from "./lib/shared/brain_report.ts";
import { FinishedUpdates } from "./lib/loop/finished_updates.ts";
import { sweepOrphan } from "./lib/shared/sweep.ts";
import { runBoxCommand } from "./lib/loop/box_command.ts";
import { SpoolReader } from "./lib/loop/spool.ts";
import { recordChats } from "./lib/shared/spool_job.ts";

/** Exit status when Telegram refuses the token (sysexits.h EX_NOPERM): restarting won't help. */
const EX_NOPERM = 77;

if (Deno.args[0] === "health") {
  try {
    Deno.exit(runHealthCommand(Deno.args.slice(1), Deno.env.toObject()));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    exitWithConfigError(error.message);
  }
}

// `send` and `ask`: a job for the running bot, written into its spool; no token, no network.
if (Deno.args[0] === "send" || Deno.args[0] === "ask") {
  try {
    const settings = parseBoxSettings(Deno.env.toObject());
    Deno.exit(await runBoxCommand(Deno.args[0], Deno.args.slice(1), { settings }));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    exitWithConfigError(error.message);
  }
}

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  exitWithConfigError(error.message);
}
const stateFault = prepareState(config);
if (stateFault !== undefined) exitWithStartupFault(stateFault);

function exitWithConfigError(line: string): never {
  exitWithStartupFault({ line, temporary: false });
}

/**
 * A disk that fails at start exits 75 (EX_TEMPFAIL): systemd's Restart= tries again later, as the
 * running bot would. A setting that is wrong exits 78 (EX_CONFIG), which the unit does not restart.
 */
function exitWithStartupFault(fault: StartupFault): never {
  // With its priority under journald: the line that says why the bot is down is an error.
  writeEarlyLine(`forge-coordinator: ${fault.line.split("\n")[0]}`);
  Deno.exit(fault.temporary ? EX_DISK_FAULT : EX_CONFIG);
}

await setupLogging({ secrets: [config.token] });
const log = getLog("main");
// Anything uncaught still goes through the redacting logger; exit 70 (EX_SOFTWARE).
logUncaught(log, 70);

// One bot per state folder (lib/loop/instance_lock.ts): a second start leaves at once, naming the
// one that runs, before it can sweep that one's brains or read its journal.
const instance = takeInstanceLock(config.stateDir);
if (!instance.taken) {
  log.error("{line}", { line: instanceInUseLine(config.stateDir, instance.holder) });
  Deno.exit(EX_IN_USE);
}
// Where each run begins in the journal (smoke.sh tells runs apart by it).
log.info("started: pid {pid}, state folder {stateDir}", {
  pid: Deno.pid,
  stateDir: config.stateDir,
});
// For `send` and `ask` run where the settings are not (a person's shell): the chats we write to.
try {
  const chats = { authorized: config.authorizedUserIds, allowedChats: config.allowedChatIds };
  recordChats(config.stateDir, chats);
} catch (error) {
  log.warn("cannot record the chats for send and ask: {error}", { error: String(error) });
}

const startedAt = new Date().toISOString();
const stop = new AbortController();
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => {
    if (!stop.signal.aborted) log.info("{signal} received: stopping", { signal });
    stop.abort();
  });
}
// Started by hand through npx or `deno task` (lib/loop/launcher.ts): when one of those is gone (a
// SIGTERM to npx ends it and its shell, but not `deno task`), the bot stops as on SIGTERM.
watchLaunchers(
  await findLaunchers(Deno.ppid, { userAgent: Deno.env.get("npm_config_user_agent") }),
  {
    signal: stop.signal,
    onGone: ({ pid, args }) => {
      log.info("{args} (pid {pid}), which started the bot, is gone: stopping", { args, pid });
      stop.abort();
    },
  },
);

// What brains of an earlier run left behind (a crash, a SIGKILL) dies before anything new starts.
const cgroup = await brainCgroup(log);
await sweepBot(config.stateDir, { when: "at start", cgroup });

const journal = new Journal(`${config.stateDir}/journal`);
const disk = new Disk({ journal, log });
// An update delivered again after its message finished is skipped (Telegram keeps them 24 h).
const finished = new FinishedUpdates({ path: `${config.stateDir}/finished`, log });
finished.load();
const launch = handlerLaunch(config, {
  denoPath: Deno.execPath(),
  handlerPath: `${import.meta.dirname}/handler.ts`,
  configPath: `${import.meta.dirname}/deno.json`,
  env: Deno.env.toObject(),
  cgroup,
});
const dispatcher = new Dispatcher({
  launch,
  cap: config.maxConcurrentHandlers,
  spares: config.spareHandlers,
  onReport: (child, report) => scheduler.onReport(child, report),
  onExit: (child) => scheduler.onExit(child),
});
// The front desk: acknowledges every message and answers commands at once, whatever the brains do.
const desk = new DeskLink({
  launch,
  holdSpares: (hold) => dispatcher.holdSpares(hold),
  onReport: (report) => scheduler.onDeskReport(report),
});
// The bot's username, for telling `/status@OtherBot` from ours: asked once, in the background.
let botUsername: string | undefined;
const scheduler = new Scheduler({
  journal,
  disk,
  dispatcher,
  desk,
  authorized: config.authorizedUserIds,
  allowedChats: config.allowedChatIds,
  botUsername: () => botUsername,
  poisonLimit: config.poisonLimit,
  busyMode: config.busyMode,
  startedAt,
  telegramTrouble: () => poller.trouble,
  sweepOrphan: (run, updateId) => sweepOrphan(run, updateId, { cgroup }),
  finished,
});
try {
  journal.open();
  scheduler.recover();
} catch (error) {
  exitWithStartupFault(
    startupFault(`Cannot use the journal in COORD_STATE_DIR "${journal.dir}"`, error),
  );
}
tidyAttachments(config, { journal, log });

const api = createApi(config.token, {
  apiRoot: config.apiRoot,
  timeoutSeconds: config.pollTimeoutS + 30,
});
const status = () =>
  `${poller.standing}; ${dispatcher.live} of ${dispatcher.cap} brains busy; ${scheduler.waiting} waiting; ` +
  `last update ${poller.offset > 0 ? poller.offset - 1 : "none"}`;
const notifier = new SystemdNotifier({
  socket: Deno.env.get("NOTIFY_SOCKET"),
  path: Deno.env.get("PATH"),
  // Pinged on a timer while the loop's heartbeat is younger than the longest turn of the loop.
  watchdogUsec: Deno.env.get("WATCHDOG_USEC"),
  maxBeatAgeMs: (config.pollTimeoutS + POLL_SLACK_S) * 1000,
  // STATUS= as soon as it changes (at most once a second), not only with the pings.
  status,
});
checkWatchdogInterval(Deno.env.get("WATCHDOG_USEC"));
const poller = new Poller({ api, timeoutS: config.pollTimeoutS, offset: journal.readOffset() });
const heartbeat = new Heartbeat(`${config.stateDir}/heartbeat`);

// Jobs from the box (`forge-coordinator send` and `ask`), taken from the spool as they come.
const spool = new SpoolReader({
  stateDir: config.stateDir,
  disk,
  chats: { authorized: config.authorizedUserIds, allowedChats: config.allowedChatIds },
  journaled: new Set(journal.list().map((entry) => entry.updateId)),
  lastUpdateId: () => poller.offset - 1,
  take: (entry) => scheduler.spooled(entry),
  log: getLog("spool"),
});

desk.start();
// Known before the first batch is routed, unless Telegram is slow to say or can't be reached (then
// it is learnt later, in the background). learnUsername() ends by itself on a stop.
const firstGetMe = Promise.withResolvers<void>();
void learnUsername(firstGetMe.resolve);
await within(firstGetMe.promise, 5000);
dispatcher.warmUp();
// Messages of an earlier run wait in the journal; starting them needs no poll.
scheduler.drain();
spool.start();
// Ended at the teardown, whatever ended the loop (a signal, or a token Telegram refused).
const spoolStop = new AbortController();
const spoolWatch = spool.watch(AbortSignal.any([stop.signal, spoolStop.signal]));
log.info("polling {apiRoot} with at most {cap} brains at once, {n} authorized user(s)", {
  apiRoot: config.apiRoot,
  cap: config.maxConcurrentHandlers,
  n: config.authorizedUserIds.size,
});
// Ready: the journal is open, the desk runs and the loop polls, whether or not Telegram answers
// yet (STATUS= then says it is waiting for Telegram). systemd's start timeout never depends on the
// network, and a start never re-runs the brains of the one before it for nothing.
notifier.ready();
// The brain, checked once in the background (lib/loop/brain_check.ts): a warning in the journal
// now rather than a ⚠️ per message later; /status shows it (lib/shared/brain_report.ts).
void checkBrain(config.brainCommand, {
  env: brainBaseEnv(Deno.env.toObject()),
  cwd: config.brainWorkdir,
  signal: stop.signal,
}).then((check: BrainCheck) => {
  if (check.ok === true) log.info("brain: {note}", { note: check.note });
  else log.warn("brain: {note}", { note: check.note });
  try {
    writeBrainReport(config.stateDir, { startedAt, ...check });
  } catch (error) {
    log.warn("cannot keep the brain check for /status: {error}", { error: String(error) });
  }
});

let exitCode = 0;
try {
  await runPollLoop({
    poller,
    dispatcher,
    scheduler,
    // The heartbeat feeds the watchdog timer (lib/loop/notify.ts): systemd then restarts the bot when
    // (and only when) this loop stops coming round.
    heartbeat: () => {
      notifier.alive();
      const live = dispatcher.children.filter((c) => c.status === undefined);
      heartbeat.beat({
        startedAt,
        live: live.length,
        cap: dispatcher.cap,
        updateIds: live.map((c) => c.updateId),
        waiting: scheduler.waiting,
      });
    },
    // Remembered for a restart, if the disk lets it: everything below it is journaled.
    afterBatch: (offset) => disk.write((journal) => journal.writeOffset(offset)),
    signal: stop.signal,
    maxBacklog: config.maxBacklog,
  });
} catch (error) {
  if (!(error instanceof FatalPollError)) throw error;
  log.error("{message}; check the token in {source}", {
    message: error.message,
    source: config.tokenSource,
  });
  exitCode = EX_NOPERM;
}

// Teardown, top to bottom: polling has stopped; stop every handler (each stops its brain), bounded.
// Their messages stay in the journal and run again at the next start.
scheduler.stop();
spoolStop.abort();
await spoolWatch;
disk.stop();
notifier.stopping(`stopping ${dispatcher.live} handler(s)`);
log.info("stopping {live} handler(s)", { live: dispatcher.live });
await Promise.all([dispatcher.terminateAll(), desk.terminate()]);
await sweepBot(config.stateDir, { when: "at teardown", cgroup });
await notifier.flush();
log.info("stopped");
Deno.exit(exitCode);

/**
 * Asks Telegram for the bot's username (`getMe`), again every 10 s until it answers or the bot
 * stops; `tried` is told when the first call has ended, either way.
 */
async function learnUsername(tried: () => void) {
  while (!stop.signal.aborted && botUsername === undefined) {
    try {
      botUsername = (await api.getMe(apiSignal(stop.signal))).username;
      log.info("this bot is @{username}", { username: botUsername });
    } catch (error) {
      tried();
      // A refused token is the poll loop's to report (exit 77).
      if (stop.signal.aborted || classifyFailure(error).kind === "fatal") return;
      log.warn("getMe failed ({error}); commands for other bots are taken as ours meanwhile", {
        error: describeError(error),
      });
      await delay(10_000, { signal: stop.signal }).catch((error) => {
        if (!isAbortOf(stop.signal, error)) throw error;
      });
    }
  }
  tried();
}

/** Warns when systemd's watchdog would fire during an ordinary long poll. */
function checkWatchdogInterval(watchdogUsec: string | undefined) {
  const watchdogMs = Number(watchdogUsec) / 1000;
  const longestIterationMs = (config.pollTimeoutS + POLL_SLACK_S) * 1000;
  if (Number.isFinite(watchdogMs) && watchdogMs > 0 && watchdogMs <= longestIterationMs) {
    log.warn(
      "WatchdogSec ({watchdog} s) is not above the longest poll ({longest} s): raise it, or lower COORD_POLL_TIMEOUT_S",
      { watchdog: watchdogMs / 1000, longest: longestIterationMs / 1000 },
    );
  }
}
