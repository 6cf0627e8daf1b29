/**
 * End to end: the bot as a supervisor meets it. READY without waiting for Telegram, one instance
 * per state folder, a token Telegram doesn't know, a stop as fast as what runs, the lines that say
 * why under journald, and a bot started through `deno task` that stops with whichever of its
 * processes is signalled.
 */

import assert from "node:assert/strict";
import {
  BotApiSimulator,
  botEnv,
  BotProcess,
  denoDir,
  gone,
  isAlive,
  messageIdOf,
  projectPath,
  repliedTo,
  startBot,
  startCommand,
  tempDir,
  waitUntil,
  withBot,
  withDeadline,
} from "./_helpers.ts";
import { FakeSystemd } from "./_systemd.ts";

const CHAT = 1001;

/** Now, on the clock of `FakeSystemd` and the simulator's records. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

Deno.test("with Telegram unreachable for its first 30 s, the bot is READY within 2 s, says it waits for Telegram, and answers once it is back", async () => {
  await using dir = await tempDir();
  await using systemd = new FakeSystemd(`${dir.path}/notify.sock`);
  await using sim = await BotApiSimulator.start();
  await sim.refuseConnections({ forMs: 30_000 });
  const startedAt = now();
  await using bot = await startBot({ sim, env: { NOTIFY_SOCKET: systemd.path } });
  await bot.printStderrOnFailure(async () => {
    const [ready] = await systemd.waitFor("READY=1", 1, 10_000);
    assert.ok(
      ready.at - startedAt < 2000,
      `READY ${Math.round(ready.at - startedAt)} ms after start`,
    );
    const waiting = await waitUntil(
      () => systemd.messages.find((m) => /^STATUS=waiting for Telegram: .+/m.test(m.text)),
      { description: "STATUS= saying it waits for Telegram", timeoutMs: 10_000 },
    );
    assert.ok(waiting.at - startedAt < 30_000, "said while Telegram was still unreachable");
    // The person writes meanwhile; Telegram keeps the message until the bot can fetch it.
    const id = messageIdOf(sim.sendText(CHAT, "hello while the network is down"));
    const reply = await sim.waitForCall(repliedTo(CHAT, id), { timeoutMs: 90_000 });
    assert.ok(reply.at - startedAt >= 30_000, "answered once Telegram was back");
    await waitUntil(
      () => systemd.messages.find((m) => m.at > waiting.at && /^STATUS=polling; /m.test(m.text)),
      { description: "STATUS= back to polling" },
    );
    assert.equal(systemd.with("READY=1").length, 1);
  });
});

Deno.test("a second bot on the same state folder leaves at once, naming the one that runs, which goes on undisturbed", async () => {
  await withBot({}, async (sim, bot) => {
    await bot.waitForLog(/polling /);
    const startedAt = performance.now();
    const second = await bot.restart();
    const status = await withDeadline(second.exited(), "the second bot's exit", 15_000);
    assert.equal(status.code, 73, second.stderr);
    assert.ok(performance.now() - startedAt < 10_000);
    // Its one line, and nothing else: no desk, no sweep, no poll of its own.
    assert.equal(second.lines.length, 1, second.stderr);
    assert.match(
      second.lines[0],
      new RegExp(
        `\\[ERR\\] .*Cannot start: forge-coordinator pid ${bot.process.pid} already runs with the state folder "${bot.dirs.state}"`,
      ),
    );
    assert.equal(isAlive(bot.process.pid), true);
    const id = messageIdOf(sim.sendText(CHAT, "still there?"));
    await sim.waitForCall(repliedTo(CHAT, id));
    assert.equal(
      bot.lines.filter((l) => /desk started/.test(l)).length,
      1,
      "one desk, the first's",
    );
  });
});

Deno.test("a token Telegram doesn't know (404 to every call) stops the bot within 10 s with exit status 77 and one error line naming where the token came from, every line with its priority under journald", async () => {
  await using sim = await BotApiSimulator.start();
  sim.injectFault({ fault: { kind: "notFound" }, times: Infinity });
  const startedAt = performance.now();
  await using bot = await startBot({ sim, env: { JOURNAL_STREAM: "8:12345" } });
  await bot.printStderrOnFailure(async () => {
    const status = await withDeadline(bot.exited(), "the bot's exit", 10_000);
    assert.ok(performance.now() - startedAt < 10_000);
    assert.equal(status.code, 77);
    const errors = bot.lines.filter((l) => l.startsWith("<3>"));
    assert.equal(errors.length, 1, bot.stderr);
    assert.match(
      errors[0],
      /Telegram does not know the bot token \(getUpdates: 404 Not Found\).*; check the token in TELEGRAM_BOT_TOKEN$/,
    );
    assert.deepEqual(bot.lines.filter((l) => !/^<[0-7]>/.test(l)), [], "every line prefixed");
  });
});

Deno.test("SIGTERM with nothing running: the bot exits within 200 ms and leaves no process", async () => {
  await withBot({ env: { COORD_SPARE_HANDLERS: "1" } }, async (sim, bot) => {
    await bot.waitForLog(/brain: /);
    // Settled: its long poll is out, the desk and the spare started.
    await sim.waitForCall(
      (c) => c.method === "getUpdates" && (c.params.timeout as number) > 0,
      { includePending: true },
    );
    await bot.waitForLog(/spare started/);
    const signalledAt = performance.now();
    bot.kill("SIGTERM");
    const status = await bot.status;
    const ms = performance.now() - signalledAt;
    assert.equal(status.code, 0);
    assert.ok(ms < 200, `exited ${Math.round(ms)} ms after SIGTERM`);
    await bot.exited();
    await waitUntil(() => bot.leftovers().length === 0, { description: "no process left" });
  });
});

Deno.test("a configuration error's one line carries its priority under journald", async () => {
  await using sim = await BotApiSimulator.start();
  await using dir = await tempDir();
  const dirs = { root: dir.path, state: `${dir.path}/state`, lock: dir.path, pids: dir.path };
  const env = { ...botEnv(sim, dirs, [CHAT]), JOURNAL_STREAM: "8:12345" };
  delete (env as Record<string, string | undefined>).COORD_AUTHORIZED_USER_IDS;
  const { command, args } = startCommand();
  const out = await new Deno.Command(command, {
    args,
    cwd: projectPath(""),
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 78);
  assert.match(
    new TextDecoder().decode(out.stderr),
    /^<3>forge-coordinator: Missing COORD_AUTHORIZED_USER_IDS.*\n$/,
  );
});

/**
 * The bot started the way `npx -y deno@2.9.6 task start` starts it, npm's part played by a shell:
 * `sh -c 'deno task start'` → `deno task` → main.ts. Resolves once it polls, with the pids of the
 * shell, `deno task` and main.ts.
 */
async function startThroughTask(sim: BotApiSimulator, root: string) {
  const dirs = { root, state: `${root}/state`, lock: `${root}/lock`, pids: `${root}/pids` };
  for (const folder of [dirs.lock, dirs.pids, `${root}/gates`]) await Deno.mkdir(folder);
  const env = { ...botEnv(sim, dirs, [CHAT]), DENO_DIR: denoDir() };
  const deno = startCommand().command;
  const shell = new Deno.Command("sh", {
    args: ["-c", `"$0" task --config="$1" start`, deno, projectPath("deno.json")],
    cwd: projectPath(""),
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const bot = new BotProcess(shell, dirs, false);
  await bot.waitForLog(/polling /);
  const task = await childOf(shell.pid);
  const main = await childOf(task);
  return { bot, shell: shell.pid, task, main };
}

/** The pid of the one child process of `pid` (from `ps`). */
async function childOf(pid: number): Promise<number> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "pid=", "--ppid", String(pid)],
    stdout: "piped",
  }).output();
  const pids = new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim()).filter(
    (l) => l !== "",
  );
  assert.equal(pids.length, 1, `one child of ${pid}: ${pids}`);
  return Number(pids[0]);
}

Deno.test("started through deno task, the bot stops whichever of its processes is signalled first", async (t) => {
  await using sim = await BotApiSimulator.start();
  const cases: [string, "shell" | "task", Deno.Signal, RegExp][] = [
    // What `kill $!` after `npx … &` does: npm hands SIGTERM to its shell, which dies alone.
    [
      "SIGTERM to the shell that npm runs it in",
      "shell",
      "SIGTERM",
      /which started the bot, is gone: stopping/,
    ],
    ["SIGINT to deno task", "task", "SIGINT", /SIGINT received: stopping/],
  ];
  for (const [name, target, signal, line] of cases) {
    await t.step(name, async () => {
      await using root = await tempDir("coord-task-");
      const started = await startThroughTask(sim, root.path);
      const { bot, main, task } = started;
      try {
        await bot.printStderrOnFailure(async () => {
          Deno.kill(started[target], signal);
          await gone(main, 10_000);
          await gone(task, 10_000);
          await bot.waitForLog(line);
          await bot.waitForLog(/stopped$/);
          await waitUntil(() => bot.leftovers().length === 0, { description: "no process left" });
        });
      } finally {
        for (const pid of [main, task]) if (isAlive(pid)) Deno.kill(pid, "SIGKILL");
        await bot[Symbol.asyncDispose]();
      }
    });
  }
});
