/**
 * End to end: approvals from the phone (`COORD_APPROVALS=phone`), with the real bot against the
 * simulator and the stand-in Claude CLI, whose `ask` turn asks to run `rm -rf build` (a
 * `can_use_tool` control request) and answers with what it was told. The ask comes to the chat as
 * a message with Allow / Always allow / Deny; a stranger's press does nothing; no answer in time
 * denies, and the brain's own time limit does not run meanwhile.
 */

import assert from "node:assert/strict";
import {
  claudeEnv,
  messageIdOf,
  type RecordedCall,
  repliedTo,
  tempDir,
  textOf,
  waitUntil,
  withBot,
} from "./_helpers.ts";
import type { BotApiSimulator } from "./sim/simulator.ts";

const CHAT = 1001;
const STRANGER = 666;

/** The ask the bot showed for message `id`: its message, and its buttons' data by label. */
async function askOf(sim: BotApiSimulator, id: number) {
  const ask = await waitUntil(
    () =>
      sim.botMessages(CHAT).find((m) =>
        m.reply_to === id && m.reply_markup !== undefined && m.text.startsWith("🔐")
      ),
    { description: `the ask for message ${id}` },
  );
  const data = new Map(
    ask.reply_markup!.inline_keyboard.flat().map((b) => [
      b.text,
      (b as { callback_data: string })
        .callback_data,
    ]),
  );
  return { ask, data };
}

/** The answer to message `id`: the reply that is not the ask. */
function answerTo(id: number) {
  return (c: RecordedCall) => repliedTo(CHAT, id)(c) && !textOf(c).startsWith("🔐");
}

Deno.test("an ask to use a tool comes to the phone: Allow and Deny reach the CLI, a stranger's press does nothing, Always allow is remembered", async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  const env = claudeEnv(conversations.path, { COORD_APPROVALS: "phone" });
  await withBot({ env }, async (sim) => {
    const first = messageIdOf(sim.sendText(CHAT, "ask one"));
    const { ask, data } = await askOf(sim, first);
    assert.match(ask.text, /^🔐 The brain asks to use Bash\.\n\nrm -rf build$/);
    assert.deepEqual([...data.keys()], ["Allow", "Always allow", "Deny"]);
    const status = messageIdOf(sim.sendText(CHAT, "/status"));
    assert.match(
      textOf(await sim.waitForCall(repliedTo(CHAT, status))),
      /It waits for your approval to use Bash/,
    );
    const stranger = sim.pressButton(CHAT, ask.message_id, data.get("Allow")!, {
      fromId: STRANGER,
    });
    sim.pressButton(CHAT, ask.message_id, data.get("Allow")!);
    const allowed = await sim.waitForCall(answerTo(first));
    assert.equal(textOf(allowed), "Bash: allow (rm -rf build)");
    assert.equal(sim.callbackAnswer(stranger.callback_query!.id), undefined, "not answered");
    assert.match(sim.botMessage(CHAT, ask.message_id)!.text, /^✅ Allowed\./);
    assert.equal(sim.botMessage(CHAT, ask.message_id)!.reply_markup, undefined, "no buttons left");

    const second = messageIdOf(sim.sendText(CHAT, "ask two"));
    sim.pressButton(
      CHAT,
      (await askOf(sim, second)).ask.message_id,
      (await askOf(sim, second)).data.get("Deny")!,
    );
    const denied = await sim.waitForCall(answerTo(second));
    assert.equal(textOf(denied), "Bash: deny (Denied by the person on their phone.)");

    const third = messageIdOf(sim.sendText(CHAT, "ask three"));
    const always = await askOf(sim, third);
    sim.pressButton(CHAT, always.ask.message_id, always.data.get("Always allow")!);
    assert.equal(textOf(await sim.waitForCall(answerTo(third))), "Bash: allow (rm -rf build)");
    const fourth = messageIdOf(sim.sendText(CHAT, "ask four"));
    assert.equal(textOf(await sim.waitForCall(answerTo(fourth))), "Bash: allow (rm -rf build)");
    assert.equal(
      sim.botMessages(CHAT).filter((m) => m.reply_to === fourth && m.text.startsWith("🔐")).length,
      0,
      "not asked again",
    );
    const listed = messageIdOf(sim.sendText(CHAT, "/status"));
    assert.match(
      textOf(await sim.waitForCall(repliedTo(CHAT, listed))),
      /Always allowed in this chat, without asking: Bash\./,
    );
  });
});

Deno.test("an ask nobody answers in time is denied, and the brain's own time limit does not run meanwhile", async () => {
  await using conversations = await tempDir("coord-claude-stub-");
  // The ask waits 3 s, past the brain's 2 s: the turn must end by the ask's denial, not time out.
  const env = claudeEnv(conversations.path, {
    COORD_APPROVALS: "phone",
    COORD_APPROVAL_TIMEOUT_S: "3",
    COORD_BRAIN_TIMEOUT_S: "2",
  });
  await withBot({ env }, async (sim) => {
    const id = messageIdOf(sim.sendText(CHAT, "ask nobody"));
    const { ask } = await askOf(sim, id);
    const answer = await sim.waitForCall(answerTo(id), { timeoutMs: 30_000 });
    assert.equal(textOf(answer), "Bash: deny (Denied: nobody answered in time.)");
    assert.match(sim.botMessage(CHAT, ask.message_id)!.text, /^⌛ Denied: no answer in time\./);
  });
});
