/**
 * End to end: the disk as a fault, not a state (the state folder turned read-only under a working
 * brain, or deleted while the bot runs), and a restart while a reply is in flight.
 *
 * The read-only case mounts a small tmpfs as the state folder and remounts it read-only, as ext4
 * does by itself on disk errors (`errors=remount-ro`): that takes root (CI runs as root); without
 * it the test says so and is skipped.
 *
 * @module
 */

import assert from "node:assert/strict";
import { delay } from "../lib/shared/abort.ts";
import {
  brainLog,
  messageIdOf,
  openGate,
  reacted,
  repliedTo,
  textOf,
  waitUntil,
  withBot,
} from "./_helpers.ts";

const CHAT = 1001;

/** A tmpfs mounted at a fresh folder; unmounted and removed on dispose. */
interface Tmpfs extends AsyncDisposable {
  readonly path: string;
  remount(mode: "ro" | "rw"): void;
}

/** Mounts a small tmpfs, or says why it can't (not root, no mount) and returns undefined. */
async function mountTmpfs(): Promise<Tmpfs | undefined> {
  const path = await Deno.makeTempDir({ prefix: "coord-tmpfs-" });
  const mount = (...args: string[]) =>
    new Deno.Command("mount", { args, stdout: "null", stderr: "piped" }).outputSync();
  const mounted = Deno.uid() === 0 &&
    mount("-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", path);
  if (!mounted || !mounted.success) {
    console.log(`skipped: a tmpfs can't be mounted here (needs root): ${path}`);
    await Deno.remove(path);
    return undefined;
  }
  return {
    path,
    remount(mode) {
      const out = mount("-o", `remount,${mode}`, path);
      if (!out.success) throw new Error(`remount ${mode}: ${new TextDecoder().decode(out.stderr)}`);
    },
    async [Symbol.asyncDispose]() {
      new Deno.Command("umount", { args: ["-l", path], stdout: "null", stderr: "null" })
        .outputSync();
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

Deno.test("the state folder turns read-only while a brain works: one brain run, one reply; what comes meanwhile is acknowledged at once and answered once it is writable", async () => {
  await using tmpfs = await mountTmpfs();
  if (tmpfs === undefined) return;
  const state = `${tmpfs.path}/state`;
  await withBot({ env: { COORD_STATE_DIR: state } }, async (sim, bot) => {
    const first = sim.sendText(CHAT, "gate ro1");
    await sim.waitForCall(reacted(CHAT, messageIdOf(first), "✍"));
    tmpfs.remount("ro");
    const readOnlyAt = performance.now();
    openGate(bot, "ro1");
    const answer = await sim.waitForCall(repliedTo(CHAT, messageIdOf(first)));
    assert.equal(textOf(answer), "passed gate ro1");
    await sim.waitForCall(reacted(CHAT, messageIdOf(first), "👌"));

    const second = sim.sendText(CHAT, "written while read-only");
    await sim.waitForCall(reacted(CHAT, messageIdOf(second), "👀"));
    const status = sim.sendText(CHAT, "/status");
    const said = await sim.waitForCall(repliedTo(CHAT, messageIdOf(status)));
    assert.match(textOf(said), /^⚠️ The state folder can't be written for \d+ s \(/);
    // The disk stays read-only for 20 s in all (the scenario's length, not a wait for an event).
    await delay(Math.max(0, 20_000 - (performance.now() - readOnlyAt)));
    assert.equal(sim.calls.filter(repliedTo(CHAT, messageIdOf(second))).length, 0, "not yet");
    tmpfs.remount("rw");

    const later = await sim.waitForCall(repliedTo(CHAT, messageIdOf(second)), {
      timeoutMs: 30_000,
    });
    assert.equal(textOf(later), "echo: written while read-only");
    assert.equal(brainLog(bot).filter((l) => l.startsWith(`start ${first.update_id} `)).length, 1);
    assert.equal(sim.botMessages(CHAT).filter((m) => m.reply_to === messageIdOf(first)).length, 1);
    await waitUntil(() => journalIsEmpty(state), { description: "the journal to be empty again" });
  });
});

Deno.test("the state folder deleted while the bot runs: it is made again, and messages sent after are answered", async () => {
  await withBot({}, async (sim, bot) => {
    const first = sim.sendText(CHAT, "before");
    await sim.waitForCall(reacted(CHAT, messageIdOf(first), "👌"));
    Deno.removeSync(bot.dirs.state, { recursive: true });

    const second = sim.sendText(CHAT, "after the folder went");
    const reply = await sim.waitForCall(repliedTo(CHAT, messageIdOf(second)));
    assert.equal(textOf(reply), "echo: after the folder went");
    await sim.waitForCall(reacted(CHAT, messageIdOf(second), "👌"));
    assert.equal(Deno.statSync(bot.dirs.state).mode! & 0o777, 0o700, "made again, private");
    await waitUntil(() => journalIsEmpty(bot.dirs.state), { description: "the journal to empty" });
  });
});

Deno.test("a restart while a reply is in flight (Telegram took it, its answer is late): exactly one reply", async () => {
  await withBot({}, async (sim, first) => {
    sim.injectFault({
      method: "sendMessage",
      chatId: CHAT,
      times: 1,
      fault: { kind: "slowAnswer", ms: 3000 },
    });
    const update = sim.sendText(CHAT, "one reply only");
    await sim.waitForCall((c) => c.method === "sendMessage" && c.fault === "slowAnswer", {
      includePending: true,
    });
    first.kill("SIGTERM");
    assert.equal((await first.exited()).code, 0);

    const second = await first.restart();
    await sim.waitForCall(reacted(CHAT, messageIdOf(update), "👌"));
    const replies = sim.botMessages(CHAT).filter((m) => m.reply_to === messageIdOf(update));
    assert.deepEqual(replies.map((m) => m.text), ["echo: one reply only"]);
    assert.equal(brainLog(second).filter((l) => l.startsWith("start ")).length, 1, "one run");
  });
});

function journalIsEmpty(state: string): boolean {
  try {
    return [...Deno.readDirSync(`${state}/journal`)].every((e) => !e.name.endsWith(".json"));
  } catch {
    return false;
  }
}
