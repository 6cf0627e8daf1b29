/**
 * Unit tests for the front desk, `runDesk()` of `lib/handler/desk.ts`, fed job lines by hand, with
 * fake Bot API objects that record their calls and a real journal in a temp folder. The line
 * protocol itself: `unit_desk_protocol_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Api } from "grammy/web";
import type { Config } from "../lib/shared/config.ts";
import { runDesk } from "../lib/handler/desk.ts";
import type { DeskJob, DeskReport } from "../lib/shared/desk_protocol.ts";
import { Journal } from "../lib/shared/journal.ts";
import type { Logger } from "../lib/shared/log.ts";
import { WITHDRAWN_TEXT } from "../lib/handler/texts.ts";
import { tempDir, waitUntil, withDeadline } from "./_helpers.ts";

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

/** A logger that records its lines. */
class FakeLog {
  readonly lines: { level: string; message: string; props: Record<string, unknown> }[] = [];
  info(message: string, props: Record<string, unknown> = {}) {
    this.lines.push({ level: "info", message, props });
  }
  warn(message: string, props: Record<string, unknown> = {}) {
    this.lines.push({ level: "warn", message, props });
  }
  error(message: string, props: Record<string, unknown> = {}) {
    this.lines.push({ level: "error", message, props });
  }
  debug() {}
}

/** Job lines fed by hand; `end()` is the loop closing the desk's stdin. */
class LineFeed implements AsyncIterable<string> {
  #lines: string[] = [];
  #ended = false;
  #wake?: () => void;

  push(line: string): void {
    this.#lines.push(line);
    this.#wake?.();
  }

  job(job: DeskJob): void {
    this.push(JSON.stringify(job));
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    while (true) {
      const line = this.#lines.shift();
      if (line !== undefined) {
        yield line;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }
}

function message(updateId: number, text = `m${updateId}`, extra: Record<string, unknown> = {}) {
  return {
    update_id: updateId,
    message: {
      message_id: updateId + 100,
      chat: { id: CHAT, type: "private" },
      from: { id: CHAT, is_bot: false, first_name: "P" },
      date: 0,
      text,
      ...extra,
    },
  };
}

/** A desk running on a feed, with its fakes; ended (EOF, then its run awaited) on dispose. */
/**
 * Feeds the 👀 job of message 1 and holds its reaction's call until the returned function is
 * called; resolves once that call is under way.
 */
async function holdAcknowledgement(desk: Awaited<ReturnType<typeof startDesk>>) {
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  desk.api.gate = gate;
  desk.feed.job({ job: "ack", update: message(1) });
  await waitUntil(() => desk.api.of("setMessageReaction").length > 0 || undefined, {
    timeoutMs: 5000,
    description: "the reaction's call",
  });
  return open;
}

async function startDesk(options: { drainMs?: number } = {}) {
  const dir = await tempDir();
  const journal = new Journal(`${dir.path}/journal`, { durable: false });
  journal.open();
  const calls: ApiCall[] = [];
  const api = new FakeApi(calls);
  const replyApi = new FakeApi(calls);
  const log = new FakeLog();
  const reports: DeskReport[] = [];
  const feed = new LineFeed();
  const controller = new AbortController();
  const config = {
    stateDir: dir.path,
    brainMaxAttempts: 3,
    brainKind: "plain",
    maxReplyParts: 5,
    replyPatienceMs: 0,
  } as Config;
  const run = runDesk(feed, {
    api: api as unknown as Api,
    replyApi: replyApi as unknown as Api,
    config,
    journal,
    log: log as unknown as Logger,
    signal: controller.signal,
    report: (report) => reports.push(report),
    drainMs: options.drainMs,
  });
  const record = (update: ReturnType<typeof message>) =>
    journal.record(update, { updateId: update.update_id, chatId: CHAT });
  /** Waits for a report, with a deadline. */
  const reported = (report: DeskReport, description = JSON.stringify(report)) =>
    waitUntil(
      () => reports.some((r) => JSON.stringify(r) === JSON.stringify(report)) || undefined,
      { timeoutMs: 5000, description: `the report ${description}` },
    );
  return {
    dir,
    journal,
    api,
    replyApi,
    calls,
    log,
    reports,
    feed,
    controller,
    run,
    record,
    reported,
    async [Symbol.asyncDispose]() {
      feed.end();
      await withDeadline(run, "the desk to end", 20_000);
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("runDesk() reports ready before it reads any job", async () => {
  await using desk = await startDesk();
  assert.deepEqual(desk.reports, [{ ready: true }]);
});

Deno.test("runDesk() acknowledges a message, and reports acked once the reaction's call has ended", async () => {
  await using desk = await startDesk();
  const open = await holdAcknowledgement(desk);
  const [chatId, messageId, reaction] = desk.api.of("setMessageReaction")[0];
  assert.deepEqual([chatId, messageId, reaction], [CHAT, 101, [{ type: "emoji", emoji: "👀" }]]);
  assert.deepEqual(desk.api.of("sendChatAction").map((a) => a.slice(0, 2)), [[CHAT, "typing"]]);
  // Let every callback that could report run: the call is still under way.
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(desk.reports, [{ ready: true }], "no report while the reaction's call runs");
  open();
  await desk.reported({ acked: 1 });
  assert.deepEqual(desk.reports, [{ ready: true }, { acked: 1 }]);
  assert.equal(desk.replyApi.of("sendMessage").length, 0, "an ack sends no message");
});

Deno.test("runDesk() reports acked even when the reaction fails", async () => {
  await using desk = await startDesk();
  desk.api.fail.add("setMessageReaction");
  desk.feed.job({ job: "ack", update: message(1) });
  await desk.reported({ acked: 1 });
  assert.ok(desk.log.lines.some((l) => l.level === "warn" && /reaction/.test(l.message)));
});

Deno.test("runDesk() answers /status, reports done and removes its journal entry", async () => {
  await using desk = await startDesk();
  const status = message(5, "/status");
  desk.record(message(3));
  desk.record(message(4));
  desk.journal.update(3, { stage: "started", dispatches: 1 });
  desk.record(status);
  desk.feed.job({ job: "answer", update: status });
  await desk.reported({ done: 5 });
  const sent = desk.replyApi.of("sendMessage");
  assert.equal(sent.length, 1);
  const [chatId, text, other] = sent[0] as [number, string, { reply_parameters?: unknown }];
  assert.equal(chatId, CHAT);
  assert.deepEqual(other.reply_parameters, { message_id: 105, allow_sending_without_reply: true });
  assert.match(text, /Starting message 103 \(“m3”\): fetching its input\./);
  assert.match(text, /1 message waits behind it\./);
  assert.equal(desk.journal.read(5), undefined, "the command is finished");
  assert.equal(desk.journal.read(4)?.stage, "received", "the rest stays");
});

Deno.test("runDesk() answers a /cancel of a waiting message by asking the loop to withdraw it", async () => {
  await using desk = await startDesk();
  desk.record(message(3));
  desk.journal.update(3, { stage: "started", dispatches: 1 });
  desk.record(message(4));
  const cancel = message(6, "/cancel", { reply_to_message: message(4).message });
  desk.record(cancel);
  desk.feed.job({ job: "answer", update: cancel });
  await desk.reported({ done: 6 });
  assert.deepEqual(desk.reports, [{ ready: true }, { withdraw: 4 }, { done: 6 }]);
  assert.match(String(desk.replyApi.of("sendMessage")[0][1]), /Withdrawn: message 104/);
});

Deno.test("runDesk() tells a withdrawn message so and finishes it", async () => {
  await using desk = await startDesk();
  desk.record(message(4));
  desk.feed.job({ job: "withdraw", update: message(4) });
  await desk.reported({ done: 4 });
  const sent = desk.replyApi.of("sendMessage");
  assert.deepEqual(sent.map((a) => a[1]), [WITHDRAWN_TEXT]);
  const reactions = desk.api.of("setMessageReaction").map((a) => a[2]);
  assert.deepEqual(reactions, [[{ type: "emoji", emoji: "👎" }]]);
  assert.equal(desk.journal.read(4), undefined);
});

Deno.test("runDesk() does not answer again a command or an edit already answered by a desk that died", async (t) => {
  await t.step("a command", async () => {
    await using desk = await startDesk();
    desk.feed.job({ job: "answer", update: message(5, "/status") });
    await desk.reported({ done: 5 });
    assert.equal(desk.replyApi.of("sendMessage").length, 0);
  });
  await t.step(
    "an edit of a message answered long ago (it would get the late-edit note)",
    async () => {
      await using desk = await startDesk();
      const { message: original } = message(4, "the original");
      const edit = { update_id: 9, edited_message: { ...original, text: "the edit" } };
      desk.feed.job({ job: "answer", update: edit });
      await desk.reported({ done: 9 });
      assert.equal(desk.replyApi.of("sendMessage").length, 0);
    },
  );
});

Deno.test("runDesk() logs a job that throws, finishes its entry and still reports it", async () => {
  await using desk = await startDesk();
  desk.replyApi.fail.add("sendMessage");
  const status = message(5, "/status");
  desk.record(status);
  desk.feed.job({ job: "answer", update: status });
  await desk.reported({ done: 5 });
  const failed = desk.log.lines.find((l) => l.level === "error" && /failed/.test(l.message));
  assert.ok(failed, JSON.stringify(desk.log.lines));
  assert.equal(failed.props.updateId, 5);
  assert.equal(failed.props.job, "answer");
  assert.equal(desk.journal.read(5), undefined, "not left to come back for ever");
  // The desk goes on with the next job.
  desk.replyApi.fail.clear();
  desk.feed.job({ job: "ack", update: message(6) });
  await desk.reported({ acked: 6 });
});

Deno.test("runDesk() logs a line that is not a job and goes on", async () => {
  await using desk = await startDesk();
  desk.feed.push("");
  desk.feed.push("not a job");
  desk.feed.job({ job: "ack", update: message(1) });
  await desk.reported({ acked: 1 });
  const errors = desk.log.lines.filter((l) => l.level === "error");
  assert.equal(errors.length, 1, "the empty line is skipped quietly");
  assert.match(String(errors[0].props.error), /Cannot parse a desk job/);
});

Deno.test("runDesk() runs jobs concurrently: one slow reaction holds up no other job", async () => {
  await using desk = await startDesk();
  const open = await holdAcknowledgement(desk);
  const status = message(2, "/status");
  desk.record(status);
  desk.feed.job({ job: "answer", update: status });
  await desk.reported({ done: 2 });
  assert.ok(!desk.reports.some((r) => "acked" in r), "the 👀 is still under way");
  open();
  await desk.reported({ acked: 1 });
});

Deno.test("runDesk() at EOF waits for the jobs under way", async () => {
  await using desk = await startDesk();
  const open = await holdAcknowledgement(desk);
  let ended = false;
  desk.run.then(() => ended = true);
  desk.feed.end();
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(ended, false, "the desk waits for its job");
  open();
  await withDeadline(desk.run, "the desk to end");
  assert.deepEqual(desk.reports, [{ ready: true }, { acked: 1 }], "the job was reported first");
});

Deno.test("runDesk() at EOF waits no longer than drainMs", async () => {
  await using desk = await startDesk({ drainMs: 50 });
  const open = await holdAcknowledgement(desk);
  try {
    desk.feed.end();
    await withDeadline(desk.run, "the desk to end after drainMs", 2000);
    assert.deepEqual(desk.reports, [{ ready: true }], "the stuck job was not reported");
  } finally {
    open();
  }
});
