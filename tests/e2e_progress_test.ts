/**
 * End to end: watching a brain work from the phone. Its progress notes show as a draft with a
 * Stop button in a private chat and as an edited message with a 🛑 button in a group; either Stop
 * ends the brain; a brain that asks to be run later (exit 75, or Claude's usage limit) waits for
 * it, across a restart, instead of failing.
 */

import assert from "node:assert/strict";
import {
  brainLog,
  messageIdOf,
  projectPath,
  reacted,
  type RecordedCall,
  repliedTo,
  tempDir,
  textOf,
  waitUntil,
  withBot,
} from "./_helpers.ts";
import { draftIdOf } from "../lib/shared/update_route.ts";

const CHAT = 1001;
const GROUP = -100500;

/** Matches a reply to a message that is not the bot's progress message (which has a 🛑 button). */
function answered(chatId: number, messageId: number) {
  return (call: RecordedCall) =>
    repliedTo(chatId, messageId)(call) && call.params.reply_markup === undefined;
}

Deno.test("a private chat: the brain's notes show in a draft with a Stop button, before the answer", async () => {
  await withBot({}, async (sim) => {
    const update = sim.sendText(CHAT, "notes 4");
    const reply = await sim.waitForCall(repliedTo(CHAT, messageIdOf(update)), {
      timeoutMs: 30_000,
    });
    assert.equal(textOf(reply), "noted 4");
    const drafts = sim.drafts(CHAT).filter((d) => d.at < reply.at);
    const withNotes = new Set(drafts.map((d) => d.text).filter((t) => /step \d of 4/.test(t)));
    assert.ok(withNotes.size >= 2, `two different drafts with notes: ${[...withNotes]}`);
    assert.ok(drafts.every((d) => d.can_stop), "every draft has Telegram's Stop button");
    assert.ok(drafts.every((d) => d.draft_id === draftIdOf(update.update_id)), "one draft id");
    const gaps = drafts.slice(1).map((d, i) => d.at - drafts[i].at);
    assert.ok(gaps.every((gap) => gap >= 1900), `at most one draft per 2 s: ${gaps}`);
  });
});

/** Groups are opt-in: the tests' group is listed. */
const IN_GROUP = { env: { COORD_ALLOWED_CHAT_IDS: String(GROUP) } };

Deno.test("a group: one progress message with a 🛑 button, edited in place, removed when the answer comes", async () => {
  await withBot(IN_GROUP, async (sim) => {
    const id = messageIdOf(sim.sendText(GROUP, "notes 5", { fromId: CHAT }));
    const reply = await sim.waitForCall(answered(GROUP, id), { timeoutMs: 30_000 });
    assert.equal(textOf(reply), "noted 5");
    const answerId = (reply.result as { message_id: number }).message_id;
    const progress = sim.botMessages(GROUP).filter((m) => m.message_id !== answerId);
    assert.equal(progress.length, 1, "one progress message");
    const [message] = progress;
    assert.ok(message.edits >= 1, "edited in place");
    assert.ok(message.deletedAt !== undefined, "removed when the answer came");
    assert.deepEqual(
      message.reply_markup?.inline_keyboard.flat().map((b) => b.text),
      ["🛑 Stop"],
      "the Stop button stayed through the edits",
    );
    assert.equal(sim.drafts(GROUP).length, 0, "no draft in a group");
  });
});

Deno.test("Stop from the phone ends the brain in both forms; a stranger's press changes nothing", async (t) => {
  await t.step("a draft's Stop, in a private chat", async () => {
    await withBot({}, async (sim, bot) => {
      const update = sim.sendText(CHAT, "hang on");
      await waitUntil(() => sim.currentDraft(CHAT), { description: "the draft" });
      sim.pressStop(CHAT, draftIdOf(update.update_id));
      const reply = await sim.waitForCall(repliedTo(CHAT, messageIdOf(update)));
      assert.match(textOf(reply), /^🛑 Stopped from the phone: the brain was stopped/);
      await sim.waitForCall(reacted(CHAT, messageIdOf(update), "👎"));
      assert.equal(brainLog(bot).filter((l) => l.startsWith("start")).length, 1, "no retry");
    });
  });

  await t.step("the 🛑 button, in a group; a stranger's press first", async () => {
    await withBot({ ...IN_GROUP, authorized: [CHAT] }, async (sim, bot) => {
      const update = sim.sendText(GROUP, "hang on", { fromId: CHAT });
      const progress = await waitUntil(
        () => sim.botMessages(GROUP).find((m) => m.reply_markup !== undefined),
        { description: "the progress message" },
      );
      const data = `stop:${update.update_id}`;
      const stranger = sim.pressButton(GROUP, progress.message_id, data, { fromId: 666 });
      await bot.waitForLog(/unauthorized user 666 ignored/);
      assert.equal(sim.callbackAnswer(stranger.callback_query!.id), undefined, "not answered");
      assert.equal(sim.calls.filter(answered(GROUP, messageIdOf(update))).length, 0);

      const press = sim.pressButton(GROUP, progress.message_id, data, { fromId: CHAT });
      const reply = await sim.waitForCall(answered(GROUP, messageIdOf(update)));
      assert.match(textOf(reply), /^🛑 Stopped from the phone/);
      assert.equal(sim.callbackAnswer(press.callback_query!.id)?.text, "Stopping…");
    });
  });
});

Deno.test("a brain that exits 75 with retry-after: 2 runs again after 2 s; the person is told once; no ⚠️", async (t) => {
  await t.step("in one run", async () => {
    await withBot({}, async (sim, bot) => {
      const id = messageIdOf(sim.sendText(CHAT, "tempfail 2"));
      const note = await sim.waitForCall(repliedTo(CHAT, id));
      assert.match(
        textOf(note),
        /^⏳ The brain asked to be run later; I'll run this at \d\d:\d\d, in \d+ s\. \/cancel drops it\.$/,
      );
      const answer = await sim.waitForCall(
        (c) => repliedTo(CHAT, id)(c) && c.seq > note.seq,
        { timeoutMs: 20_000 },
      );
      assert.equal(textOf(answer), "ran after waiting");
      assert.ok(answer.at - note.at >= 1500, `waited ${answer.at - note.at} ms`);
      assert.equal(sim.calls.filter(repliedTo(CHAT, id)).length, 2, "told once, answered once");
      assert.equal(brainLog(bot).filter((l) => l.startsWith("start")).length, 2);
      await sim.waitForCall(reacted(CHAT, id, "👌"));
    });
  });

  await t.step("with a restart in between", async () => {
    await withBot({}, async (sim, first) => {
      const id = messageIdOf(sim.sendText(CHAT, "tempfail 4"));
      await sim.waitForCall(repliedTo(CHAT, id));
      first.kill("SIGTERM");
      await first.exited();
      const second = await first.restart();
      const answer = await sim.waitForCall(
        (c) => repliedTo(CHAT, id)(c) && textOf(c) === "ran after waiting",
        { timeoutMs: 30_000 },
      );
      assert.ok(answer.status === 200);
      assert.equal(sim.calls.filter(repliedTo(CHAT, id)).length, 2, "told once, answered once");
      assert.ok(!second.stderr.includes("gave up"));
    });
  });
});

Deno.test("the default Claude brain: tool calls in the draft, the cost in the footer and in /status, a usage limit waited out", async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  await withBot({
    env: {
      COORD_BRAIN_CMD: undefined,
      COORD_SHOW_COST: "1",
      PATH: `${projectPath("tests/stubs/claude-bin")}:${Deno.env.get("PATH")}`,
      STUB_CLAUDE_DIR: conversations.path,
    },
  }, async (sim) => {
    const first = messageIdOf(sim.sendText(CHAT, "slowly please"));
    const answer = await sim.waitForCall(repliedTo(CHAT, first), { timeoutMs: 30_000 });
    assert.match(textOf(answer), /\n\n— \$0\.0123 · 4 s · 3 turns$/);
    const notes = sim.drafts(CHAT).map((d) => d.text).join("\n");
    assert.match(notes, /🔧 Read lib\/x\.ts|🔧 Bash: npm test/);
    assert.match(notes, /tool call/);

    const status = messageIdOf(sim.sendText(CHAT, "/status"));
    assert.match(
      textOf(await sim.waitForCall(repliedTo(CHAT, status))),
      /Today's brain cost: \$0\.0123 in this chat, \$0\.0123 in all\./,
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
