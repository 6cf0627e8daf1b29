/**
 * End to end: a finished answer is never lost and never paid for twice. The answer is journaled
 * before it is sent; sending waits out what is transient in place, across a kill of the whole
 * bot; what Telegram refuses for good is kept in `undelivered/`; a long answer goes as a head and
 * a document, and a kill in the middle of a multi-part answer resumes at the next part.
 */

import assert from "node:assert/strict";
import {
  type BotApiSimulator,
  type BotProcess,
  brainLog,
  killEverything,
  messageIdOf,
  reacted,
  type RecordedCall,
  repliedTo,
  sentTo,
  waitUntil,
  withBot,
} from "./_helpers.ts";

const CHAT = 1001;

function brainRuns(bot: BotProcess, updateId: number): number {
  return brainLog(bot).filter((l) => l.startsWith(`start ${updateId} `)).length;
}

Deno.test("an HTML 502, a 429 and 5 s of refused connections on the reply: answered once, the brain ran once", async () => {
  await withBot({}, async (sim, bot) => {
    sim.injectFault({ method: "sendMessage", fault: { kind: "badGateway" } });
    sim.injectFault({ method: "sendMessage", fault: { kind: "retryAfter", seconds: 1 } });
    const update = sim.sendText(CHAT, "sleep 0.5 hello");
    const id = messageIdOf(update);
    await sim.waitForCall((c) => c.method === "sendMessage" && c.fault === "retryAfter");
    sim.injectFault({ method: "sendMessage", forMs: 5000, fault: { kind: "refused" } });
    const reply = await sim.waitForCall(repliedTo(CHAT, id), { timeoutMs: 30_000 });
    assert.equal(reply.params.text, "slept 0.5: sleep 0.5 hello");
    await sim.waitForCall(reacted(CHAT, id, "👌"));
    assert.equal(sim.calls.filter(repliedTo(CHAT, id)).length, 1, "answered once");
    assert.equal(brainRuns(bot, update.update_id), 1, "the brain ran once");
    const refused = sim.calls.filter((c) => c.method === "sendMessage" && c.fault === "refused");
    assert.ok(refused.length >= 1, "the refused window was met");
  });
});

Deno.test("502 pages on the reply and the whole bot SIGKILLed meanwhile: the journaled answer is delivered once after the restart", async () => {
  await withBot({}, async (sim, first) => {
    const update = sim.sendText(CHAT, "sleep 0.2 precious");
    const id = messageIdOf(update);
    sim.injectFault({ method: "sendMessage", forMs: 8000, fault: { kind: "badGateway" } });
    await sim.waitForCall((c) => c.method === "sendMessage" && c.fault === "badGateway");
    await killEverything(first);

    const second = await first.restart();
    const reply = await sim.waitForCall(repliedTo(CHAT, id), { timeoutMs: 40_000 });
    assert.equal(reply.params.text, "slept 0.2: sleep 0.2 precious");
    await sim.waitForCall(reacted(CHAT, id, "👌"));
    assert.equal(sim.calls.filter(repliedTo(CHAT, id)).length, 1, "delivered once");
    assert.equal(brainRuns(second, update.update_id), 1, "the brain ran once, before the kill");
    assert.ok(!second.stderr.includes("giving up"), "not given up");
  });
});

Deno.test("a chat that blocked the bot: one attempt, the answer kept in undelivered/, the entry finished, other chats answered", async () => {
  await withBot({ authorized: [7, 8] }, async (sim, bot) => {
    sim.injectFault({
      method: "sendMessage",
      chatId: 7,
      times: Infinity,
      fault: { kind: "forbidden" },
    });
    const blocked = sim.sendText(7, "sleep 0.2 into the void");
    const other = messageIdOf(sim.sendText(8, "meanwhile"));
    assert.equal(
      (await sim.waitForCall(repliedTo(8, other))).params.text,
      "echo: meanwhile",
    );
    const path = `${bot.dirs.state}/undelivered/${blocked.update_id}.md`;
    const kept = await waitUntil(() => {
      try {
        return Deno.readTextFileSync(path);
      } catch {
        return undefined;
      }
    }, { description: "the undelivered answer" });
    assert.equal(kept, "slept 0.2: sleep 0.2 into the void\n");
    await bot.waitForLog(new RegExp(`update ${blocked.update_id}: the answer can't be delivered`));
    const attempts = sim.calls.filter((c) => c.method === "sendMessage" && c.params.chat_id === 7);
    assert.ok(attempts.length <= 3, `${attempts.length} attempts`);
    await waitUntil(
      () => (journalIds(bot).includes(blocked.update_id) ? undefined : true),
      { description: "the entry to be finished" },
    );
  });
});

Deno.test("a 30,000-character answer: at most COORD_MAX_REPLY_PARTS messages and one document holding exactly the answer", async () => {
  await withBot({}, async (sim, bot) => {
    const id = messageIdOf(sim.sendText(CHAT, "lines 300"));
    const document = await sim.waitForCall(
      (c) => c.method === "sendDocument" && c.status === 200,
      { timeoutMs: 30_000 },
    );
    // The upload is recorded under its multipart part's name (grammY picks one).
    const file = Object.values(document.params).find((v) =>
      typeof v === "object" && v !== null && "filename" in v
    ) as { filename: string; bytes: Uint8Array };
    assert.equal(file.filename, `answer-${id}.md`);
    const expected = new TextDecoder().decode(
      new Deno.Command("bash", {
        args: ["-c", "echo 'lines 300' | bash tests/stubs/brain.sh"],
        env: { COORD_UPDATE_ID: "0", COORD_CHAT_ID: "0" },
        stdout: "piped",
      }).outputSync().stdout,
    ).trim();
    assert.equal(new TextDecoder().decode(file.bytes), expected, "the whole answer, nothing added");
    await sim.waitForCall(reacted(CHAT, id, "👌"));
    const messages = sim.calls.filter(sentTo(CHAT));
    assert.ok(messages.length <= 5, `${messages.length} messages`);
    assert.match(String(messages[0].params.text), /^line 00001 /);
    assert.match(String(messages[0].params.text), /is in answer-\d+\.md\.\)$/);
    assert.equal(brainLog(bot).filter((l) => l.startsWith("start")).length, 1);
  });
});

Deno.test("a kill in the middle of a multi-part answer resumes at the next part after the restart", async () => {
  await withBot({ env: { COORD_MAX_REPLY_PARTS: "50" } }, async (sim, first) => {
    const update = sim.sendText(CHAT, "lines 400");
    // Each part takes a while to land: the kill falls while the 4th is on its way, unanswered.
    sim.injectFault({ method: "sendMessage", times: Infinity, fault: { kind: "delay", ms: 500 } });
    await sim.waitForCalls(
      (c) => c.method === "sendMessage" && c.params.chat_id === CHAT,
      4,
      { timeoutMs: 30_000, includePending: true },
    );
    await killEverything(first);
    sim.clearFaults();
    const before = sim.calls.filter(sentTo(CHAT)).map(partStart);

    const second = await first.restart();
    await sim.waitForCall(reacted(CHAT, messageIdOf(update), "👌"), { timeoutMs: 40_000 });
    const parts = sim.calls.filter(sentTo(CHAT)).map(partStart);
    assert.ok(parts.length > before.length, "more parts after the restart");
    assert.equal(new Set(parts).size, parts.length, `no part sent twice: ${parts}`);
    assert.equal(parts[0], "line 00001", "the first part went before the kill, once");
    assert.ok(parts.at(-1)!.startsWith("line 0"), "the answer went to its end");
    assert.equal(brainRuns(second, update.update_id), 1, "the brain ran once");
  });
});

Deno.test("a journal that can't be written: the update is not confirmed, nothing crashes, and it is answered once the journal works", async () => {
  await withBot({}, async (sim, bot) => {
    const warm = messageIdOf(sim.sendText(CHAT, "first"));
    await sim.waitForCall(repliedTo(CHAT, warm));
    // The next update's entry can't be written: a folder is in its way.
    const nextId = sim.calls.filter((c) => c.method === "getUpdates").length === 0
      ? 0
      : lastUpdateId(sim) + 1;
    const blocker = `${bot.dirs.state}/journal/${nextId}.json`;
    Deno.mkdirSync(`${blocker}/in-the-way`, { recursive: true });
    const update = sim.sendText(CHAT, "stuck for a while");
    assert.equal(update.update_id, nextId);
    await bot.waitForLog(/cannot write the state folder/);
    // Acknowledged at once all the same: the 👀 needs no disk.
    await sim.waitForCall(reacted(CHAT, messageIdOf(update), "👀"));
    // Not confirmed: a getUpdates after the one that brought it asks for it again.
    const brought = await sim.waitForCall((c) =>
      c.method === "getUpdates" && Array.isArray(c.result) &&
      (c.result as { update_id: number }[]).some((u) => u.update_id === nextId)
    );
    await sim.waitForCall(
      (c) => c.method === "getUpdates" && c.params.offset === nextId && c.seq > brought.seq,
      { includePending: true, description: "a getUpdates asking for it again" },
    );
    Deno.removeSync(blocker, { recursive: true });
    const reply = await sim.waitForCall(repliedTo(CHAT, messageIdOf(update)), {
      timeoutMs: 30_000,
    });
    assert.equal(reply.params.text, "echo: stuck for a while");
    assert.equal(sim.calls.filter(repliedTo(CHAT, messageIdOf(update))).length, 1);
    assert.equal(bot.process.pid > 0 && (await Promise.race([bot.status, "running"])), "running");
  });
});

function partStart(call: RecordedCall): string {
  return String(call.params.text).slice(0, 10);
}

function lastUpdateId(sim: BotApiSimulator): number {
  let last = -1;
  for (const call of sim.calls) {
    if (call.method !== "getUpdates" || !Array.isArray(call.result)) continue;
    for (const u of call.result as { update_id: number }[]) last = Math.max(last, u.update_id);
  }
  return last;
}

function journalIds(bot: BotProcess): number[] {
  return [...Deno.readDirSync(`${bot.dirs.state}/journal`)]
    .map((e) => e.name.match(/^(\d+)\.json$/)?.[1])
    .filter((m) => m !== undefined)
    .map(Number);
}
