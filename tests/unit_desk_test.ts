/**
 * Unit tests for the front desk, `runDesk()` of `lib/handler/desk.ts`, fed controls by hand over
 * a real `HandlerLine`, with fake Bot API objects that record their calls. The desk decides
 * nothing: each job says what to answer (what the scheduler decided is `unit_scheduler_desk_test.ts`).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Api } from "grammy/web";
import type { Config } from "../lib/shared/config.ts";
import { runDesk } from "../lib/handler/desk.ts";
import type { DeskJob, Report } from "../lib/shared/line.ts";
import { lateEditText, LOST_TEXT, WITHDRAWN_TEXT } from "../lib/handler/texts.ts";
import { recordingLog, tempDir, testLine, waitUntil, withDeadline } from "./_helpers.ts";

const CHAT = 7;

/** One recorded Bot API call. */
interface ApiCall {
  method: string;
  args: unknown[];
}

/**
 * A Bot API stand-in: records every call; `gate` (when set) holds a reaction's call until it is
 * resolved; `fail` makes a method reject.
 */
class FakeApi {
  readonly calls: ApiCall[];
  gate?: Promise<void>;
  fail = new Set<string>();
  #nextMessageId = 1000;

  constructor(calls: ApiCall[] = []) {
    this.calls = calls;
  }

  async setMessageReaction(...args: unknown[]): Promise<true> {
    this.calls.push({ method: "setMessageReaction", args });
    await this.gate;
    if (this.fail.has("setMessageReaction")) throw new Error("reaction refused");
    return true;
  }

  sendChatAction(...args: unknown[]): Promise<true> {
    this.calls.push({ method: "sendChatAction", args });
    return Promise.resolve(true);
  }

  answerCallbackQuery(...args: unknown[]): Promise<true> {
    this.calls.push({ method: "answerCallbackQuery", args });
    return Promise.resolve(true);
  }

  sendMessage(chatId: number, text: string, ...rest: unknown[]): Promise<unknown> {
    this.calls.push({ method: "sendMessage", args: [chatId, text, ...rest] });
    if (this.fail.has("sendMessage")) {
      return Promise.reject(new Error("Network request for 'sendMessage' failed!"));
    }
    return Promise.resolve({ message_id: this.#nextMessageId++, chat: { id: chatId }, text });
  }

  /** The calls of one method. */
  of(method: string): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }
}

function message(updateId: number, text = `m${updateId}`) {
  return {
    update_id: updateId,
    message: {
      message_id: updateId + 100,
      chat: { id: CHAT, type: "private" },
      from: { id: CHAT, is_bot: false, first_name: "P" },
      date: 0,
      text,
    },
  };
}

/**
 * Feeds the 👀 job of message 1 and holds its reaction's call until the returned function is
 * called; resolves once that call is under way.
 */
async function holdAcknowledgement(desk: Awaited<ReturnType<typeof startDesk>>) {
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  desk.api.gate = gate;
  desk.job({ job: "ack", update: message(1) });
  await waitUntil(() => desk.api.of("setMessageReaction").length > 0, {
    timeoutMs: 5000,
    description: "the reaction's call",
  });
  return open;
}

/** Lets every callback already due run (a macrotask turn): for a check that nothing happened. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A desk running on a line fed by hand, with its fakes; ended (EOF, then awaited) on dispose. */
async function startDesk(options: { drainMs?: number } = {}) {
  const dir = await tempDir();
  const calls: ApiCall[] = [];
  const api = new FakeApi(calls);
  const replyApi = new FakeApi(calls);
  const { log, lines } = recordingLog();
  const reports: Report[] = [];
  const feed = testLine();
  const controller = new AbortController();
  const config = {
    stateDir: dir.path,
    brainMaxAttempts: 3,
    brainKind: "plain",
    maxReplyParts: 5,
    replyPatienceMs: 0,
  } as Config;
  const run = runDesk(feed.line.controls(), {
    api: api as unknown as Api,
    replyApi: replyApi as unknown as Api,
    config,
    log,
    signal: controller.signal,
    report: (report) => reports.push(report),
    drainMs: options.drainMs,
  });
  /** Waits for a report, with a deadline. */
  const reported = (report: Report) =>
    waitUntil(
      () => reports.some((r) => JSON.stringify(r) === JSON.stringify(report)),
      { timeoutMs: 5000, description: `the report ${JSON.stringify(report)}` },
    );
  return {
    api,
    replyApi,
    calls,
    lines,
    reports,
    feed,
    controller,
    run,
    reported,
    job: (job: DeskJob) => feed.send({ kind: "job", job }),
    /** The texts sent, in order. */
    texts: () => replyApi.of("sendMessage").map((a) => a[1]),
    async [Symbol.asyncDispose]() {
      feed.close();
      await withDeadline(run, "the desk to end", 20_000);
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("runDesk() reports ready before it reads any job", async () => {
  await using desk = await startDesk();
  assert.deepEqual(desk.reports, [{ kind: "ready" }]);
});

Deno.test("runDesk() acknowledges a message, and reports acked once the reaction's call has ended", async () => {
  await using desk = await startDesk();
  const open = await holdAcknowledgement(desk);
  const [chatId, messageId, reaction] = desk.api.of("setMessageReaction")[0];
  assert.deepEqual([chatId, messageId, reaction], [CHAT, 101, [{ type: "emoji", emoji: "👀" }]]);
  assert.deepEqual(desk.api.of("sendChatAction").map((a) => a.slice(0, 2)), [[CHAT, "typing"]]);
  await settle();
  assert.deepEqual(desk.reports, [{ kind: "ready" }], "no report while the reaction's call runs");
  open();
  await desk.reported({ kind: "acked", updateId: 1 });
  assert.deepEqual(desk.reports, [{ kind: "ready" }, { kind: "acked", updateId: 1 }]);
  assert.equal(desk.replyApi.of("sendMessage").length, 0, "an ack sends no message");
});

Deno.test("runDesk() reports acked even when the reaction fails", async () => {
  await using desk = await startDesk();
  desk.api.fail.add("setMessageReaction");
  desk.job({ job: "ack", update: message(1) });
  await desk.reported({ kind: "acked", updateId: 1 });
  assert.ok(desk.lines.some((l) => l.level === "warn" && /reaction/.test(l.message)));
});

Deno.test("runDesk() answers a command with what the job says, as a reply, then reports done", async (t) => {
  await t.step("/status, with its view", async () => {
    await using desk = await startDesk();
    const status = {
      startedAt: new Date(Date.now() - 1000).toISOString(),
      live: 2,
      cap: 4,
      waiting: 0,
      waitingInAll: 0,
      delivering: 0,
    };
    desk.job({ job: "command", update: message(5, "/status"), status });
    await desk.reported({ kind: "done", updateId: 5 });
    const [[chatId, text, other]] = desk.replyApi.of("sendMessage") as [
      number,
      string,
      { reply_parameters?: unknown },
    ][];
    assert.equal(chatId, CHAT);
    assert.deepEqual(other.reply_parameters, {
      message_id: 105,
      allow_sending_without_reply: true,
    });
    assert.match(text, /2 of 4 brain slots busy/);
  });

  await t.step("/cancel, with its verdict", async () => {
    await using desk = await startDesk();
    desk.job({
      job: "command",
      update: message(6, "/cancel"),
      cancel: { kind: "withdrawn", messageId: 104 },
    });
    await desk.reported({ kind: "done", updateId: 6 });
    assert.deepEqual(desk.texts(), ["Withdrawn: message 104 won't go to the brain."]);
  });
});

Deno.test("runDesk() tells a withdrawn message so, with 👎 on it and on the messages steered into it, and reports done", async () => {
  await using desk = await startDesk();
  desk.job({ job: "withdraw", update: message(4), steered: [105, 106] });
  await desk.reported({ kind: "done", updateId: 4 });
  assert.deepEqual(desk.texts(), [WITHDRAWN_TEXT]);
  const reactions = desk.api.of("setMessageReaction").map((a) => a.slice(0, 3));
  const thumbsDown = [{ type: "emoji", emoji: "👎" }];
  assert.deepEqual(reactions, [104, 105, 106].map((id) => [CHAT, id, thumbsDown]));
});

Deno.test("runDesk() sets a withdrawn message's 👎s even when its reply fails", async () => {
  await using desk = await startDesk();
  desk.replyApi.fail.add("sendMessage");
  desk.job({ job: "withdraw", update: message(4), steered: [105] });
  await desk.reported({ kind: "done", updateId: 4 });
  const reactions = desk.api.of("setMessageReaction").map((a) => a[1]).sort();
  assert.deepEqual(reactions, [104, 105]);
});

Deno.test("runDesk() tells the person of a message lost in a disk failure, in reply to it", async () => {
  await using desk = await startDesk();
  desk.job({ job: "lost", updateId: 9, chatId: CHAT, messageId: 42 });
  await desk.reported({ kind: "done", updateId: 9 });
  const [[chatId, text, other]] = desk.replyApi.of("sendMessage") as [
    number,
    string,
    { reply_parameters?: { message_id: number } },
  ][];
  assert.deepEqual([chatId, text, other.reply_parameters?.message_id], [CHAT, LOST_TEXT, 42]);
});

Deno.test("runDesk() answers an edit only when it came too late", async (t) => {
  const edit = (updateId: number) => ({
    update_id: updateId,
    edited_message: { ...message(4).message, text: "the edit" },
  });
  for (const late of ["working", "answered"] as const) {
    await t.step(late, async () => {
      await using desk = await startDesk();
      desk.job({ job: "edit", update: edit(9), late });
      await desk.reported({ kind: "done", updateId: 9 });
      const [[chatId, text, other]] = desk.replyApi.of("sendMessage") as [
        number,
        string,
        { reply_parameters?: { message_id: number } },
      ][];
      assert.deepEqual([chatId, text, other.reply_parameters?.message_id], [
        CHAT,
        lateEditText(late),
        104,
      ]);
    });
  }
  await t.step("used: nothing is said", async () => {
    await using desk = await startDesk();
    desk.job({ job: "edit", update: edit(9) });
    await desk.reported({ kind: "done", updateId: 9 });
    assert.deepEqual(desk.calls, []);
  });
});

Deno.test("runDesk() answers a Stop press as the job says", async () => {
  await using desk = await startDesk();
  const press = {
    update_id: 11,
    callback_query: { id: "q11", data: "stop:1", message: { chat: { id: CHAT } } },
  };
  desk.job({ job: "press", update: press, answer: "stopping" });
  await desk.reported({ kind: "done", updateId: 11 });
  assert.deepEqual(desk.api.of("answerCallbackQuery").map((a) => a.slice(0, 2)), [
    ["q11", { text: "Stopping…" }],
  ]);
});

Deno.test("runDesk() logs a job that throws and still reports it, then goes on", async () => {
  await using desk = await startDesk();
  desk.replyApi.fail.add("sendMessage");
  desk.job({ job: "command", update: message(5, "/cancel"), cancel: { kind: "nothing" } });
  await desk.reported({ kind: "done", updateId: 5 });
  const failed = desk.lines.find((l) => l.level === "error" && /failed/.test(l.message));
  assert.ok(failed, JSON.stringify(desk.lines));
  assert.equal(failed.props.updateId, 5);
  assert.equal(failed.props.job, "command");
  desk.replyApi.fail.clear();
  desk.job({ job: "ack", update: message(6) });
  await desk.reported({ kind: "acked", updateId: 6 });
});

Deno.test("runDesk() logs a control that is not a job and goes on", async () => {
  await using desk = await startDesk();
  desk.feed.send({ kind: "cancel", by: "/cancel" });
  desk.job({ job: "ack", update: message(1) });
  await desk.reported({ kind: "acked", updateId: 1 });
  const errors = desk.lines.filter((l) => l.level === "error");
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /unexpected \{kind\} control/);
  assert.equal(errors[0].props.kind, "cancel");
});

Deno.test("runDesk() runs jobs concurrently: one slow reaction holds up no other job", async () => {
  await using desk = await startDesk();
  const open = await holdAcknowledgement(desk);
  desk.job({ job: "command", update: message(2, "/cancel"), cancel: { kind: "nothing" } });
  await desk.reported({ kind: "done", updateId: 2 });
  assert.ok(!desk.reports.some((r) => r.kind === "acked"), "the 👀 is still under way");
  open();
  await desk.reported({ kind: "acked", updateId: 1 });
});

Deno.test("runDesk() at EOF waits for the jobs under way", async () => {
  await using desk = await startDesk();
  const open = await holdAcknowledgement(desk);
  let ended = false;
  desk.run.then(() => ended = true);
  desk.feed.close();
  await settle();
  assert.equal(ended, false, "the desk waits for its job");
  open();
  await withDeadline(desk.run, "the desk to end");
  assert.deepEqual(desk.reports, [{ kind: "ready" }, { kind: "acked", updateId: 1 }]);
});

Deno.test("runDesk() at EOF waits no longer than drainMs", async () => {
  await using desk = await startDesk({ drainMs: 50 });
  const open = await holdAcknowledgement(desk);
  try {
    desk.feed.close();
    await withDeadline(desk.run, "the desk to end after drainMs", 2000);
    assert.deepEqual(desk.reports, [{ kind: "ready" }], "the stuck job was not reported");
  } finally {
    open();
  }
});

Deno.test("runDesk() stopped by its signal ends at once, without reporting the job under way", async () => {
  await using desk = await startDesk();
  const open = await holdAcknowledgement(desk);
  try {
    desk.controller.abort();
    await withDeadline(desk.run, "the desk to stop", 2000);
    open();
    await settle();
    assert.deepEqual(desk.reports, [{ kind: "ready" }], "its job stays with the poll process");
  } finally {
    open();
  }
});
