/**
 * End to end: nothing waits behind a brain. The front desk acknowledges every message and answers
 * every command at once, whatever the brains are doing; a stage that hangs can be cancelled and
 * runs out; the desk itself can die without losing anything; a restart with a backlog is ready
 * at once.
 */

import assert from "node:assert/strict";
import {
  brainLog,
  isAlive,
  messageIdOf,
  openGate,
  reacted,
  repliedTo,
  sentTo,
  tempDir,
  textOf,
  waitUntil,
  withBot,
} from "./_helpers.ts";
import { FakeSystemd } from "./_systemd.ts";

const CHAT = 1001;

Deno.test("a busy chat: every 👀 comes while the first brain runs, /status counts the queue, /cancel stops the brain, the rest go on in order", async () => {
  await withBot({}, async (sim, bot) => {
    const first = messageIdOf(sim.sendText(CHAT, "grandchild please"));
    await sim.waitForCall(reacted(CHAT, first, "✍"));
    const later = Array.from({ length: 6 }, (_, i) => messageIdOf(sim.sendText(CHAT, `m${i}`)));
    for (const id of later) await sim.waitForCall(reacted(CHAT, id, "👀"));
    assert.equal(sim.calls.filter(sentTo(CHAT)).length, 0, "the first brain still runs");

    const status = messageIdOf(sim.sendText(CHAT, "/status"));
    const statusReply = await sim.waitForCall(repliedTo(CHAT, status));
    assert.deepEqual(textOf(statusReply).split("\n").map((l) => l.replace(/\d+ s/g, "N s")), [
      "Up N s; 1 of 4 brain slots busy.",
      "Working on message 1 (“grandchild please”) for N s, attempt 1 of 2.",
      "6 messages wait behind it.",
    ], "no other chat has messages waiting");
    assert.equal(sim.calls.filter(repliedTo(CHAT, first)).length, 0, "answered while it ran");
    assert.equal(sim.reaction(CHAT, status), undefined, "a command gets no reaction");

    const cancel = messageIdOf(sim.sendText(CHAT, "/cancel"));
    assert.equal(
      textOf(await sim.waitForCall(repliedTo(CHAT, cancel))),
      "Stopped the brain working on message 1.",
    );
    assert.match(
      textOf(await sim.waitForCall(repliedTo(CHAT, first))),
      /^🛑 Cancelled by \/cancel/,
    );
    const replies = [];
    for (const id of later) replies.push(await sim.waitForCall(repliedTo(CHAT, id)));
    assert.deepEqual(replies.map(textOf), later.map((_, i) => `echo: m${i}`));
    const seqs = replies.map((c) => c.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "answered in order");
    const starts = brainLog(bot).filter((l) => l.startsWith("start"));
    assert.deepEqual(starts.map((l) => Number(l.split(" ")[1])), [1, 2, 3, 4, 5, 6, 7]);
    const after = messageIdOf(sim.sendText(CHAT, "/status"));
    const quiet = await sim.waitForCall(repliedTo(CHAT, after));
    assert.match(textOf(quiet), /\nNothing is running in this chat\.$/);
  });
});

Deno.test("a download that never finishes: /cancel ends it and the chat goes on; without /cancel the stall limit ends it with a ⚠️", async (t) => {
  await t.step("/cancel", async () => {
    await withBot({}, async (sim, bot) => {
      sim.injectFault({ method: "file/download", fault: { kind: "hang" } });
      const doc = messageIdOf(sim.sendDocument(CHAT, new TextEncoder().encode("data")));
      await sim.waitForCall((c) => c.method === "file/download", { includePending: true });
      const next = messageIdOf(sim.sendText(CHAT, "after the file"));
      await sim.waitForCall(reacted(CHAT, next, "👀"));

      const cancel = messageIdOf(sim.sendText(CHAT, "/cancel"));
      assert.equal(
        textOf(await sim.waitForCall(repliedTo(CHAT, cancel))),
        "Stopped message 1 before its brain started.",
      );
      assert.equal(
        textOf(await sim.waitForCall(repliedTo(CHAT, doc))),
        "🛑 Cancelled by /cancel while its file was fetched: the brain never saw this message.",
      );
      await sim.waitForCall(reacted(CHAT, doc, "👎"));
      assert.equal(textOf(await sim.waitForCall(repliedTo(CHAT, next))), "echo: after the file");
      assert.ok(!brainLog(bot).some((l) => l.includes("attached")), "no brain for the file");
    });
  });

  await t.step("the stall limit", async () => {
    await withBot({ env: { COORD_DOWNLOAD_STALL_S: "1" } }, async (sim, bot) => {
      sim.injectFault({ method: "file/download", fault: { kind: "hang" } });
      const doc = messageIdOf(sim.sendDocument(CHAT, new TextEncoder().encode("data")));
      const next = messageIdOf(sim.sendText(CHAT, "after the file"));
      const warning = textOf(await sim.waitForCall(repliedTo(CHAT, doc)));
      assert.equal(
        warning,
        "⚠️ I could not fetch the file: the download of the file stalled: no data for 1 s. Please send it again.",
      );
      assert.equal(textOf(await sim.waitForCall(repliedTo(CHAT, next))), "echo: after the file");
      assert.equal(brainLog(bot).filter((l) => l.startsWith("start")).length, 1);
    });
  });
});

Deno.test("the desk killed with SIGKILL is replaced: later messages are acknowledged, nothing is lost or answered twice", async () => {
  await withBot({}, async (sim, bot) => {
    const first = messageIdOf(sim.sendText(CHAT, "gate k1"));
    await sim.waitForCall(reacted(CHAT, first, "✍"));
    const deskPid = Number((await bot.waitForLog(/desk started: pid \d+/)).match(/pid (\d+)/)![1]);
    Deno.kill(deskPid, "SIGKILL");
    await bot.waitForLog(/the desk \(pid \d+\) ended/);

    const later = [1, 2, 3].map((i) => messageIdOf(sim.sendText(CHAT, `after ${i}`)));
    const status = messageIdOf(sim.sendText(CHAT, "/status"));
    for (const id of later) await sim.waitForCall(reacted(CHAT, id, "👀"));
    assert.match(textOf(await sim.waitForCall(repliedTo(CHAT, status))), /3 messages wait/);
    assert.ok(!isAlive(deskPid));
    await bot.waitForLog(/desk started: pid \d+/, { count: 2 });

    openGate(bot, "k1");
    for (const id of [first, ...later]) await sim.waitForCall(repliedTo(CHAT, id));
    const after = messageIdOf(sim.sendText(CHAT, "last"));
    await sim.waitForCall(repliedTo(CHAT, after));
    for (const id of [first, ...later, status, after]) {
      assert.equal(sim.calls.filter(repliedTo(CHAT, id)).length, 1, `one reply to ${id}`);
    }
  });
});

Deno.test("a restart with more than cap-many unfinished messages is READY at once, and answers them all", async () => {
  await using dir = await tempDir();
  await using systemd = new FakeSystemd(`${dir.path}/notify.sock`);
  const chats = [1, 2, 3, 4];
  const env = { NOTIFY_SOCKET: systemd.path };
  await withBot({ authorized: chats, env }, async (sim, first) => {
    const sent = chats.flatMap((chat) => [
      { chat, id: messageIdOf(sim.sendText(chat, `gate r${chat}`)) },
      { chat, id: messageIdOf(sim.sendText(chat, `second ${chat}`)) },
    ]);
    await waitUntil(() => (brainLog(first).length >= 4 ? true : undefined), {
      description: "4 brains running",
    });
    first.kill("SIGKILL");
    await first.exited();
    await waitUntil(() => (first.leftovers().length === 0 ? true : undefined), {
      description: "the first run's processes to end",
    });
    const readyBefore = systemd.with("READY=1").length;

    const startedAt = performance.timeOrigin + performance.now();
    const second = await first.restart();
    // Every re-run hangs at its gate until READY has come.
    const ready = (await systemd.waitFor("READY=1", readyBefore + 1)).at(-1)!;
    const seconds = (ready.at - startedAt) / 1000;
    assert.ok(seconds < 5, `READY ${seconds.toFixed(1)} s after start`);
    assert.equal(sim.calls.filter((c) => c.method === "sendMessage").length, 0);
    for (const chat of chats) openGate(second, `r${chat}`);
    for (const { chat, id } of sent) {
      const reply = await sim.waitForCall(repliedTo(chat, id), { timeoutMs: 30_000 });
      assert.match(
        textOf(reply),
        /^\(re-run: an earlier run was cut off before it answered\)\npassed gate|^echo: second/,
      );
    }
  });
});
