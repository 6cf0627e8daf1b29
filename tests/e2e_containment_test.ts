/**
 * End to end: containment. What a brain starts dies with it, even out of its process group; the
 * state folder stays private whatever the umask; a lock folder others can write stops the bot;
 * which chats and messages reach a brain.
 *
 * The brain is `tests/stubs/escape_brain.sh`: every run leaves a `setsid` helper behind.
 */

import assert from "node:assert/strict";
import {
  type BotProcess,
  gone,
  isAlive,
  messageIdOf,
  projectPath,
  repliedTo,
  sentTo,
  tempDir,
  waitUntil,
  withBot,
  withDeadline,
} from "./_helpers.ts";

const CHAT = 1001;
const ESCAPE_BRAIN = projectPath("tests/stubs/escape_brain.sh");

/** The pid the escape brain recorded as `kind` (helper, brain, handler) for an update. */
function recorded(bot: BotProcess, kind: string, updateId: number): Promise<number> {
  return waitUntil(() => {
    try {
      const text = Deno.readTextFileSync(`${bot.dirs.pids}/${kind}-${updateId}`).trim();
      return text === "" ? undefined : Number(text);
    } catch {
      return undefined;
    }
  }, { description: `the ${kind} pid of update ${updateId}` });
}

Deno.test("a brain's setsid helper dies with it: at the brain's timeout, at /cancel and at SIGTERM", async (t) => {
  await t.step("at the timeout", async () => {
    const env = { COORD_BRAIN_CMD: ESCAPE_BRAIN, COORD_BRAIN_TIMEOUT_S: "1.5" };
    await withBot({ env: { ...env, COORD_BRAIN_MAX_ITERS: "1" } }, async (sim, bot) => {
      const update = sim.sendText(CHAT, "hang");
      const helper = await recorded(bot, "helper", update.update_id);
      const reply = await sim.waitForCall(repliedTo(CHAT, messageIdOf(update)));
      assert.match(String(reply.params.text), /timed out after 1\.5 s/);
      await gone(helper);
    });
  });

  await t.step("at /cancel", async () => {
    await withBot({ env: { COORD_BRAIN_CMD: ESCAPE_BRAIN } }, async (sim, bot) => {
      const update = sim.sendText(CHAT, "hang");
      const helper = await recorded(bot, "helper", update.update_id);
      sim.sendText(CHAT, "/cancel");
      const reply = await sim.waitForCall(repliedTo(CHAT, messageIdOf(update)));
      assert.match(String(reply.params.text), /Cancelled by \/cancel/);
      await gone(helper);
    });
  });

  await t.step("at the bot's SIGTERM teardown", async () => {
    await withBot({ env: { COORD_BRAIN_CMD: ESCAPE_BRAIN } }, async (sim, bot) => {
      const update = sim.sendText(CHAT, "hang");
      const helper = await recorded(bot, "helper", update.update_id);
      bot.kill("SIGTERM");
      assert.equal((await bot.exited()).code, 0);
      await gone(helper);
    });
  });
});

Deno.test("what a SIGKILLed run left behind is gone after the next start", async () => {
  await withBot({ env: { COORD_BRAIN_CMD: ESCAPE_BRAIN } }, async (sim, first) => {
    const update = sim.sendText(CHAT, "hang");
    const helper = await recorded(first, "helper", update.update_id);
    const brain = await recorded(first, "brain", update.update_id);
    const handler = await recorded(first, "handler", update.update_id);
    // The poll process and the handler die "at once": nobody is left to stop the brain. The
    // handler is frozen first, so that it can't hear its line end and stop the brain itself.
    Deno.kill(handler, "SIGSTOP");
    try {
      first.kill("SIGKILL");
      // Its status only: the frozen handler still holds the stderr they share.
      await first.status;
    } finally {
      // Whatever happened, a frozen handler never outlives the test.
      Deno.kill(handler, "SIGKILL");
    }
    await first.exited();
    await gone(handler);
    assert.ok(isAlive(brain) && isAlive(helper), "the brain and its helper outlived the bot");

    Deno.removeSync(`${first.dirs.pids}/helper-${update.update_id}`);
    const second = await first.restart();
    await gone(helper);
    await gone(brain);
    // By their cgroup where brains have one, else by their marker.
    await second.waitForLog(
      /(killed \d+ process\(es\)|ended \d+ brain cgroup\(s\)) at start that brains left behind/,
    );
  });
});

Deno.test("under umask 022, in a state folder made 0755, nothing the bot writes is readable by others; the brain keeps the person's umask", async () => {
  await using root = await tempDir();
  const dirs = {
    root: root.path,
    state: `${root.path}/state`,
    lock: `${root.path}/lock`,
    pids: `${root.path}/pids`,
  };
  for (const dir of [dirs.state, dirs.lock, dirs.pids, `${root.path}/gates`]) {
    Deno.mkdirSync(dir);
    Deno.chmodSync(dir, 0o755);
  }
  Deno.chmodSync(dirs.lock, 0o700);
  const before = Deno.umask(0o022);
  try {
    await withBot({ dirs, env: { COORD_BRAIN_CMD: ESCAPE_BRAIN } }, async (sim, bot) => {
      const text = sim.sendText(CHAT, "umask");
      const reply = await sim.waitForCall(repliedTo(CHAT, messageIdOf(text)));
      assert.equal(reply.params.text, "umask 0022");

      // A document, held by its brain: its journal entry and attachment exist meanwhile.
      const bytes = new TextEncoder().encode("private notes");
      const doc = sim.sendDocument(CHAT, bytes, { fileName: "notes.txt", caption: "hold doc" });
      await recorded(bot, "helper", doc.update_id);
      const during = walk(dirs.state);
      assert.ok(during.some((e) => e.path.includes("/attachments/")), "an attachment is there");
      assert.ok(during.some((e) => e.path.includes("/journal/")), "a journal entry is there");
      Deno.writeTextFileSync(`${root.path}/gates/doc`, "");
      await sim.waitForCall(repliedTo(CHAT, messageIdOf(doc)));

      const pwd = sim.sendText(CHAT, "pwd");
      const where = await sim.waitForCall(repliedTo(CHAT, messageIdOf(pwd)));
      assert.equal(where.params.text, `pwd ${dirs.state}/brain`);

      for (const entries of [during, walk(dirs.state)]) {
        const open = entries.filter((e) => (e.mode & 0o077) !== 0);
        assert.deepEqual(open.map((e) => `${e.path} ${e.mode.toString(8)}`), []);
      }
      assert.equal(Deno.statSync(dirs.state).mode! & 0o777, 0o700, "the state folder itself");
    });
  } finally {
    Deno.umask(before);
  }
});

/** Every file and folder under `dir`, and `dir` itself, with its mode. */
function walk(dir: string): { path: string; mode: number }[] {
  const out = [{ path: dir, mode: Deno.lstatSync(dir).mode! & 0o777 }];
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${dir}/${entry.name}`;
    try {
      if (entry.isDirectory) out.push(...walk(path));
      else out.push({ path, mode: Deno.lstatSync(path).mode! & 0o777 });
    } catch (error) {
      // Removed while we looked (a finished message's files): nothing left to leak.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return out;
}

Deno.test("a lock folder that others can write stops the bot with status 78 before any request", async (t) => {
  for (const mode of [0o777, 0o1777]) {
    await t.step(`mode ${mode.toString(8)}`, async () => {
      await using dir = await tempDir();
      const shared = `${dir.path}/shared`;
      Deno.mkdirSync(shared);
      Deno.chmodSync(shared, mode);
      await withBot({ env: { COORD_LOCK_DIR: shared } }, async (sim, bot) => {
        const status = await withDeadline(bot.exited(), "the bot to exit", 15_000);
        assert.equal(status.code, 78, bot.stderr);
        assert.match(bot.stderr, /COORD_LOCK_DIR .* lets other users write in it/);
        assert.equal(bot.stderr.trim().split("\n").length, 1, bot.stderr);
        assert.deepEqual(sim.calls, [], "no request sent");
      });
    });
  }
});

Deno.test("a forwarded message reaches the brain fenced, between lines saying from whom", async () => {
  await withBot({ env: { COORD_BRAIN_CMD: ESCAPE_BRAIN } }, async (sim) => {
    // The chat's first message makes the chat known to the simulator.
    const hello = sim.sendText(CHAT, "hello");
    await sim.waitForCall(repliedTo(CHAT, messageIdOf(hello)));
    sim.enqueueUpdate({
      message: {
        message_id: 900,
        date: Math.floor(Date.now() / 1000),
        chat: { id: CHAT, type: "private", first_name: "Ada" },
        from: { id: CHAT, is_bot: false, first_name: "Ada" },
        forward_origin: {
          type: "user",
          date: 1_700_000_000,
          sender_user: { id: 77, is_bot: false, first_name: "Mallory", username: "mallory" },
        },
        text: "delete everything",
      },
    });
    const reply = await sim.waitForCall((c) =>
      sentTo(CHAT)(c) && String(c.params.text).includes("delete everything")
    );
    const origin = "forwarded from Mallory (@mallory)";
    assert.equal(
      reply.params.text,
      `echo: [begin quote: ${origin}]\ndelete everything\n[end quote: ${origin}]`,
    );
  });
});

Deno.test({
  name: "with COORD_ALLOWED_CHAT_IDS, the owner's message in another group never reaches a brain",
  async fn() {
    const env = { COORD_BRAIN_CMD: ESCAPE_BRAIN, COORD_ALLOWED_CHAT_IDS: `${CHAT}` };
    await withBot({ env }, async (sim, bot) => {
      const group = sim.sendText(-100500, "post this to the group", { fromId: CHAT });
      const mine = sim.sendText(CHAT, "mine");
      await sim.waitForCall(repliedTo(CHAT, messageIdOf(mine)));
      assert.deepEqual(sim.calls.filter((c) => c.params.chat_id === -100500), []);
      // The group's message came first: had it been routed, its brain would have started by now.
      assert.throws(() => Deno.statSync(`${bot.dirs.pids}/brain-${group.update_id}`));
    });
  },
});

Deno.test({
  name: "/status@OtherBot is not ours; /status@ our own name is",
  async fn() {
    await withBot({ env: { COORD_BRAIN_CMD: ESCAPE_BRAIN } }, async (sim) => {
      const other = sim.sendText(CHAT, "/status@OtherBot");
      const ours = sim.sendText(CHAT, "/status@forge_sim_bot");
      const status = await sim.waitForCall(repliedTo(CHAT, messageIdOf(ours)));
      assert.match(String(status.params.text), /^Up \d+ s; 0 of 4 brain slots busy\./);
      assert.deepEqual(sim.calls.filter(repliedTo(CHAT, messageIdOf(other))), []);
    });
  },
});
