/**
 * End to end: nothing lost across restarts and crashes (the journal).
 */

import assert from "node:assert/strict";
import { LOST_TEXT } from "../lib/handler/texts.ts";
import {
  brainLog,
  messageIdOf,
  openGate,
  reacted,
  repliedTo,
  sentTo,
  textOf,
  waitUntil,
  withBot,
} from "./_helpers.ts";

const CHAT = 1001;

Deno.test("a message whose brain was cut off by a restart runs again, and its one reply says so", async (t) => {
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    await t.step(`stopped with ${signal}`, () =>
      withBot({}, async (sim, first) => {
        const id = messageIdOf(sim.sendText(CHAT, "gate later"));
        await waitUntil(() => (brainLog(first).length > 0 ? true : undefined), {
          description: "the brain to start",
        });
        first.kill(signal);
        await first.exited();
        await waitUntil(() => (first.leftovers().length === 0 ? true : undefined), {
          description: "the first run's processes to end",
        });
        assert.equal(sim.calls.filter(sentTo(CHAT)).length, 0, "no reply before the restart");

        const second = await first.restart();
        await waitUntil(
          () => (brainLog(second).filter((l) => l.startsWith("start")).length === 2
            ? true
            : undefined),
          {
            description: "the brain to start again",
          },
        );
        openGate(second, "later");
        const reply = await sim.waitForCall(repliedTo(CHAT, id));
        assert.equal(
          reply.params.text,
          "(re-run: an earlier run was cut off before it answered)\npassed gate later",
        );
        await sim.waitForCall(reacted(CHAT, id, "👌"));
        // Answered once, and the journal is empty again.
        const next = messageIdOf(sim.sendText(CHAT, "and now?"));
        await sim.waitForCall(repliedTo(CHAT, next));
        assert.equal(sim.calls.filter(repliedTo(CHAT, id)).length, 1);
        await waitUntil(() => (journalEntries(second.dirs.state).length === 0 ? true : undefined), {
          description: "the journal to be empty",
        });
      }));
  }
});

Deno.test("a message that was already answered is never answered again after a restart", async () => {
  await withBot({}, async (sim, first) => {
    const id = messageIdOf(sim.sendText(CHAT, "just once"));
    await sim.waitForCall(reacted(CHAT, id, "👌"));
    first.kill("SIGKILL");
    await first.exited();
    const second = await first.restart();
    const next = messageIdOf(sim.sendText(CHAT, "second"));
    await sim.waitForCall(repliedTo(CHAT, next));
    assert.equal(sim.calls.filter(repliedTo(CHAT, id)).length, 1);
    assert.equal(brainLog(second).filter((l) => l.startsWith("start")).length, 2);
    // The restarted bot confirmed everything the first one had journaled: no update came twice.
    const polls = sim.calls.filter((c) => c.method === "getUpdates");
    const secondRunFirstPoll = polls.find((c) => c.at > (first.exitedAt ?? 0));
    assert.ok(Number(secondRunFirstPoll?.params.offset) >= 2, "the offset was kept");
  });
});

Deno.test("a message that keeps crashing its handler is given up with a ⚠️ after the poison limit", async () => {
  await withBot({ env: { COORD_POISON_LIMIT: "3" } }, async (sim, bot) => {
    const id = messageIdOf(sim.sendText(CHAT, "killhandler"));
    const reply = await sim.waitForCall(repliedTo(CHAT, id), { timeoutMs: 30_000 });
    assert.match(
      String(reply.params.text),
      /^\(re-run: an earlier run was cut off before it answered\)\n⚠️ I gave up on this message: its handler died 3 times before it could answer \(the last: killed by SIGKILL\)/,
    );
    await sim.waitForCall(reacted(CHAT, id, "👎"));
    assert.equal(brainLog(bot).filter((l) => l.startsWith("start")).length, 3, "3 runs, then none");
    await bot.waitForLog(/giving up on it \(poison limit\)/);
    assert.equal(bot.lines.filter((l) => l.includes("ended without a final reply")).length, 3);
    // The chat goes on.
    const next = messageIdOf(sim.sendText(CHAT, "hello"));
    const ok = await sim.waitForCall(repliedTo(CHAT, next));
    assert.equal(ok.params.text, "echo: hello");
    await waitUntil(() => (journalEntries(bot.dirs.state).length === 0 ? true : undefined), {
      description: "the journal to be empty",
    });
  });
});

Deno.test("a journal entry cut in half at start: its person is told it was lost, the others are answered, a half-written file goes", async () => {
  await withBot({}, async (sim, first) => {
    const lost = sim.sendText(CHAT, "gate c1");
    await sim.waitForCall(reacted(CHAT, messageIdOf(lost), "✍"));
    const other = sim.sendText(CHAT, "still fine");
    await sim.waitForCall(reacted(CHAT, messageIdOf(other), "👀"));
    first.kill("SIGKILL");
    await first.exited();
    await waitUntil(() => first.leftovers().length === 0, {
      description: "the first run's processes to end",
    });
    const journal = `${first.dirs.state}/journal`;
    const entry = `${journal}/${lost.update_id}.json`;
    const text = Deno.readTextFileSync(entry);
    Deno.writeTextFileSync(entry, text.slice(0, Math.floor(text.length / 2)));
    Deno.writeTextFileSync(`${journal}/42.json.tmp-999`, '{"half');
    Deno.writeTextFileSync(`${first.dirs.root}/brain.log`, "restart\n", { append: true });

    const second = await first.restart();
    const told = await sim.waitForCall(repliedTo(CHAT, messageIdOf(lost)));
    assert.equal(textOf(told), LOST_TEXT);
    const answered = await sim.waitForCall(repliedTo(CHAT, messageIdOf(other)));
    assert.equal(textOf(answered), "echo: still fine");
    await second.waitForLog(
      new RegExp(`corrupt journal entry set aside: .*${lost.update_id}\\.json`),
    );
    const kept = [...Deno.readDirSync(`${journal}/corrupt`)].map((e) => e.name);
    assert.equal(kept.length, 1, `only the cut entry is kept: ${kept}`);
    assert.throws(() => Deno.statSync(`${journal}/42.json.tmp-999`), Deno.errors.NotFound);
    const log = brainLog(second);
    const after = log.slice(log.indexOf("restart")).filter((l) => l.includes("gate c1"));
    assert.deepEqual(after, [], "the lost message's brain did not run again");
  });
});

function journalEntries(stateDir: string): string[] {
  return [...Deno.readDirSync(`${stateDir}/journal`)]
    .filter((e) => e.isFile && e.name.endsWith(".json"))
    .map((e) => e.name);
}
