/**
 * End to end: starting, stopping, supervision and secrets of the real bot against the simulator.
 */

import assert from "node:assert/strict";
import {
  BotApiSimulator,
  brainLog,
  denoDir,
  isAlive,
  messageIdOf,
  openGate,
  projectPath,
  reacted,
  repliedTo,
  startCommand,
  tempDir,
  waitUntil,
  withBot,
  withDeadline,
} from "./_helpers.ts";
import { readHeartbeat } from "../lib/shared/heartbeat.ts";

const CHAT = 1001;

Deno.test("SIGTERM while brains run stops everything within 10 s and leaves no process", async () => {
  await withBot({ authorized: [1, 2, 3] }, async (sim, bot) => {
    sim.sendText(1, "grandchild one");
    sim.sendText(2, "hang two");
    sim.sendText(3, "gate never");
    await waitUntil(() => (brainLog(bot).length >= 3 ? true : undefined), {
      description: "3 brains running",
    });
    const handlers = bot.handlerPids();
    assert.equal(bot.lines.filter((l) => l.includes("child started")).length, 3);
    const started = performance.now();
    bot.kill("SIGTERM");
    const status = await bot.exited();
    const seconds = (performance.now() - started) / 1000;
    assert.equal(status.code, 0);
    assert.ok(seconds < 10, `stopped in ${seconds.toFixed(1)} s`);
    assert.deepEqual(bot.leftovers(), [], "no handler, brain or grandchild left");
    assert.ok(handlers.every((pid) => !isAlive(pid)));
    // No reply was sent for them: they stay in the journal and run again at the next start.
    for (const chat of [1, 2, 3]) assert.deepEqual(sim.botMessages(chat), []);
    const journaled = [...Deno.readDirSync(`${bot.dirs.state}/journal`)].map((e) => e.name);
    assert.deepEqual(journaled.filter((n) => n.endsWith(".json")).sort(), [
      "1.json",
      "2.json",
      "3.json",
    ]);
  });
});

Deno.test("SIGKILL of the poll process still ends its handlers and brains", async () => {
  await withBot({}, async (sim, bot) => {
    sim.sendText(CHAT, "grandchild here");
    await waitUntil(() => (bot.brainPids().length >= 2 ? true : undefined), {
      description: "the brain and its grandchild",
    });
    bot.kill("SIGKILL");
    await bot.exited();
    // The handler reads EOF on its stdin and stops its brain's whole process group.
    await waitUntil(() => (bot.leftovers().length === 0 ? true : undefined), {
      description: "every process the bot started to end",
      timeoutMs: 15_000,
    });
  });
});

Deno.test("the heartbeat advances while a brain hangs, and the typing action is renewed", async () => {
  await withBot({ env: { COORD_POLL_TIMEOUT_S: "1" } }, async (sim, bot) => {
    const id = messageIdOf(sim.sendText(CHAT, "gate stuck"));
    await sim.waitForCall(reacted(CHAT, id, "👀"));
    const path = `${bot.dirs.state}/heartbeat`;
    const first = await waitUntil(() => readHeartbeat(path), { description: "a heartbeat" });
    const later = await waitUntil(() => {
      const at = readHeartbeat(path);
      return at && at.getTime() > first.getTime() ? at : undefined;
    }, { description: "the heartbeat to advance" });
    const latest = await waitUntil(() => {
      const at = readHeartbeat(path);
      return at && at.getTime() > later.getTime() ? at : undefined;
    }, { description: "the heartbeat to advance again" });
    assert.ok(latest > first);
    assert.ok(!brainLog(bot).some((l) => l.startsWith("end")), "the brain is still hanging");
    // Typing: once with the 👀, once as the brain starts, then renewed every few seconds.
    await sim.waitForCalls((c) => c.method === "sendChatAction", 3, { timeoutMs: 15_000 });
    openGate(bot, "stuck");
    await sim.waitForCall(repliedTo(CHAT, id));
  });
});

Deno.test("the token is in no argv, no log line, no reply, not in the brain's environment nor its handler's", async () => {
  await withBot({}, async (sim, bot) => {
    const token = sim.token;
    const gated = messageIdOf(sim.sendText(CHAT, "gate argv"));
    await sim.waitForCall(reacted(CHAT, gated, "👀"));
    await waitUntil(() => (brainLog(bot).length > 0 ? true : undefined), {
      description: "the brain to start",
    });
    const argvs = [bot.process.pid, ...bot.handlerPids(), ...bot.brainPids()].map(cmdline);
    assert.ok(argvs.filter((a) => a !== undefined).length >= 3, "bot, handler(s) and brain seen");
    for (const argv of argvs) assert.ok(!argv?.includes(token), "no token in an argv");
    openGate(bot, "argv");
    await sim.waitForCall(repliedTo(CHAT, gated));

    const id = messageIdOf(sim.sendText(CHAT, "env"));
    const reply = await sim.waitForCall(repliedTo(CHAT, id));
    const env = String(reply.params.text);
    assert.match(env, /COORD_CHAT_ID=1001/);
    assert.match(env, new RegExp(`COORD_UPDATE_ID=2`));
    assert.ok(!env.includes("TELEGRAM_BOT_TOKEN"), "no token variable reaches the brain");
    assert.ok(!env.includes(token));

    // Nor can the brain read it from its parent, the handler: the token came over its stdin.
    const parent = messageIdOf(sim.sendText(CHAT, "parentenv"));
    const parentEnv = String((await sim.waitForCall(repliedTo(CHAT, parent))).params.text);
    assert.match(parentEnv, /^parent: .*handler\.ts/, "the parent is the handler");
    assert.match(parentEnv, /COORD_STATE_DIR=/, "its environment was read");
    assert.ok(!parentEnv.includes(token), "no token in the handler's environment");

    // A failed call is logged: grammY's and fetch's errors must not leak the URL with the token.
    sim.injectFault({ method: "setMessageReaction", fault: { kind: "badGateway" }, times: 5 });
    const third = messageIdOf(sim.sendText(CHAT, "hello"));
    await sim.waitForCall(repliedTo(CHAT, third));
    await bot.waitForLog(/reaction 👀 not set/);
    await sim.refuseConnections();
    bot.kill("SIGTERM");
    await bot.exited();
    assert.ok(bot.stderr.length > 0);
    assert.ok(!bot.stderr.includes(token), "no token in the log");
    assert.ok(!bot.stderr.includes(token.split(":")[1]), "not even the secret half");
  });
});

Deno.test("a missing lock folder is made 0700 at start, and the bot answers under its lock", async () => {
  await using dir = await tempDir();
  const missing = `${dir.path}/not-there/yet`;
  await withBot({ env: { COORD_LOCK_DIR: missing } }, async (sim) => {
    const id = messageIdOf(sim.sendText(CHAT, "no lock"));
    const reply = await sim.waitForCall(repliedTo(CHAT, id));
    assert.equal(reply.params.text, "echo: no lock");
    assert.equal(Deno.statSync(missing).mode! & 0o777, 0o700, "made, private");
    assert.ok(
      Deno.statSync(`${missing}/forge-coordinator-chat-${CHAT}.lock`).isFile,
      "the lock taken",
    );
  });
});

Deno.test("a lock folder that can't be made stops the bot with status 78 before any request", async () => {
  await using dir = await tempDir();
  Deno.writeTextFileSync(`${dir.path}/file`, "");
  await withBot({ env: { COORD_LOCK_DIR: `${dir.path}/file/lock` } }, async (sim, bot) => {
    const status = await withDeadline(bot.exited(), "the bot to exit", 15_000);
    assert.equal(status.code, 78, bot.stderr);
    assert.match(bot.stderr, /COORD_LOCK_DIR/);
    assert.equal(bot.stderr.trim().split("\n").length, 1, bot.stderr);
    assert.deepEqual(sim.calls, [], "no request sent");
  });
});

Deno.test("every configuration error stops the bot with status 78 and one line naming the variable", async (t) => {
  await using sim = await BotApiSimulator.start();
  await using dir = await tempDir();
  const good: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? dir.path,
    TELEGRAM_BOT_TOKEN: sim.token,
    COORD_AUTHORIZED_USER_IDS: "1001",
    COORD_API_ROOT: sim.apiRoot,
    COORD_STATE_DIR: `${dir.path}/state`,
    COORD_LOCK_DIR: dir.path,
  };
  good.DENO_DIR = denoDir();
  const cases: [string, Record<string, string | undefined>][] = [
    ["TELEGRAM_BOT_TOKEN", { TELEGRAM_BOT_TOKEN: undefined }],
    ["TELEGRAM_BOT_TOKEN", { TELEGRAM_BOT_TOKEN: "not a token" }],
    ["TELEGRAM_BOT_TOKEN_FILE", {
      TELEGRAM_BOT_TOKEN: undefined,
      TELEGRAM_BOT_TOKEN_FILE: `${dir.path}/missing`,
    }],
    ["COORD_AUTHORIZED_USER_IDS", { COORD_AUTHORIZED_USER_IDS: undefined }],
    ["COORD_AUTHORIZED_USER_IDS", { COORD_AUTHORIZED_USER_IDS: "me" }],
    ["COORD_API_ROOT", { COORD_API_ROOT: "not a url" }],
    ["COORD_BRAIN_CMD", { COORD_BRAIN_CMD: '["claude", 3]' }],
    ["COORD_PERSONA_FILE", { COORD_PERSONA_FILE: `${dir.path}/no-persona.md` }],
    ["COORD_BRAIN_TIMEOUT_S", { COORD_BRAIN_TIMEOUT_S: "soon" }],
    ["COORD_BRAIN_MAX_ITERS", { COORD_BRAIN_MAX_ITERS: "0" }],
    ["COORD_MAX_CONCURRENT_BRAINS", { COORD_MAX_CONCURRENT_BRAINS: "four" }],
    ["COORD_TRANSCRIBE_CMD", { COORD_TRANSCRIBE_CMD: "[]" }],
    ["COORD_POLL_TIMEOUT_S", { COORD_POLL_TIMEOUT_S: "99" }],
    ["COORD_STATE_DIR", { COORD_STATE_DIR: `${dir.path}/a-file/state` }],
  ];
  Deno.writeTextFileSync(`${dir.path}/a-file`, "not a folder");
  const { command, args } = startCommand();
  for (const [variable, change] of cases) {
    await t.step(`${variable} = ${JSON.stringify(Object.values(change)[0])}`, async () => {
      const env = { ...good };
      for (const [name, value] of Object.entries(change)) {
        if (value === undefined) delete env[name];
        else env[name] = value;
      }
      const before = sim.calls.length;
      const out = await new Deno.Command(command, {
        args,
        cwd: projectPath(""),
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr).trim();
      assert.equal(out.code, 78, stderr);
      assert.equal(stderr.split("\n").length, 1, `one line: ${stderr}`);
      assert.ok(stderr.includes(variable), `names ${variable}: ${stderr}`);
      assert.ok(!stderr.includes(sim.token), "no token in the error");
      assert.equal(sim.calls.length, before, "no network call");
    });
  }
});

function cmdline(pid: number): string | undefined {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ");
  } catch {
    return undefined;
  }
}
