/**
 * End to end: the real bot against a Bot API that misbehaves.
 */

import assert from "node:assert/strict";
import type { Fault } from "./sim/simulator.ts";
import { messageIdOf, reacted, repliedTo, withBot } from "./_helpers.ts";

const CHAT = 1001;

Deno.test("the poll loop rides out 429, 500, an HTML page, malformed JSON, 409 and a refused connection", async (t) => {
  await withBot({ env: { COORD_POLL_TIMEOUT_S: "1" } }, async (sim, bot) => {
    const faults: [string, Fault, RegExp][] = [
      ["429 with retry_after", { kind: "retryAfter", seconds: 1 }, /429 Too Many Requests/],
      ["500", { kind: "internal" }, /500 Internal Server Error/],
      ["502 HTML page", { kind: "badGateway" }, /not JSON/],
      ["malformed JSON", { kind: "malformed" }, /not JSON/],
      ["409 Conflict", { kind: "conflict" }, /409 Conflict/],
    ];
    let n = 0;
    for (const [name, fault, logged] of faults) {
      await t.step(name, async () => {
        sim.injectFault({ method: "getUpdates", fault });
        const faulted = await sim.waitForCall((c) =>
          c.method === "getUpdates" && c.fault === fault.kind
        );
        await bot.waitForLog(logged);
        // Still polling: the next message is answered.
        const id = messageIdOf(sim.sendText(CHAT, `after ${name}`));
        const reply = await sim.waitForCall(repliedTo(CHAT, id));
        assert.equal(reply.params.text, `echo: after ${name}`);
        n++;
        await bot.waitForLog(/getUpdates failed .* retrying in/, { count: n });
        const next = sim.calls.find((c) => c.method === "getUpdates" && c.seq > faulted.seq);
        assert.ok(next, "polled again");
        if (fault.kind === "retryAfter") {
          assert.ok(next.at - (faulted.endedAt ?? faulted.at) >= 1000, "waited out retry_after");
        }
      });
    }
    await t.step("connection refused", async () => {
      await sim.refuseConnections();
      await bot.waitForLog(/getUpdates failed .*Network request/);
      await sim.acceptConnections();
      const id = messageIdOf(sim.sendText(CHAT, "after the outage"));
      const reply = await sim.waitForCall(repliedTo(CHAT, id), { timeoutMs: 45_000 });
      assert.equal(reply.params.text, "echo: after the outage");
    });
    // Never a busy loop: every failure was followed by a back-off, so the calls stay few.
    assert.ok(sim.calls.filter((c) => c.method === "getUpdates").length < 40);
    assert.equal(bot.lines.filter((l) => l.includes("dispatch crash")).length, 0);
  });
});

Deno.test("a revoked token (401) stops the bot with one clear line and a non-zero status", async () => {
  await withBot({}, async (sim, bot) => {
    sim.injectFault({ method: "getUpdates", fault: { kind: "unauthorized" } });
    const status = await bot.exited();
    assert.equal(status.code, 77);
    const fatal = bot.lines.filter((l) => l.includes("[ERR]"));
    assert.equal(fatal.length, 1);
    assert.match(fatal[0], /Telegram refused the bot token \(getUpdates: 401 Unauthorized\)/);
  });
});

Deno.test("malformed and unhandled updates are confirmed and skipped, never retried forever", async () => {
  await withBot({ env: { COORD_POLL_TIMEOUT_S: "1" } }, async (sim, bot) => {
    sim.enqueueUpdate({});
    sim.enqueueUpdate({ message: "not an object" });
    sim.enqueueUpdate({ message: { message_id: 3, date: 0, from: { id: 1001 } } });
    const id = messageIdOf(sim.sendText(CHAT, "and a real one"));
    await sim.waitForCall(repliedTo(CHAT, id));
    await bot.waitForLog(/update 1 skipped: not a message \(empty\)/);
    await bot.waitForLog(/update 2 skipped: malformed: message is not an object/);
    await bot.waitForLog(/update 3 skipped: malformed: message.chat is missing/);
    // Confirmed: a later poll asks for an offset past all of them.
    await sim.waitForCall((c) => c.method === "getUpdates" && Number(c.params.offset) > 4);
    assert.equal(bot.lines.filter((l) => l.includes("child started")).length, 1);
  });
});

Deno.test("a handler waits out a 429 on its reply and retries a 500, and the reply still lands", async () => {
  await withBot({}, async (sim) => {
    sim.injectFault({ method: "sendMessage", fault: { kind: "retryAfter", seconds: 1 } });
    sim.injectFault({ method: "sendMessage", fault: { kind: "internal" } });
    const id = messageIdOf(sim.sendText(CHAT, "rate limited"));
    const reply = await sim.waitForCall(repliedTo(CHAT, id), { timeoutMs: 30_000 });
    assert.equal(reply.params.text, "echo: rate limited");
    const attempts = sim.calls.filter((c) => c.method === "sendMessage");
    assert.deepEqual(attempts.map((c) => c.status), [429, 500, 200]);
    assert.ok(
      attempts[1].at - (attempts[0].endedAt ?? attempts[0].at) >= 1000,
      "waited retry_after",
    );
    await sim.waitForCall(reacted(CHAT, id, "👌"));
  });
});

Deno.test("a failed acknowledgement is logged and never stops the reply", async () => {
  await withBot({}, async (sim, bot) => {
    sim.injectFault({ method: "setMessageReaction", fault: { kind: "badGateway" } });
    sim.injectFault({ method: "sendChatAction", fault: { kind: "internal" } });
    const id = messageIdOf(sim.sendText(CHAT, "ack fails"));
    const reply = await sim.waitForCall(repliedTo(CHAT, id));
    assert.equal(reply.params.text, "echo: ack fails");
    await bot.waitForLog(/reaction 👀 not set on update 1/);
    await bot.waitForLog(/typing not shown for update 1/);
  });
});
