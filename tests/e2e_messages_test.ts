/**
 * End to end: the real `main.ts` and real handler processes against the simulator, for the ways a
 * person's messages travel.
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
  STUB_TRANSCRIBER,
  waitUntil,
  withBot,
} from "./_helpers.ts";

const CHAT = 1001;

Deno.test("two messages in a row are both acknowledged before either brain ends, and both answered in order", async () => {
  await withBot({}, async (sim, bot) => {
    const first = messageIdOf(sim.sendText(CHAT, "gate one"));
    await sim.waitForCall(reacted(CHAT, first, "👀"), { description: "👀 on the first" });
    const second = messageIdOf(sim.sendText(CHAT, "gate two"));
    await sim.waitForCall(reacted(CHAT, second, "👀"), { description: "👀 on the second" });
    await waitUntil(() => brainLog(bot).some((l) => l.startsWith("start 1 ")) || undefined, {
      description: "the first brain to start",
    });

    // Both acknowledged, no brain has finished, and no reply has gone out.
    assert.equal(sim.calls.filter(sentTo(CHAT)).length, 0);
    assert.equal(brainLog(bot).filter((l) => l.startsWith("end")).length, 0);

    openGate(bot, "two");
    openGate(bot, "one");
    const replyOne = await sim.waitForCall(repliedTo(CHAT, first));
    const replyTwo = await sim.waitForCall(repliedTo(CHAT, second));
    assert.equal(replyOne.params.text, "passed gate one");
    assert.equal(replyTwo.params.text, "passed gate two");
    assert.ok(replyOne.seq < replyTwo.seq, "the first reply comes first");
    await sim.waitForCall(reacted(CHAT, first, "👌"));
    await sim.waitForCall(reacted(CHAT, second, "👌"));
    // Typing was shown for both.
    assert.ok(sim.calls.filter((c) => c.method === "sendChatAction").length >= 2);
  });
});

Deno.test("a burst of 10 messages in one chat reaches the brain and is answered in update order", async () => {
  await withBot({}, async (sim, bot) => {
    const ids = Array.from(
      { length: 10 },
      (_, i) => messageIdOf(sim.sendText(CHAT, `sleep 0.0${i % 3} m${i}`)),
    );
    const replies = await sim.waitForCalls(sentTo(CHAT), 10, { timeoutMs: 60_000 });

    const replyOrder = replies.map((c) =>
      (c.params.reply_parameters as { message_id: number }).message_id
    );
    assert.deepEqual(replyOrder, ids, "replies in message order");
    const starts = brainLog(bot).filter((l) => l.startsWith("start")).map((l) =>
      Number(l.split(" ")[1])
    );
    assert.deepEqual(starts, [...starts].sort((a, b) => a - b), "brain calls in update_id order");
    assert.equal(starts.length, 10);
    // One at a time: every start is followed by its own end before the next start.
    const log = brainLog(bot).filter((l) => /^(start|end) /.test(l));
    for (let i = 0; i < log.length; i += 2) {
      assert.match(log[i], /^start (\d+)/);
      assert.equal(log[i + 1], `end ${log[i].split(" ")[1]}`);
    }
    for (const id of ids) await sim.waitForCall(reacted(CHAT, id, "👌"));
  });
});

Deno.test("8 chats at once with a cap of 4: all acknowledged at once, never more than 4 brains or 6 handlers, all answered in order", async () => {
  await withBot({ authorized: [1, 2, 3, 4, 5, 6, 7, 8] }, async (sim, bot) => {
    let maxHandlers = 0;
    let maxBrains = 0;
    const sampler = setInterval(() => {
      const { handlers, brains } = countProcesses(bot.process.pid);
      maxHandlers = Math.max(maxHandlers, handlers);
      maxBrains = Math.max(maxBrains, brains);
    }, 5);
    try {
      const chats = [1, 2, 3, 4, 5, 6, 7, 8];
      // Two messages per chat, every brain held at its gate: nothing can end before all are in.
      const sent = chats.flatMap((chat) => [
        { chat, id: messageIdOf(sim.sendText(chat, `gate c${chat}`)) },
        { chat, id: messageIdOf(sim.sendText(chat, `gate d${chat}`)) },
      ]);
      for (const { chat, id } of sent) {
        await sim.waitForCall(reacted(chat, id, "👀"), { description: `👀 on ${chat}/${id}` });
      }
      // Every handler the bot gave a message runs its brain before any gate opens, so that a cap
      // set higher would show here. The bot's log names the handlers; the brains counted are the
      // stub's own record.
      const given = await waitUntil(() => {
        const started = bot.lines.filter((l) => l.includes("child started")).length;
        return started >= 4 && brainsRunning(brainLog(bot)) === started ? started : undefined;
      }, { description: "the brain of every handler given a message" });
      assert.equal(sim.calls.filter((c) => c.method === "sendMessage").length, 0, "no brain ended");
      assert.equal(brainsRunning(brainLog(bot)), 4, "4 brains run; the other 12 wait for a slot");
      assert.equal(given, 4, "4 handlers given a message");

      for (const chat of chats) openGate(bot, `c${chat}`);
      for (const chat of chats) openGate(bot, `d${chat}`);
      for (const { chat, id } of sent) {
        await sim.waitForCall(repliedTo(chat, id), { timeoutMs: 30_000 });
      }
      for (const chat of chats) {
        const replies = sim.calls.filter(sentTo(chat)).map((c) => c.params.text);
        assert.deepEqual(replies, [`passed gate c${chat}`, `passed gate d${chat}`], `chat ${chat}`);
      }
    } finally {
      clearInterval(sampler);
    }
    // The stub brains' own record of every start and end, in order: exact, not sampled.
    const most = mostBrainsAtOnce(brainLog(bot));
    assert.ok(most <= 4, `at most 4 brains at once by their own record, saw ${most}`);
    assert.equal(most, 4, "the cap was reached");
    // Processes, sampled: at most 4 message handlers, plus the desk and the spare.
    assert.ok(maxHandlers <= 6, `at most 4 handlers, the desk and a spare; saw ${maxHandlers}`);
    assert.ok(maxHandlers >= 5, `the sampler saw the handlers (${maxHandlers})`);
    assert.ok(maxBrains <= 4, `at most 4 brains at once, saw ${maxBrains}`);
    assert.ok(maxBrains >= 1, "the sampler saw the brains");
  });
});

/** The stub brains started and not yet ended, by their log (see tests/stubs/brain.sh). */
function brainsRunning(log: string[]): number {
  return log.filter((l) => l.startsWith("start ")).length -
    log.filter((l) => l.startsWith("end ")).length;
}

/** The most stub brains that were running at once, by their log. */
function mostBrainsAtOnce(log: string[]): number {
  let running = 0;
  let most = 0;
  for (const line of log) {
    if (line.startsWith("start ")) most = Math.max(most, ++running);
    else if (line.startsWith("end ")) running--;
  }
  return most;
}

Deno.test("a message from an unauthorized user gets no handler, no reaction and no reply", async () => {
  await withBot({ authorized: [1001] }, async (sim, bot) => {
    sim.sendText(666, "let me in", { fromId: 666 });
    await bot.waitForLog(/unauthorized user 666 ignored/);
    // A later authorized message is answered, so the loop went on past the stranger's.
    const mine = messageIdOf(sim.sendText(CHAT, "hello"));
    await sim.waitForCall(repliedTo(CHAT, mine));
    assert.equal(sim.calls.filter((c) => c.params.chat_id === 666).length, 0);
    assert.equal(bot.lines.filter((l) => l.includes("child started")).length, 1);
    assert.ok(!brainLog(bot).some((l) => l.includes("let me in")));
  });
});

Deno.test("a hanging brain that spawned a grandchild is timed out, retried, answered with ⚠️, and leaves no process", async () => {
  await withBot(
    { env: { COORD_BRAIN_TIMEOUT_S: "1", COORD_BRAIN_MAX_ITERS: "2" } },
    async (sim, bot) => {
      const id = messageIdOf(sim.sendText(CHAT, "grandchild please"));
      const reply = await sim.waitForCall(repliedTo(CHAT, id), { timeoutMs: 30_000 });
      assert.match(
        String(reply.params.text),
        /^⚠️ The brain failed after 2 attempts: timed out after 1 s/,
      );
      await sim.waitForCall(reacted(CHAT, id, "👎"));
      assert.equal(brainLog(bot).filter((l) => l.startsWith("start")).length, 2, "two attempts");
      const pids = bot.brainPids();
      assert.equal(pids.length, 4, "two brains and two grandchildren recorded");
      await waitUntil(() => (pids.some(isAlive) ? undefined : true), {
        description: "every brain and grandchild to be gone",
      });
      // The loop still polls: a new message is answered.
      const next = messageIdOf(sim.sendText(CHAT, "still there?"));
      const again = await sim.waitForCall(repliedTo(CHAT, next));
      assert.equal(again.params.text, "echo: still there?");
    },
  );
});

Deno.test("a failing brain is retried and its ⚠️ reply quotes the end of its stderr", async () => {
  await withBot({ env: { COORD_BRAIN_MAX_ITERS: "3" } }, async (sim, bot) => {
    const id = messageIdOf(sim.sendText(CHAT, "fail now"));
    const reply = await sim.waitForCall(repliedTo(CHAT, id));
    assert.match(
      String(reply.params.text),
      /^⚠️ The brain failed after 3 attempts: exited with status 3/,
    );
    assert.match(String(reply.params.text), /boom: the stub brain failed on purpose/);
    assert.equal(brainLog(bot).filter((l) => l.startsWith("start")).length, 3);
    await sim.waitForCall(reacted(CHAT, id, "👎"));
  });
});

Deno.test("a brain that prints nothing is a failure, never an empty message", async () => {
  await withBot({ env: { COORD_BRAIN_MAX_ITERS: "1" } }, async (sim) => {
    const id = messageIdOf(sim.sendText(CHAT, "empty"));
    const reply = await sim.waitForCall(repliedTo(CHAT, id));
    assert.match(String(reply.params.text), /^⚠️ .*printed nothing/);
    assert.ok(!sim.calls.some((c) => c.method === "sendMessage" && c.status === 400));
  });
});

Deno.test("a 10,000-character answer arrives whole, split into parts under 4096 characters", async () => {
  await withBot({}, async (sim) => {
    const id = messageIdOf(sim.sendText(CHAT, "long 10000"));
    await sim.waitForCall(reacted(CHAT, id, "👌"));
    const parts = sim.botMessages(CHAT);
    assert.ok(parts.length >= 3, `${parts.length} parts`);
    for (const part of parts) assert.ok(part.text.length <= 4096, `${part.text.length} characters`);
    assert.equal(parts.map((p) => p.text).join("").replace(/\s/g, ""), "x".repeat(10_000));
    assert.equal(parts[0].reply_to, id, "the first part replies to the message");
  });
});

Deno.test("a reply whose formatting Telegram rejects is sent again as plain text", async () => {
  await withBot({}, async (sim) => {
    // The bot's own converter escapes what it doesn't format, so Telegram's parser is made to
    // disagree with it here, with the error text Telegram's HTML parser gives.
    sim.injectFault({
      method: "sendMessage",
      fault: {
        kind: "badRequest",
        description:
          'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 7',
      },
    });
    const id = messageIdOf(sim.sendText(CHAT, "**bold** and `code` <x>"));
    await sim.waitForCall(reacted(CHAT, id, "👌"));
    const sent = sim.calls.filter((c) => c.method === "sendMessage");
    assert.deepEqual(sent.map((c) => c.status), [400, 200]);
    assert.equal(sent[0].params.parse_mode, "HTML");
    assert.equal(sent[0].params.text, "echo: <b>bold</b> and <code>code</code> &lt;x&gt;");
    const [message] = sim.botMessages(CHAT);
    assert.equal(message.text, "echo: **bold** and `code` <x>");
    assert.equal(message.parse_mode, undefined);
    assert.equal(message.reply_to, id, "the plain resend is still a reply");
  });
});

Deno.test("a reply in Markdown is shown formatted", async () => {
  await withBot({}, async (sim) => {
    const id = messageIdOf(
      sim.sendText(CHAT, "**bold**, `my_var` and [a link](https://example.com/a_b)"),
    );
    await sim.waitForCall(reacted(CHAT, id, "👌"));
    const [message] = sim.botMessages(CHAT);
    assert.equal(message.parse_mode, "HTML");
    assert.equal(message.text, "echo: bold, my_var and a link");
    assert.ok(!sim.calls.some((c) => c.method === "sendMessage" && c.status !== 200));
  });
});

Deno.test("a reply still arrives when the person deleted the message meanwhile", async () => {
  await withBot({}, async (sim, bot) => {
    const id = messageIdOf(sim.sendText(CHAT, "gate gone"));
    await sim.waitForCall(reacted(CHAT, id, "👀"));
    sim.deleteMessage(CHAT, id);
    openGate(bot, "gone");
    const reply = await sim.waitForCall(sentTo(CHAT));
    assert.equal(reply.params.text, "passed gate gone");
    // The 👌 can't land on a deleted message: that is logged, not fatal.
    await bot.waitForLog(/reaction 👌 not set on update 1/);
  });
});

Deno.test("a voice note is transcribed and the transcript goes to the brain", async () => {
  await withBot(
    { env: { COORD_TRANSCRIBE_CMD: JSON.stringify([STUB_TRANSCRIBER]) } },
    async (sim, bot) => {
      const id = messageIdOf(sim.sendVoice(CHAT, new TextEncoder().encode("buy milk")));
      const [heard, reply] = await sim.waitForCalls(repliedTo(CHAT, id), 2);
      assert.equal(heard.params.text, "🎙 “heard: buy milk”", "the transcript comes first");
      assert.equal(reply.params.text, "echo: heard: buy milk");
      assert.ok(sim.calls.some((c) => c.method === "getFile"));
      assert.deepEqual(
        [...Deno.readDirSync(`${bot.dirs.state}/tmp`)],
        [],
        "the downloaded audio is removed",
      );
    },
  );
});

Deno.test("a voice note that can't be transcribed gets a clear ⚠️ and no brain call", async (t) => {
  await t.step("the transcriber fails", async () => {
    await withBot(
      { env: { COORD_TRANSCRIBE_CMD: JSON.stringify([STUB_TRANSCRIBER]) } },
      async (sim, bot) => {
        const id = messageIdOf(sim.sendVoice(CHAT, new TextEncoder().encode("fail")));
        const reply = await sim.waitForCall(repliedTo(CHAT, id));
        assert.match(
          String(reply.params.text),
          /^⚠️ I could not transcribe this voice note: .*cannot decode/,
        );
        assert.deepEqual(brainLog(bot), []);
      },
    );
  });
  await t.step("the transcript is empty", async () => {
    await withBot(
      { env: { COORD_TRANSCRIBE_CMD: JSON.stringify([STUB_TRANSCRIBER]) } },
      async (sim, bot) => {
        const id = messageIdOf(sim.sendVoice(CHAT, new TextEncoder().encode("silence")));
        const reply = await sim.waitForCall(repliedTo(CHAT, id));
        assert.equal(
          reply.params.text,
          "⚠️ I could not transcribe this voice note: the transcript was empty.",
        );
        await sim.waitForCall(reacted(CHAT, id, "👎"));
        assert.equal(sim.calls.filter(repliedTo(CHAT, id)).length, 1, "one reply only");
        assert.deepEqual(brainLog(bot), []);
      },
    );
  });
  await t.step("no transcriber is set up", async () => {
    await withBot({}, async (sim, bot) => {
      const id = messageIdOf(sim.sendVoice(CHAT, new TextEncoder().encode("hello")));
      const reply = await sim.waitForCall(repliedTo(CHAT, id));
      assert.match(String(reply.params.text), /^⚠️ Voice is not set up/);
      await sim.waitForCall(reacted(CHAT, id, "👎"));
      assert.deepEqual(brainLog(bot), []);
    });
  });
});

Deno.test("a sticker gets a short note on what is supported, and no brain call", async () => {
  await withBot({}, async (sim, bot) => {
    const id = messageIdOf(sim.sendSticker(CHAT));
    const reply = await sim.waitForCall(repliedTo(CHAT, id));
    assert.match(String(reply.params.text), /text, captions and voice notes; a sticker/);
    await sim.waitForCall(reacted(CHAT, id, "🤷"));
    assert.deepEqual(brainLog(bot), []);
  });
});

/**
 * Handler processes (children of the bot whose command line names handler.ts) and the stub brains
 * they run (their children running brain.sh).
 */
function countProcesses(botPid: number): { handlers: number; brains: number } {
  const parents = new Map<number, number>();
  const commands = new Map<number, string>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") continue;
      parents.set(Number(entry.name), Number(fields[1]));
      commands.set(Number(entry.name), Deno.readTextFileSync(`/proc/${entry.name}/cmdline`));
    } catch {
      // Gone meanwhile.
    }
  }
  const handlers = [...parents].filter(([pid, parent]) =>
    parent === botPid && commands.get(pid)?.includes("handler.ts")
  ).map(([pid]) => pid);
  const brains = [...parents].filter(([pid, parent]) =>
    handlers.includes(parent) && commands.get(pid)?.includes("brain.sh")
  );
  return { handlers: handlers.length, brains: brains.length };
}
