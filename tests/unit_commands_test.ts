/**
 * Unit tests for `lib/handler/commands.ts`: `handleCommand()` and `handleStopPress()`, with a fake
 * Bot API that records its calls, a real journal and state folder in a temp dir, and a real
 * process group standing in for a brain.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Api } from "grammy/web";
import type { Message, Update } from "grammy/types";
import { CancelBox } from "../lib/handler/cancel.ts";
import { handleCommand, handleStopPress } from "../lib/handler/commands.ts";
import { SessionStore } from "../lib/handler/session.ts";
import type { Command } from "../lib/shared/command.ts";
import type { Config } from "../lib/shared/config.ts";
import { Heartbeat } from "../lib/shared/heartbeat.ts";
import { Journal } from "../lib/shared/journal.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import type { Logger } from "../lib/shared/log.ts";
import { gone, isAlive, killAll, tempDir } from "./_helpers.ts";

const CHAT = 1001;
const NOW = Date.parse("2025-03-01T12:00:00.000Z");

/** Records sendMessage and answerCallbackQuery. */
class FakeApi {
  readonly sent: { chatId: number; text: string; replyTo?: number }[] = [];
  readonly answered: { id: string; text?: string }[] = [];

  sendMessage(chatId: number, text: string, other: { reply_parameters?: { message_id: number } }) {
    this.sent.push({ chatId, text, replyTo: other?.reply_parameters?.message_id });
    return Promise.resolve({ message_id: 9000 + this.sent.length, chat: { id: chatId }, text });
  }

  answerCallbackQuery(id: string, other: { text?: string }) {
    this.answered.push({ id, text: other?.text });
    return Promise.resolve(true);
  }
}

const silentLog = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;

function message(updateId: number, text: string, replyTo?: number): Update & { message: Message } {
  return ({
    update_id: updateId,
    message: {
      message_id: updateId + 100,
      chat: { id: CHAT, type: "private", first_name: "P" },
      from: { id: CHAT, is_bot: false, first_name: "P" },
      date: 0,
      text,
      ...(replyTo === undefined
        ? {}
        : { reply_to_message: { message_id: replyTo } as Message["reply_to_message"] }),
    },
  }) as Update & { message: Message };
}

/** A state folder with its journal, a fake API, and what `withdraw` was asked. */
async function rig(options: { claude?: boolean } = {}) {
  const dir = await tempDir();
  const journal = new Journal(`${dir.path}/journal`, { durable: false, now: () => NOW });
  journal.open();
  const api = new FakeApi();
  const withdrawn: number[] = [];
  const config = {
    stateDir: dir.path,
    brainMaxAttempts: 3,
    brainKind: options.claude ? "claude" : "plain",
  } as Config;
  /** Journals a message of the chat at `stage`. */
  const put = (updateId: number, patch: Partial<JournalEntry> = {}) => {
    const update = message(updateId, `m${updateId}`);
    journal.record(update, { updateId, chatId: CHAT });
    journal.update(updateId, patch);
    return update.message.message_id;
  };
  /** Sends a command as the desk would: journaled first, then handled. */
  const command = async (command: Command, text = `/${command}`, replyTo?: number) => {
    const update = message(500 + api.sent.length, text, replyTo);
    journal.record(update, { updateId: update.update_id, chatId: CHAT });
    await handleCommand({
      api: api as unknown as Api,
      config,
      update,
      command,
      journal,
      log: silentLog,
      signal: new AbortController().signal,
      withdraw: (id) => withdrawn.push(id),
      now: () => NOW,
    });
    const reply = api.sent.at(-1)!;
    assert.equal(reply.replyTo, update.message.message_id, "the reply answers the command");
    assert.equal(journal.read(update.update_id), undefined, "the command's entry is finished");
    return reply.text;
  };
  return {
    dir,
    journal,
    api,
    config,
    withdrawn,
    put,
    command,
    cancels: new CancelBox(dir.path),
    [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose](),
  };
}

/** A process in a group of its own, standing in for a brain. */
function fakeBrain(): Deno.ChildProcess {
  return new Deno.Command("sleep", { args: ["60"], detached: true, stdout: "null", stderr: "null" })
    .spawn();
}

Deno.test("/status answers with the heartbeat and the chat's standing", async () => {
  await using r = await rig();
  new Heartbeat(`${r.dir.path}/heartbeat`, () => NOW - 2000).beat({
    startedAt: new Date(NOW - 60_000).toISOString(),
    live: 1,
    cap: 4,
    updateIds: [1],
  });
  const running = r.put(1, {
    stage: "brain",
    attempt: 2,
    brainStartedAt: new Date(NOW - 5000).toISOString(),
  });
  r.put(2);
  r.put(3);
  const text = await r.command("status");
  const lines = text.split("\n");
  assert.match(lines[0], /^Up 1 min; poll loop heartbeat 2\.0 s ago; 1 of 4 brain slots busy\.$/);
  assert.match(lines[1], new RegExp(`^Working on message ${running}\\b.*attempt 2 of 3\\.$`));
  assert.equal(lines[2], "2 messages wait behind it.");
});

Deno.test("/status without a heartbeat says so", async () => {
  await using r = await rig();
  const text = await r.command("status");
  assert.match(text, /^⚠️ No heartbeat from the poll loop\.\nNothing is running in this chat\./);
});

Deno.test("/cancel stops the running brain's process group", async () => {
  await using r = await rig();
  const brain = fakeBrain();
  try {
    const id = r.put(1, { stage: "brain", brainPid: brain.pid });
    assert.equal(await r.command("cancel"), `Stopped the brain working on message ${id}.`);
    assert.equal(r.cancels.requested(1), true);
    assert.equal(r.cancels.by(1), "/cancel");
    await gone(brain.pid);
    assert.equal((await brain.status).signal, "SIGTERM");
    assert.deepEqual(r.withdrawn, []);
  } finally {
    killAll([brain.pid]);
    await brain.status;
  }
});

Deno.test("/cancel stops a message still fetching its input, leaving the stop to its handler", async () => {
  await using r = await rig();
  const id = r.put(1, { stage: "started" });
  assert.equal(await r.command("cancel"), `Stopped message ${id} before its brain started.`);
  assert.equal(r.cancels.requested(1), true);
  assert.deepEqual(r.withdrawn, []);
});

Deno.test("/cancel in reply to a waiting message asks the loop to withdraw it", async () => {
  await using r = await rig();
  r.put(1, { stage: "brain" });
  const waiting = r.put(2);
  const text = await r.command("cancel", "/cancel", waiting);
  assert.equal(text, `Withdrawn: message ${waiting} won't go to the brain.`);
  assert.deepEqual(r.withdrawn, [2]);
  assert.equal(r.cancels.requested(1), false, "the running one goes on");
});

Deno.test("/cancel with nothing to cancel says so and changes nothing", async (t) => {
  await using r = await rig();
  await t.step("nothing running", async () => {
    r.put(1);
    assert.equal(await r.command("cancel"), "Nothing is running in this chat: nothing to cancel.");
    assert.equal(r.cancels.requested(1), false);
  });
  await t.step("in reply to a message that is not in the journal", async () => {
    assert.equal(
      await r.command("cancel", "/cancel", 4242),
      "That message is not waiting or running (already answered?): nothing to cancel.",
    );
  });
  await t.step("a message whose answer is being delivered", async () => {
    const id = r.put(3, { stage: "answered" });
    assert.equal(
      await r.command("cancel", "/cancel", id),
      `Message ${id} is answered; its answer is being delivered: nothing to cancel.`,
    );
    assert.equal(r.cancels.requested(3), false, "its marker is cleared again");
  });
  assert.deepEqual(r.withdrawn, []);
});

Deno.test("/new marks the chat's next message to start a new conversation", async (t) => {
  await t.step("the Claude brain", async () => {
    await using r = await rig({ claude: true });
    assert.equal(await r.command("new"), "🆕 The next message starts a new conversation.");
    assert.equal(new SessionStore(r.dir.path, CHAT).newAt(), 500);
  });
  await t.step("a custom brain is told how it learns of it", async () => {
    await using r = await rig();
    assert.match(await r.command("new"), /COORD_NEW_CONVERSATION=1/);
    assert.equal(new SessionStore(r.dir.path, CHAT).newAt(), 500);
  });
});

Deno.test("handleStopPress() stops a running message and answers the press", async (t) => {
  /** A press of the 🛑 under the progress message of update `target`. */
  const press = (updateId: number, target: number, chatId = CHAT): Update =>
    ({
      update_id: updateId,
      callback_query: {
        id: `q${updateId}`,
        from: { id: CHAT, is_bot: false, first_name: "P" },
        chat_instance: "c",
        data: `stop:${target}`,
        message: { message_id: 77, chat: { id: chatId, type: "private" }, date: 0 },
      },
    }) as Update;
  const stop = async (r: Awaited<ReturnType<typeof rig>>, update: Update) => {
    r.journal.record(update, { updateId: update.update_id, chatId: CHAT });
    await handleStopPress({
      api: r.api as unknown as Api,
      config: r.config,
      update,
      journal: r.journal,
      log: silentLog,
      signal: new AbortController().signal,
    });
    assert.equal(r.journal.read(update.update_id), undefined, "the press's entry is finished");
    return r.api.answered.at(-1);
  };

  await t.step("a running brain: marked as a Stop, its group signalled", async () => {
    await using r = await rig();
    const brain = fakeBrain();
    try {
      r.put(1, { stage: "brain", brainPid: brain.pid });
      assert.deepEqual(await stop(r, press(600, 1)), { id: "q600", text: "Stopping…" });
      assert.equal(r.cancels.by(1), "Stop");
      await gone(brain.pid);
    } finally {
      killAll([brain.pid]);
      await brain.status;
    }
  });
  await t.step("a finished message: nothing to stop", async () => {
    await using r = await rig();
    assert.deepEqual(await stop(r, press(600, 1)), {
      id: "q600",
      text: "Nothing to stop: it has finished.",
    });
    assert.equal(r.cancels.requested(1), false);
  });
  await t.step("a message of another chat is not stopped", async () => {
    await using r = await rig();
    const brain = fakeBrain();
    try {
      r.put(1, { stage: "brain", brainPid: brain.pid });
      assert.equal((await stop(r, press(600, 1, 2002)))?.text, "Nothing to stop: it has finished.");
      assert.equal(r.cancels.requested(1), false);
      assert.equal(isAlive(brain.pid), true);
    } finally {
      killAll([brain.pid]);
      await brain.status;
    }
  });
});
