/**
 * End to end: talking to a working brain, with the real bot against the simulator and the
 * stand-in Claude CLI (`tests/stubs/claude-bin/claude`, whose `wait GATE` turn answers each user
 * line it hears until its gate opens, and ends on an `interrupt` request): steer a turn from a
 * private chat (`/steer`) and from a group (a reply to the progress message); a plain message
 * waits; a brain that is not the Claude driver can't be steered; `/stop` interrupts and keeps the
 * conversation; `!` interrupts and goes first.
 */

import assert from "node:assert/strict";
import {
  brainLog,
  claudeEnv,
  messageIdOf,
  openGate,
  reacted,
  type RecordedCall,
  repliedTo,
  tempDir,
  textOf,
  waitUntil,
  withBot,
} from "./_helpers.ts";
import { UNSTEERABLE_TEXT } from "../lib/handler/texts.ts";

const CHAT = 1001;
const GROUP = -100500;

/** A journal entry as it is on disk, if it is there. */
function readEntry(state: string, updateId: number): { progressMessageId?: number } | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(`${state}/journal/${updateId}.json`));
  } catch {
    return undefined;
  }
}

/** The stand-in's sessions: "turn N of ID: …" answers name the conversation. */
function sessionIn(reply: RecordedCall): string {
  return textOf(reply).match(/turn \d+ of ([\w-]+)/)?.[1] ?? "";
}

/**
 * Waits until the stand-in CLI has read `line` into the turn waiting at `gate` (written is not yet
 * read: a gate opened before would end the turn without it).
 */
function heard(conversations: string, gate: string, line: string): Promise<true> {
  return waitUntil(() => {
    try {
      const lines = Deno.readTextFileSync(`${conversations}/heard-${gate}`).split("\n");
      return lines.includes(line) || undefined;
    } catch {
      return undefined;
    }
  }, { description: `the turn at ${gate} to read "${line}"` });
}

Deno.test("a working turn takes /steer in a private chat and a reply to its progress message in a group; a plain message waits and runs after", async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  const env = claudeEnv(conversations.path, { COORD_ALLOWED_CHAT_IDS: `${CHAT},${GROUP}` });
  await withBot({ env }, async (sim, bot) => {
    const first = messageIdOf(sim.sendText(CHAT, "wait s1"));
    await sim.waitForCall(reacted(CHAT, first, "✍"));
    const steer = messageIdOf(sim.sendText(CHAT, "/steer use the staging server"));
    await sim.waitForCall(reacted(CHAT, steer, "✍"));
    await heard(conversations.path, "s1", "use the staging server");
    const plain = messageIdOf(sim.sendText(CHAT, "and then this"));
    await sim.waitForCall(reacted(CHAT, plain, "👀"));
    openGate(bot, "s1");
    const answer = await sim.waitForCall(repliedTo(CHAT, first));
    assert.equal(textOf(answer), "heard: use the staging server");
    await sim.waitForCall(reacted(CHAT, steer, "👌"));
    const after = await sim.waitForCall(repliedTo(CHAT, plain));
    assert.match(textOf(after), /^turn 2 of [\w-]+: and then this$/, "it ran after, resumed");
    assert.equal(sim.calls.filter(repliedTo(CHAT, steer)).length, 0, "no answer of its own");

    const groupUpdate = sim.sendText(GROUP, "wait s2", { fromId: CHAT });
    const group = messageIdOf(groupUpdate);
    const progress = await waitUntil(
      () => sim.botMessages(GROUP).find((m) => m.reply_markup !== undefined),
      { description: "the progress message" },
    );
    // The person replies once the bot knows its progress message (a person is never faster).
    await waitUntil(() => {
      const entry = readEntry(bot.dirs.state, groupUpdate.update_id);
      return entry?.progressMessageId === progress.message_id;
    }, { description: "the progress message in the journal" });
    const reply = messageIdOf(
      sim.sendText(GROUP, "the other thing too", { fromId: CHAT, replyTo: progress.message_id }),
    );
    await sim.waitForCall(reacted(GROUP, reply, "✍"));
    await heard(conversations.path, "s2", "the other thing too");
    openGate(bot, "s2");
    // The progress message is a reply to it too: the answer is the one that says what it heard.
    const groupAnswer = await sim.waitForCall((c) =>
      repliedTo(GROUP, group)(c) && textOf(c).startsWith("heard")
    );
    assert.equal(textOf(groupAnswer), "heard: the other thing too");
    assert.equal(brainLog(bot).filter((l) => l.startsWith("claude ")).length, 3, "3 turns");
  });
});

Deno.test("a steer written too late for the turn (its result doesn't list it) is not lost: it gets an answer of its own", async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  await withBot({ env: claudeEnv(conversations.path) }, async (sim, bot) => {
    const first = messageIdOf(sim.sendText(CHAT, "wait s3"));
    await sim.waitForCall(reacted(CHAT, first, "✍"));
    // The stand-in doesn't take a line that starts with "late" into its turn.
    const steer = messageIdOf(sim.sendText(CHAT, "/steer late for the turn"));
    await sim.waitForCall(reacted(CHAT, steer, "✍"));
    openGate(bot, "s3");
    const answer = await sim.waitForCall(repliedTo(CHAT, first));
    assert.equal(textOf(answer), "heard: nothing");
    const own = await sim.waitForCall(repliedTo(CHAT, steer));
    assert.match(textOf(own), /^turn 2 of [\w-]+: late for the turn$/, "its own turn, resumed");
  });
});

Deno.test("a steer taken into an attempt that fails goes into the next attempt with the message", async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  await withBot({ env: claudeEnv(conversations.path) }, async (sim, bot) => {
    const first = messageIdOf(sim.sendText(CHAT, "wait f1 overloaded"));
    await sim.waitForCall(reacted(CHAT, first, "✍"));
    const steer = messageIdOf(sim.sendText(CHAT, "/steer and use staging"));
    await sim.waitForCall(reacted(CHAT, steer, "✍"));
    await heard(conversations.path, "f1", "and use staging");
    // Then Claude's API is overloaded (529): the attempt fails, and the next one runs.
    openGate(bot, "f1");
    const answer = await sim.waitForCall(repliedTo(CHAT, first));
    assert.match(textOf(answer), /^turn 1 of [\w-]+: wait f1 overloaded\n\nand use staging$/);
    await sim.waitForCall(reacted(CHAT, steer, "👌"));
    assert.ok(!sim.calls.some(repliedTo(CHAT, steer)), "answered with its host, not on its own");
  });
});

Deno.test("a steer ends as its host does: 👎 with a host that fails, and with one cancelled", async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  const env = claudeEnv(conversations.path, { COORD_BRAIN_MAX_ITERS: "1" });
  await withBot({ env }, async (sim, bot) => {
    const failing = messageIdOf(sim.sendText(CHAT, "wait f2 overloaded"));
    await sim.waitForCall(reacted(CHAT, failing, "✍"));
    const first = messageIdOf(sim.sendText(CHAT, "/steer and use staging"));
    await sim.waitForCall(reacted(CHAT, first, "✍"));
    await heard(conversations.path, "f2", "and use staging");
    openGate(bot, "f2");
    const failed = await sim.waitForCall(repliedTo(CHAT, failing));
    assert.match(textOf(failed), /overloaded/);
    await sim.waitForCall(reacted(CHAT, first, "👎"));

    const cancelled = messageIdOf(sim.sendText(CHAT, "wait never"));
    await sim.waitForCall(reacted(CHAT, cancelled, "✍"));
    const second = messageIdOf(sim.sendText(CHAT, "/steer and the other one"));
    await sim.waitForCall(reacted(CHAT, second, "✍"));
    sim.sendText(CHAT, "/cancel");
    const said = await sim.waitForCall(repliedTo(CHAT, cancelled));
    assert.match(textOf(said), /Cancelled by \/cancel/);
    await sim.waitForCall(reacted(CHAT, second, "👎"));
    assert.ok(
      ![first, second].some((id) => sim.calls.some(repliedTo(CHAT, id))),
      "no answer of their own",
    );
  });
});

Deno.test("a brain that is not the Claude driver can't be steered: the message waits its turn and the person is told once", async () => {
  await withBot({}, async (sim, bot) => {
    const first = messageIdOf(sim.sendText(CHAT, "gate p1"));
    await sim.waitForCall(reacted(CHAT, first, "✍"));
    const steers = [sim.sendText(CHAT, "/steer more"), sim.sendText(CHAT, "/steer again")]
      .map(messageIdOf);
    const told = await sim.waitForCall(repliedTo(CHAT, steers[0]));
    assert.equal(textOf(told), UNSTEERABLE_TEXT);
    openGate(bot, "p1");
    const answers = await Promise.all(steers.map((id) =>
      sim.waitForCall(
        (c: RecordedCall) => repliedTo(CHAT, id)(c) && textOf(c).startsWith("echo:"),
      )
    ));
    assert.deepEqual(answers.map(textOf), ["echo: more", "echo: again"]);
    assert.equal(
      sim.calls.filter((c) => textOf(c) === UNSTEERABLE_TEXT).length,
      1,
      "told once",
    );
  });
});

Deno.test("/stop interrupts the turn: what it had is the answer, marked as stopped, and the next message resumes its conversation", async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  await withBot({ env: claudeEnv(conversations.path) }, async (sim) => {
    const first = messageIdOf(sim.sendText(CHAT, "wait never"));
    await sim.waitForCall(reacted(CHAT, first, "✍"));
    sim.sendText(CHAT, "/steer something first");
    await waitUntil(() =>
      sim.calls.some((c) =>
        c.method === "setMessageReaction" &&
        JSON.stringify(c.params.reaction).includes("✍") && c.params.message_id !== first
      ), {
      description: "the steer taken",
    });
    const stop = messageIdOf(sim.sendText(CHAT, "/stop"));
    const said = await sim.waitForCall(repliedTo(CHAT, stop));
    assert.match(textOf(said), /^Stopping the brain working on message \d+; it keeps/);
    const stopped = await sim.waitForCall(repliedTo(CHAT, first));
    assert.equal(
      textOf(stopped),
      "🛑 Stopped by /stop; the conversation keeps what it did. What it had:\n\n" +
        "interrupted; heard: something first",
    );
    const next = await sim.waitForCall(repliedTo(CHAT, messageIdOf(sim.sendText(CHAT, "next"))));
    assert.match(textOf(next), /^turn 2 of [\w-]+: next$/, "the conversation went on");
    const nothing = messageIdOf(sim.sendText(CHAT, "/stop"));
    assert.match(textOf(await sim.waitForCall(repliedTo(CHAT, nothing))), /^Nothing is running/);
  });
});

Deno.test("a message sent with ! interrupts the working turn and runs before the waiting ones", async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  await withBot({ env: claudeEnv(conversations.path) }, async (sim) => {
    const first = messageIdOf(sim.sendText(CHAT, "wait never"));
    await sim.waitForCall(reacted(CHAT, first, "✍"));
    const waiting = messageIdOf(sim.sendText(CHAT, "waiting one"));
    await sim.waitForCall(reacted(CHAT, waiting, "👀"));
    const urgent = messageIdOf(sim.sendText(CHAT, "!urgent one"));
    const [stopped, goesFirst, last] = await Promise.all(
      [first, urgent, waiting].map((id) => sim.waitForCall(repliedTo(CHAT, id))),
    );
    assert.match(textOf(stopped), /^🛑 Stopped for a newer message sent with !/);
    assert.match(textOf(goesFirst), /^turn 2 of [\w-]+: urgent one$/);
    assert.match(textOf(last), /^turn 3 of [\w-]+: waiting one$/);
    assert.ok(stopped.seq < goesFirst.seq && goesFirst.seq < last.seq, "in that order");
    assert.equal(sessionIn(goesFirst), sessionIn(last));
  });
});
