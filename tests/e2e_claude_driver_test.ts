/**
 * End to end: the Claude driver, with the real bot against the simulator and the stand-in CLI
 * (`tests/stubs/claude-bin/claude`, which speaks stream-json on its stdin and stdout like the real
 * one). The answer is taken at the CLI's result, whatever the CLI does after; an empty result is
 * answered by the words before it, or asked once more in its conversation; a tool that asks for
 * permission is refused at once; a `claude …` command of the person's own gets all of it.
 */

import assert from "node:assert/strict";
import {
  type BotProcess,
  brainLog,
  claudeEnv,
  isAlive,
  messageIdOf,
  repliedTo,
  tempDir,
  textOf,
  waitUntil,
  withBot,
} from "./_helpers.ts";

const CHAT = 1001;

/** The stand-in's runs so far ("claude ARGS" lines of the brain log). */
function starts(bot: BotProcess): string[] {
  return brainLog(bot).filter((line) => line.startsWith("claude "));
}

/** Waits until every process the stand-in recorded (itself, a lingering child) is gone. */
function allGone(bot: BotProcess): Promise<true> {
  return waitUntil(() => bot.brainPids().every((pid) => !isAlive(pid)) ? true : undefined, {
    timeoutMs: 15_000,
    description: "no process of the brain left",
  });
}

Deno.test("a CLI that stays after its result: answered at the result, once, and nothing left", async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  await withBot({ env: claudeEnv(conversations.path) }, async (sim, bot) => {
    const id = messageIdOf(sim.sendText(CHAT, "linger after answering"));
    const reply = await sim.waitForCall(repliedTo(CHAT, id), { timeoutMs: 20_000 });
    const resultAt = Number(Deno.readTextFileSync(`${conversations.path}/result-at`));
    assert.match(textOf(reply), /^turn 1 of [\w-]+: linger after answering$/);
    assert.ok(
      reply.at - resultAt < 2000,
      `the answer came ${Math.round(reply.at - resultAt)} ms after the result line`,
    );
    await allGone(bot);
    assert.equal(bot.brainPids().length, 2, "the CLI and its child were both there");
    assert.equal(starts(bot).length, 1, "one brain start");
    await bot.waitForLog(/update \d+ answered after 1 attempt/);
  });
});

Deno.test("an empty result: the words before it, else once more in its conversation, else said plainly", async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  await withBot({ env: claudeEnv(conversations.path) }, async (sim, bot) => {
    const ask = async (text: string) => {
      const id = messageIdOf(sim.sendText(CHAT, text));
      return textOf(await sim.waitForCall(repliedTo(CHAT, id), { timeoutMs: 20_000 }));
    };
    assert.equal(await ask("emptyresult one"), "The words are in the text: emptyresult one");
    assert.equal(starts(bot).length, 1, "one brain start");
    const session = sessionOf(conversations.path);

    assert.match(await ask("emptyonce two"), /^turn 3 of [\w-]+: emptyonce two$/);
    const retried = starts(bot).slice(1);
    assert.equal(retried.length, 2, "asked once more");
    for (const line of retried) assert.ok(line.endsWith(` --resume=${session}`), line);

    assert.equal(
      await ask("emptyalways three"),
      "⚠️ The brain failed after 2 attempts: returned an empty result.",
    );
    assert.equal(starts(bot).length, 5, "and no third time");
  });
});

/** The one conversation the stand-in holds. */
function sessionOf(dir: string): string {
  const ids = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /^[\w-]{36}$/.test(n));
  assert.equal(ids.length, 1, `conversations: ${ids}`);
  return ids[0];
}

Deno.test("a tool that asks for permission is refused at once; nobody is asked", async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  await withBot({ env: claudeEnv(conversations.path) }, async (sim, bot) => {
    const sentAt = performance.timeOrigin + performance.now();
    const id = messageIdOf(sim.sendText(CHAT, "ask to clean up"));
    const reply = await sim.waitForCall(repliedTo(CHAT, id), { timeoutMs: 20_000 });
    assert.match(textOf(reply), /^Bash: deny \(Refused: this bot runs without approvals/);
    // Unanswered, the stand-in would wait out the brain's 20 s limit, twice.
    assert.ok(reply.at - sentAt < 10_000, "the turn went on at once");
    const messages = sim.calls.filter((c) =>
      c.method === "sendMessage" && c.params.chat_id === CHAT
    );
    assert.deepEqual(messages.map((c) => c.seq), [reply.seq], "no message but the answer");
    assert.ok(!sim.calls.some((c) => c.params.reply_markup !== undefined && c.seq > reply.seq));
    await bot.waitForLog(/the brain asked for the tool Bash; refused \(nobody is asked\)/);
    assert.equal(starts(bot).length, 1);
  });
});

Deno.test('COORD_BRAIN_CMD="claude -p --model sonnet" gets progress, the cost line and the usage-limit wait', async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  const env = claudeEnv(conversations.path, {
    COORD_BRAIN_CMD: "claude -p --model sonnet",
    COORD_SHOW_COST: "1",
  });
  await withBot({ env }, async (sim, bot) => {
    const first = messageIdOf(sim.sendText(CHAT, "slowly please"));
    const answer = await sim.waitForCall(repliedTo(CHAT, first), { timeoutMs: 30_000 });
    assert.match(textOf(answer), /: slowly please\n\n— \$0\.0123 · 4 s · 3 turns$/);
    const notes = sim.drafts(CHAT).map((d) => d.text).join("\n");
    assert.match(notes, /🔧 Read lib\/x\.ts|🔧 Bash: npm test/);
    assert.match(
      starts(bot)[0],
      / -p --model sonnet --append-system-prompt=To send the person a file .* --input-format=stream-json /,
    );

    const limited = messageIdOf(sim.sendText(CHAT, "limit me"));
    const note = await sim.waitForCall(repliedTo(CHAT, limited), { timeoutMs: 20_000 });
    assert.match(textOf(note), /^⏳ Claude's usage limit is reached; I'll run this at /);
    const after = await sim.waitForCall(
      (c) => repliedTo(CHAT, limited)(c) && c.seq > note.seq,
      { timeoutMs: 30_000 },
    );
    assert.match(textOf(after), /: limit me\n\n— \$0\.0123/);
  });
});
