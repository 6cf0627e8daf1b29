/**
 * `./smoke.sh --sim`: the smoke recipe played against the built-in simulator instead of a phone.
 * Two messages 2 s apart to an echo brain that thinks for 3 s; checks what the person would check
 * (👀 on both within about a second, both replies in order, both 👌, no "Empty message", each
 * message answered once), stops the bot with SIGTERM, and writes its stderr (the journal a
 * systemd unit would have) to the file named by the first argument, for smoke.sh's summary.
 *
 * Exits 0 when the recipe's expectations hold; otherwise prints each failure and exits 1.
 *
 * @module
 */

import type { RecordedCall } from "./sim/simulator.ts";
import {
  BotApiSimulator,
  messageIdOf,
  projectPath,
  reacted,
  repliedTo,
  startBot,
} from "./_helpers.ts";

const CHAT = 1001;
const TEXTS = ["smoke test one", "smoke test two"];
/** "Within about a second", with room for a busy CI machine. */
const ACK_LIMIT_MS = 2000;

const journalPath = Deno.args[0];
if (journalPath === undefined) {
  console.error("usage: deno run --allow-all tests/smoke_sim.ts <file for the bot's stderr>");
  Deno.exit(2);
}

const failures: string[] = [];
const check = (ok: boolean, failure: string) => {
  if (!ok) failures.push(failure);
};

{
  await using sim = await BotApiSimulator.start();
  await using bot = await startBot({
    sim,
    env: { COORD_BRAIN_CMD: projectPath("tests/stubs/slow_echo.sh"), ECHO_DELAY_S: "3" },
  });
  try {
    await sim.waitForCall((c) => c.method === "getUpdates", {
      description: "the bot's first poll",
      includePending: true,
    });
    const sent: { id: number; at: number }[] = [];
    for (const [i, text] of TEXTS.entries()) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 2000)); // the person types on
      const id = messageIdOf(sim.sendText(CHAT, text));
      sent.push({ id, at: performance.timeOrigin + performance.now() });
    }

    const acks: RecordedCall[] = [];
    for (const [i, { id, at }] of sent.entries()) {
      const ack = await sim.waitForCall(reacted(CHAT, id, "👀"), {
        description: `👀 on message ${i + 1}`,
      });
      acks.push(ack);
      const ms = Math.round(ack.at - at);
      console.log(`message ${i + 1}: 👀 after ${ms} ms`);
      check(ms <= ACK_LIMIT_MS, `message ${i + 1}: 👀 after ${ms} ms, over ${ACK_LIMIT_MS} ms`);
    }
    check(
      acks[1].at < (await firstReply(sim, sent[0].id)).at,
      "the second 👀 came only after the first reply: the poll loop waited on the brain",
    );

    const replies: RecordedCall[] = [];
    for (const [i, { id }] of sent.entries()) {
      const reply = await firstReply(sim, id);
      replies.push(reply);
      console.log(`message ${i + 1}: reply "${reply.params.text}"`);
      check(
        reply.params.text === `You said: ${TEXTS[i]}`,
        `message ${i + 1}: unexpected reply "${reply.params.text}"`,
      );
      await sim.waitForCall(reacted(CHAT, id, "👌"), {
        description: `👌 on message ${i + 1}`,
        timeoutMs: 10_000,
      });
      console.log(`message ${i + 1}: 👌`);
    }
    check(replies[0].seq < replies[1].seq, "the replies came out of order");

    const messages = sim.calls.filter((c) => c.method === "sendMessage" && c.status === 200);
    for (const { id } of sent) {
      const count = messages.filter(repliedTo(CHAT, id)).length;
      check(count === 1, `message ${id} was answered ${count} times: duplicated work`);
    }
    check(
      !messages.some((c) => String(c.params.text).includes("Empty message")),
      'a reply says "Empty message"',
    );

    // The health check a monitor would run, as `deno task health` runs it.
    const health = await runHealth(bot.dirs.state);
    console.log(`health: ${health.line}`);
    check(health.code === 0, `the health check says: ${health.line}`);
  } catch (error) {
    failures.push(error instanceof Error ? error.message.split("\n")[0] : String(error));
  } finally {
    bot.kill("SIGTERM");
    const status = await bot.exited();
    check(status.code === 0, `the bot exited with status ${status.code} after SIGTERM`);
    await Deno.writeTextFile(journalPath, bot.stderr);
  }
}

for (const failure of failures) console.error(`smoke --sim: ${failure}`);
Deno.exit(failures.length === 0 ? 0 : 1);

function firstReply(sim: BotApiSimulator, messageId: number): Promise<RecordedCall> {
  return sim.waitForCall(repliedTo(CHAT, messageId), {
    description: `the reply to message ${messageId}`,
    timeoutMs: 30_000,
  });
}

async function runHealth(stateDir: string): Promise<{ code: number; line: string }> {
  const config = JSON.parse(await Deno.readTextFile(projectPath("deno.json")));
  const args = String(config.tasks.health).split(/\s+/).slice(1);
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: projectPath(""),
    env: { ...Deno.env.toObject(), COORD_STATE_DIR: stateDir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, line: text.trim() };
}
