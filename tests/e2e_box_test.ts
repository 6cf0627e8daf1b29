/**
 * End to end: messages from the box. `forge-coordinator send` (run as `deno task send`) hands a
 * message to the running bot through its spool, delivered within 2 s; one written while the bot
 * is down goes out when it starts; a half-written job is never sent; a chat the bot may not write
 * to is refused by the command itself. `ask` puts a prompt in the chat's queue: shown at once,
 * answered in its turn, as a reply to it.
 */

import assert from "node:assert/strict";
import type { Message } from "grammy/types";
import {
  brainLog,
  denoDir,
  messageIdOf,
  openGate,
  projectPath,
  reacted,
  type RecordedCall,
  repliedTo,
  sentTo,
  STUB_BRAIN,
  tempDir,
  textOf,
  waitUntil,
  withBot,
} from "./_helpers.ts";
import { namesIn, readmeBlock, runBox } from "./_box.ts";

const CHAT = 1001;

/** A message the bot sent to the chat with exactly this text. */
function said(text: string) {
  return (call: RecordedCall) => sentTo(CHAT)(call) && textOf(call) === text;
}

/** The journal's entries (their file names). */
function journalEntries(state: string): string[] {
  return namesIn(`${state}/journal`).filter((name) => name.endsWith(".json"));
}

Deno.test("`send` while the bot runs is delivered within 2 s, as a message of its own, its file after it", async () => {
  await using dir = await tempDir();
  const png = `${dir.path}/chart.png`;
  await Deno.writeFile(png, await pngBytes());
  await withBot({}, async (sim, bot) => {
    // Telegram knows a chat once its person has written to the bot.
    const hello = sim.sendText(CHAT, "hello");
    await sim.waitForCall(reacted(CHAT, messageIdOf(hello), "👌"));
    // As from the person's shell, where the settings are not: the bot recorded its chats.
    const run = await runBox(bot, "send", ["--file", png, "backup failed on /srv"], {
      env: { COORD_AUTHORIZED_USER_IDS: undefined },
    });
    assert.equal(run.code, 0, run.stderr);
    const message = await sim.waitForCall(said("backup failed on /srv"));
    assert.ok(
      message.at - run.exitedAt < 2000,
      `delivered ${Math.round(message.at - run.exitedAt)} ms after the command ended`,
    );
    assert.equal(message.params.reply_parameters, undefined, "it answers no message");
    const photo = await sim.waitForCall((c) => c.method === "sendPhoto" && c.status === 200);
    assert.ok(photo.seq > message.seq, "the file after the text");
    const shown = sim.botMessages(CHAT).find((m) => m.photo !== undefined)!;
    assert.deepEqual(shown.photo!.bytes, await pngBytes());
    assert.equal(shown.photo!.file_name, "chart.png");
    await waitUntil(() => journalEntries(bot.dirs.state).length === 0 || undefined, {
      description: "the job's entry to be removed once delivered",
    });
    assert.deepEqual(namesIn(`${bot.dirs.state}/send`), [], "its files are gone from the box");
    assert.equal(sim.calls.filter(said("backup failed on /srv")).length, 1, "sent once");
  });
});

Deno.test("`send` while the bot is stopped is delivered after its start; a half-written job in tmp/ never is", async () => {
  await withBot({}, async (sim, first) => {
    const hello = sim.sendText(CHAT, "hello");
    await sim.waitForCall(reacted(CHAT, messageIdOf(hello), "👌"));
    first.kill("SIGTERM");
    assert.equal((await first.exited()).code, 0);
    // What a command cut off in the middle of writing leaves: a job in tmp/, never renamed.
    const half = `${first.dirs.state}/spool/tmp/${Date.now()}.4242.0123456789ab`;
    await Deno.mkdir(half, { recursive: true });
    await Deno.writeTextFile(
      `${half}/job.json`,
      JSON.stringify({
        kind: "send",
        chatId: CHAT,
        text: "half-written",
        files: [],
        createdAt: "",
      }),
    );
    const run = await runBox(first, "send", ["written while stopped"]);
    assert.equal(run.code, 0, run.stderr);
    const second = await first.restart();
    await sim.waitForCall(said("written while stopped"));
    // One more while it runs: by the time it is out, the bot has scanned the spool twice.
    assert.equal((await runBox(second, "send", ["and one more"])).code, 0);
    await sim.waitForCall(said("and one more"));
    assert.equal(
      sim.calls.filter(said("half-written")).length,
      0,
      "the half-written job is not sent",
    );
    assert.deepEqual(namesIn(half), ["job.json"], "and is left where it was");
    assert.equal(sim.calls.filter(said("written while stopped")).length, 1);
  });
});

Deno.test("`send` and `ask` refuse bad requests with one line and exit 64 or 65, writing nothing", async (t) => {
  await using dir = await tempDir();
  const bot = { dirs: { root: dir.path, state: `${dir.path}/state`, lock: "", pids: "" } };
  const refused = async (
    kind: "send" | "ask",
    args: string[],
    expected: { code: number; line: RegExp; env?: Record<string, string> },
  ) => {
    const run = await runBox(bot, kind, args, { env: expected.env });
    assert.equal(run.code, expected.code, run.stderr);
    const lines = run.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("Task "));
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0], expected.line);
    assert.deepEqual(namesIn(`${dir.path}/state/spool/new`), [], "nothing in the spool");
    assert.deepEqual(namesIn(`${dir.path}/state/spool/tmp`), [], "nothing half-written either");
  };
  await t.step(
    "a chat that is not an authorized user's",
    () =>
      refused("send", ["--chat", "2002", "hello"], {
        code: 65,
        line: /chat 2002 is not an authorized/,
      }),
  );
  await t.step(
    "a chat not in COORD_ALLOWED_CHAT_IDS",
    () =>
      refused("ask", ["--chat=-1001234", "brief me"], {
        code: 65,
        line: /chat -1001234 is not in COORD_ALLOWED_CHAT_IDS/,
        env: { COORD_ALLOWED_CHAT_IDS: "1001,-1005" },
      }),
  );
  await t.step(
    "a file that is not there",
    () =>
      refused("send", ["--file", `${dir.path}/nope.pdf`, "see"], {
        code: 65,
        line: /no such file/,
      }),
  );
  await t.step(
    "an unknown option",
    () =>
      refused("send", ["--urgent", "hi"], {
        code: 64,
        line: /unknown option "--urgent"; usage: send/,
      }),
  );
  await t.step(
    "nothing to send",
    () => refused("send", ["--chat", "1001"], { code: 64, line: /nothing to send/ }),
  );
  await t.step(
    "--chat that is not a number",
    () =>
      refused("ask", ["--chat", "me", "hi"], { code: 64, line: /--chat "me" is not a chat id/ }),
  );
});

Deno.test("`ask` while the chat's brain works: its prompt is shown at once, waits its turn, and is answered as a reply to it", async () => {
  await withBot({}, async (sim, bot) => {
    const first = sim.sendText(CHAT, "gate one");
    await waitUntil(() => brainLog(bot).some((l) => l.startsWith("start ")) || undefined, {
      description: "the first brain to start",
    });
    const run = await runBox(bot, "ask", ["brief me on today"]);
    assert.equal(run.code, 0, run.stderr);
    const shown = await sim.waitForCall(said("⏰ Scheduled: brief me on today"));
    const promptId = (shown.result as Message).message_id;
    // While the first brain works, /status counts the ask as waiting, behind it.
    const status = sim.sendText(CHAT, "/status");
    const reply = await sim.waitForCall(repliedTo(CHAT, messageIdOf(status)));
    assert.match(textOf(reply), /1 message waits behind it\./);
    assert.match(textOf(reply), /📬 1 job from the box waiting\./);
    assert.equal(
      brainLog(bot).filter((l) => l.startsWith("start ")).length,
      1,
      "it waits its turn",
    );
    // The person's next message came after the ask: it waits behind it.
    const later = sim.sendText(CHAT, "and then this");
    await sim.waitForCall(reacted(CHAT, messageIdOf(later), "👀"));
    openGate(bot, "one");
    const firstAnswer = await sim.waitForCall(repliedTo(CHAT, messageIdOf(first)));
    const answer = await sim.waitForCall(repliedTo(CHAT, promptId));
    assert.equal(textOf(answer), "echo: brief me on today");
    assert.ok(answer.seq > firstAnswer.seq, "after the message that was first");
    const laterAnswer = await sim.waitForCall(repliedTo(CHAT, messageIdOf(later)));
    assert.ok(laterAnswer.seq > answer.seq, "before the message that came after it");
    await sim.waitForCall(reacted(CHAT, promptId, "👌"));
    await waitUntil(() => journalEntries(bot.dirs.state).length === 0 || undefined, {
      description: "the journal to be empty",
    });
  });
});

Deno.test("a brain may use `send` during its run: its message is delivered, apart from its answer", async () => {
  await withBot({
    env: { STUB_DENO: Deno.execPath(), STUB_CHECKOUT: projectPath("") },
  }, async (sim, bot) => {
    assert.ok(STUB_BRAIN.endsWith("brain.sh"));
    const update = sim.sendText(CHAT, "send halfway there");
    const note = await sim.waitForCall(said("halfway there"));
    const answer = await sim.waitForCall(repliedTo(CHAT, messageIdOf(update)));
    assert.equal(textOf(answer), "sent from the brain");
    assert.equal(note.params.reply_parameters, undefined, "a message of its own");
    assert.equal(sim.calls.filter(said("halfway there")).length, 1);
    assert.equal(brainLog(bot).filter((l) => l.startsWith("start ")).length, 1);
  });
});

/** A real 1×1 PNG. */
async function pngBytes(): Promise<Uint8Array> {
  const base64 =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
  return await Promise.resolve(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
}

Deno.test("the README's examples of send and ask work as pasted (`forge-coordinator` being deno.json's task)", async () => {
  await withBot({}, async (sim, bot) => {
    const hello = sim.sendText(CHAT, "hello");
    await sim.waitForCall(reacted(CHAT, messageIdOf(hello), "👌"));
    const config = JSON.parse(Deno.readTextFileSync(projectPath("deno.json")));
    const flags = String(config.tasks.send).split(/\s+/).slice(2, -2).join(" ");
    const script = [
      // The package's program, as the package runs it: main.ts with the send task's flags.
      `forge-coordinator() { "${Deno.execPath()}" run ${flags} "${projectPath("main.ts")}" "$@"; }`,
      readmeBlock("## Sending from the box", "sh"),
      readmeBlock("## Scheduled asks", "sh"),
    ].join("\n");
    const out = await new Deno.Command("bash", {
      args: ["-euo", "pipefail", "-c", script],
      // As from the person's shell: the settings are in the bot's unit, not here.
      env: {
        PATH: Deno.env.get("PATH")!,
        HOME: bot.dirs.root,
        COORD_STATE_DIR: bot.dirs.state,
        DENO_DIR: denoDir(),
      },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    await sim.waitForCall(said("The backup of /srv failed."));
    await sim.waitForCall((c) => sentTo(CHAT)(c) && /Filesystem/.test(textOf(c)));
    await sim.waitForCall(said("What this box runs"));
    const document = await sim.waitForCall((c) => c.method === "sendDocument" && c.status === 200);
    const sent = sim.botMessages(CHAT).find((m) => m.document?.file_name === "os-release");
    assert.ok(sent !== undefined, `the file went as a document (${document.seq})`);
    const prompt = await sim.waitForCall(said("⏰ Scheduled: Brief me on today's calendar."));
    const answer = await sim.waitForCall(repliedTo(CHAT, (prompt.result as Message).message_id));
    assert.equal(textOf(answer), "echo: Brief me on today's calendar.");
  });
});
