/**
 * Unit tests for `lib/handler/commands.ts`: `handleCommand()` words what the poll process decided
 * (a `StatusView`, a `CancelVerdict`) and `/new` marks the chat; `answerPress()` answers a Stop
 * press. With a fake Bot API that records its calls, and a state folder in a temp dir. What
 * `/cancel` and a Stop press decide is the scheduler's (`unit_decide_test.ts`,
 * `unit_scheduler_desk_test.ts`).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Api } from "grammy/web";
import type { Message, Update } from "grammy/types";
import { answerPress, cancelText, handleCommand } from "../lib/handler/commands.ts";
import { SessionStore } from "../lib/handler/session.ts";
import type { Command } from "../lib/shared/command.ts";
import type { Config } from "../lib/shared/config.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import type { CancelVerdict, StatusView } from "../lib/shared/line.ts";
import { recordingLog, tempDir } from "./_helpers.ts";

const CHAT = 1001;
const NOW = Date.parse("2025-03-01T12:00:00.000Z");

/** Records sendMessage and answerCallbackQuery; `fail` makes answerCallbackQuery reject. */
class FakeApi {
  readonly sent: { chatId: number; text: string; replyTo?: number }[] = [];
  readonly answered: { id: string; text?: string }[] = [];
  fail = false;

  sendMessage(chatId: number, text: string, other: { reply_parameters?: { message_id: number } }) {
    this.sent.push({ chatId, text, replyTo: other?.reply_parameters?.message_id });
    return Promise.resolve({ message_id: 9000 + this.sent.length, chat: { id: chatId }, text });
  }

  answerCallbackQuery(id: string, other: { text?: string }) {
    this.answered.push({ id, text: other?.text });
    return this.fail ? Promise.reject(new Error("query is too old")) : Promise.resolve(true);
  }
}

function message(updateId: number, text: string): Update & { message: Message } {
  return ({
    update_id: updateId,
    message: {
      message_id: updateId + 100,
      chat: { id: CHAT, type: "private", first_name: "P" },
      from: { id: CHAT, is_bot: false, first_name: "P" },
      date: 0,
      text,
    },
  }) as Update & { message: Message };
}

function entry(updateId: number, patch: Partial<JournalEntry> = {}): JournalEntry {
  return {
    updateId,
    chatId: CHAT,
    update: message(updateId, `m${updateId}`),
    stage: "received",
    dispatches: 0,
    receivedAt: new Date(NOW - 60_000).toISOString(),
    ...patch,
  };
}

/** A state folder and a fake API; `command()` answers one as the desk would, returning its text. */
async function rig(options: { claude?: boolean } = {}) {
  const dir = await tempDir();
  const api = new FakeApi();
  const config = {
    stateDir: dir.path,
    brainMaxAttempts: 3,
    brainKind: options.claude ? "claude" : "plain",
  } as Config;
  const command = async (
    command: Command,
    decided: { status?: StatusView; cancel?: CancelVerdict } = {},
  ) => {
    const update = message(500 + api.sent.length, `/${command}`);
    await handleCommand({
      api: api as unknown as Api,
      config,
      update,
      command,
      ...decided,
      log: recordingLog().log,
      signal: new AbortController().signal,
      now: () => NOW,
    });
    const reply = api.sent.at(-1)!;
    assert.equal(reply.replyTo, update.message.message_id, "the reply answers the command");
    assert.equal(reply.chatId, CHAT);
    return reply.text;
  };
  return { dir, api, config, command, [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose]() };
}

Deno.test("/status words the view the poll process sent: the bot, the chat's running message and those behind it", async () => {
  await using r = await rig();
  const view: StatusView = {
    startedAt: new Date(NOW - 60_000).toISOString(),
    live: 1,
    cap: 4,
    running: entry(1, {
      stage: "brain",
      attempt: 2,
      brainStartedAt: new Date(NOW - 5000).toISOString(),
    }),
    waiting: 2,
    waitingInAll: 2,
    delivering: 0,
  };
  const lines = (await r.command("status", { status: view })).split("\n");
  assert.deepEqual(lines, [
    "Up 1 min; 1 of 4 brain slots busy.",
    "Working on message 101 (“m1”) for 5 s, attempt 2 of 3.",
    "2 messages wait behind it.",
  ]);
});

Deno.test("/status with no view (it never comes without one) says it has none, and still answers", async () => {
  await using r = await rig();
  assert.equal(await r.command("status"), "⚠️ No status to give.");
});

Deno.test("/cancel words the verdict the poll process reached", async (t) => {
  const verdicts: [CancelVerdict, string][] = [
    [{ kind: "nothing" }, "Nothing is running in this chat: nothing to cancel."],
    [
      { kind: "not-found" },
      "That message is not waiting or running (already answered?): nothing to cancel.",
    ],
    [
      { kind: "delivering", messageId: 7 },
      "Message 7 is answered; its answer is being delivered: nothing to cancel.",
    ],
    [{ kind: "withdrawn", messageId: 7 }, "Withdrawn: message 7 won't go to the brain."],
    [
      { kind: "stopping", messageId: 7, brain: true },
      "Stopped the brain working on message 7.",
    ],
    [
      { kind: "stopping", messageId: 7, brain: false },
      "Stopped message 7 before its brain started.",
    ],
  ];
  await using r = await rig();
  for (const [verdict, text] of verdicts) {
    await t.step(
      verdict.kind + ("brain" in verdict ? ` (brain: ${verdict.brain})` : ""),
      async () => {
        assert.equal(cancelText(verdict), text);
        assert.equal(await r.command("cancel", { cancel: verdict }), text);
      },
    );
  }
  await t.step("no verdict: as if nothing ran", async () => {
    assert.equal(await r.command("cancel"), verdicts[0][1]);
  });
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

Deno.test("answerPress() answers a 🛑 press with whether it stops something; a draft's Stop gets no call", async (t) => {
  const press = (updateId: number): Update =>
    ({
      update_id: updateId,
      callback_query: {
        id: `q${updateId}`,
        from: { id: CHAT, is_bot: false, first_name: "P" },
        chat_instance: "c",
        data: "stop:1",
        message: { message_id: 77, chat: { id: CHAT, type: "private" }, date: 0 },
      },
    }) as Update;
  const answer = async (api: FakeApi, update: Update, stopping: boolean) => {
    const { log, lines } = recordingLog();
    await answerPress({
      api: api as unknown as Api,
      update,
      answer: stopping ? "stopping" : "nothing",
      log,
      signal: new AbortController().signal,
    });
    return lines;
  };

  await t.step("it stops something", async () => {
    const api = new FakeApi();
    await answer(api, press(600), true);
    assert.deepEqual(api.answered, [{ id: "q600", text: "Stopping…" }]);
  });
  await t.step("it came after the work had finished", async () => {
    const api = new FakeApi();
    await answer(api, press(600), false);
    assert.deepEqual(api.answered, [{ id: "q600", text: "Nothing to stop: it has finished." }]);
  });
  await t.step("a draft's Stop", async () => {
    const api = new FakeApi();
    const update = { update_id: 601, stopped_message_generation: { chat: { id: CHAT } } };
    await answer(api, update as unknown as Update, true);
    assert.deepEqual(api.answered, []);
  });
  await t.step("an answer Telegram refuses is logged, never thrown", async () => {
    const api = new FakeApi();
    api.fail = true;
    const lines = await answer(api, press(602), true);
    assert.ok(lines.some((l) => l.level === "warn" && /the press/.test(l.message)));
  });
});
