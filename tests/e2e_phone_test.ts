/**
 * End to end: what the person sees on the phone while messages wait and work (the reactions and
 * the wait note), and the commands: `/status`, `/cancel`, `/new`.
 */

import assert from "node:assert/strict";
import {
  type BotApiSimulator,
  brainLog,
  isAlive,
  messageIdOf,
  openGate,
  projectPath,
  reacted,
  repliedTo,
  tempDir,
  textOf,
  waitUntil,
  withBot,
} from "./_helpers.ts";
import { WITHDRAWN_TEXT } from "../lib/handler/texts.ts";

const CHAT = 1001;

/** The reactions the bot set on a message, in order. */
function reactionsOn(sim: BotApiSimulator, messageId: number): string[] {
  return sim.calls.filter((c) =>
    c.method === "setMessageReaction" && c.status === 200 && c.params.message_id === messageId
  ).map((c) => (c.params.reaction as { emoji: string }[])[0]?.emoji);
}

Deno.test("the reactions show where a message stands: 👀 waiting, ✍ working, then 👌 or 👎", async () => {
  await withBot(
    { env: { COORD_WAIT_NOTE_S: "1", COORD_BRAIN_MAX_ITERS: "1" } },
    async (sim, bot) => {
      const first = messageIdOf(sim.sendText(CHAT, "gate one"));
      await sim.waitForCall(reacted(CHAT, first, "✍"), { description: "✍ on the first" });
      const second = messageIdOf(sim.sendText(CHAT, "second"));
      const seen = await sim.waitForCall(reacted(CHAT, second, "👀"), {
        description: "👀 on the second",
      });
      assert.equal(sim.reaction(CHAT, first), "✍", "the first is being worked on");
      assert.equal(sim.reaction(CHAT, second), "👀", "the second waits");

      // Time is the subject: the second gets its note for waiting over COORD_WAIT_NOTE_S. The
      // first answers only once that much has passed since the recorded 👀 on the second (sent
      // after the bot received it), not after a guessed pause.
      await waitUntil(() => sim.now() > seen.at + 1000 || undefined, {
        description: "COORD_WAIT_NOTE_S to pass since the 👀 on the second",
      });
      openGate(bot, "one");
      const replyOne = await sim.waitForCall(repliedTo(CHAT, first));
      const replyTwo = await sim.waitForCall(repliedTo(CHAT, second));
      assert.equal(textOf(replyOne), "passed gate one", "the first did not wait: no note");
      assert.match(textOf(replyTwo), /^\(waited \d+ s for its turn\)\necho: second$/);
      await sim.waitForCall(reacted(CHAT, second, "👌"));
      assert.deepEqual(reactionsOn(sim, first), ["👀", "✍", "👌"]);
      assert.deepEqual(reactionsOn(sim, second), ["👀", "✍", "👌"]);

      const third = messageIdOf(sim.sendText(CHAT, "fail please"));
      await sim.waitForCall(reacted(CHAT, third, "👎"));
      assert.deepEqual(reactionsOn(sim, third), ["👀", "✍", "👎"]);
    },
  );
});

Deno.test("/cancel stops the running brain and its grandchildren, and the next message goes on", async () => {
  await withBot({}, async (sim, bot) => {
    const first = messageIdOf(sim.sendText(CHAT, "grandchild please"));
    await sim.waitForCall(reacted(CHAT, first, "✍"));
    const second = messageIdOf(sim.sendText(CHAT, "after"));
    await sim.waitForCall(reacted(CHAT, second, "👀"));
    const pids = await waitUntil(() => {
      const found = bot.brainPids();
      return found.length === 2 ? found : undefined;
    }, { description: "the brain and its grandchild" });

    const cancel = messageIdOf(sim.sendText(CHAT, "/cancel"));
    const ack = await sim.waitForCall(repliedTo(CHAT, cancel));
    assert.equal(textOf(ack), "Stopped the brain working on message 1.");
    const cancelled = await sim.waitForCall(repliedTo(CHAT, first));
    assert.match(
      textOf(cancelled),
      /^🛑 Cancelled by \/cancel: the brain was stopped during attempt 1 of 2\./,
    );
    await sim.waitForCall(reacted(CHAT, first, "👎"));
    const next = await sim.waitForCall(repliedTo(CHAT, second));
    assert.equal(textOf(next), "echo: after");
    assert.ok(cancelled.seq < next.seq, "order holds");
    assert.equal(brainLog(bot).filter((l) => l.startsWith("start 1 ")).length, 1, "no retry");
    await waitUntil(() => (pids.some(isAlive) ? undefined : true), {
      description: "the brain and its grandchild to be gone",
    });
    const nothing = messageIdOf(sim.sendText(CHAT, "/cancel"));
    assert.match(textOf(await sim.waitForCall(repliedTo(CHAT, nothing))), /^Nothing is running/);
  });
});

Deno.test("/cancel in reply to a waiting message withdraws just that one, in order", async () => {
  await withBot({}, async (sim, bot) => {
    const first = messageIdOf(sim.sendText(CHAT, "gate w1"));
    await sim.waitForCall(reacted(CHAT, first, "✍"));
    const second = messageIdOf(sim.sendText(CHAT, "withdraw me"));
    const third = messageIdOf(sim.sendText(CHAT, "third"));
    await sim.waitForCall(reacted(CHAT, third, "👀"));

    const cancel = messageIdOf(sim.sendText(CHAT, "/cancel", { replyTo: second }));
    const ack = await sim.waitForCall(repliedTo(CHAT, cancel));
    assert.equal(textOf(ack), "Withdrawn: message 2 won't go to the brain.");
    assert.equal(sim.calls.filter(repliedTo(CHAT, first)).length, 0, "the first still runs");

    // The withdrawn message is told at once, while the first still runs.
    const withdrawn = await sim.waitForCall(repliedTo(CHAT, second));
    assert.equal(textOf(withdrawn), WITHDRAWN_TEXT);
    await sim.waitForCall(reacted(CHAT, second, "👎"));
    assert.equal(sim.calls.filter(repliedTo(CHAT, first)).length, 0, "the first still runs");

    openGate(bot, "w1");
    const replies = await Promise.all(
      [first, third].map((id) => sim.waitForCall(repliedTo(CHAT, id))),
    );
    assert.deepEqual(replies.map(textOf), ["passed gate w1", "echo: third"]);
    assert.ok(replies[0].seq < replies[1].seq, "in order");
    assert.ok(!brainLog(bot).some((l) => l.includes("withdraw me")), "no brain for it");
    await waitUntil(() => (bot.leftovers().length <= 1 ? true : undefined), {
      description: "only the desk left",
    });
  });
});

Deno.test("the default Claude brain keeps one conversation per chat; /new and a lost one start anew", async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  const stubDir = conversations.path;
  await withBot({
    env: {
      COORD_BRAIN_CMD: undefined,
      PATH: `${projectPath("tests/stubs/claude-bin")}:${Deno.env.get("PATH")}`,
      STUB_CLAUDE_DIR: stubDir,
    },
  }, async (sim, bot) => {
    const ask = async (text: string) => {
      const id = messageIdOf(sim.sendText(CHAT, text));
      return textOf(await sim.waitForCall(repliedTo(CHAT, id)));
    };
    const first = await ask("hello");
    const session = first.match(/^turn 1 of ([\w-]+): hello$/)?.[1];
    assert.ok(session, first);
    assert.equal(await ask("again"), `turn 2 of ${session}: again`);
    assert.match(
      brainLog(bot)[1],
      new RegExp(
        // The line about COORD_SEND_DIR is appended to the system prompt (claude_prompt.ts).
        ` -p --append-system-prompt=To send the person a file .*\\$COORD_SEND_DIR.* ` +
          `--input-format=stream-json --output-format=stream-json --verbose --resume=${session}$`,
      ),
    );

    assert.equal(await ask("/new"), "🆕 The next message starts a new conversation.");
    const fresh = await ask("fresh");
    const second = fresh.match(/^turn 1 of ([\w-]+): fresh$/)?.[1];
    assert.ok(second && second !== session, fresh);
    assert.ok(!brainLog(bot)[2].includes("--resume"), "no resume after /new");

    // The CLI lost the conversation: the bot starts a new one and says so.
    Deno.removeSync(`${stubDir}/${second}`);
    const lost = await ask("lost");
    const [note, answer] = lost.split("\n");
    assert.equal(note, "(the earlier conversation could not be resumed; this is a new one)");
    const third = answer.match(/^turn 1 of ([\w-]+): lost$/)?.[1];
    assert.ok(third && third !== second, answer);
    assert.equal(await ask("and on"), `turn 2 of ${third}: and on`);
    assert.deepEqual(
      JSON.parse(Deno.readTextFileSync(`${bot.dirs.state}/sessions/${CHAT}/session.json`)),
      { sessionId: third, updateId: 6 },
    );
  });
});

Deno.test("a custom brain gets its chat's session folder, and is told of /new", async () => {
  await withBot({}, async (sim, bot) => {
    const ask = async (text: string) => {
      const id = messageIdOf(sim.sendText(CHAT, text));
      return textOf(await sim.waitForCall(repliedTo(CHAT, id)));
    };
    const dir = `${bot.dirs.state}/sessions/${CHAT}`;
    const before = await ask("env");
    assert.ok(before.includes(`COORD_SESSION_DIR=${dir}`), "the folder is handed over");
    assert.ok(Deno.statSync(dir).isDirectory);
    assert.ok(!before.includes("COORD_NEW_CONVERSATION"));
    await ask("/new");
    assert.ok((await ask("env")).includes("COORD_NEW_CONVERSATION=1"), "told once after /new");
    assert.ok(!(await ask("env")).includes("COORD_NEW_CONVERSATION"), "and only once");
  });
});
