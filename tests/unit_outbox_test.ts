/**
 * Unit tests for `lib/handler/outbox.ts`: `finish()` and `deliver()`, against the Bot API simulator
 * with a real journal and state folder in a temp dir. What went out is read from the simulator; what
 * the journal held as each call went out, from {@linkcode observeCalls}. The end-to-end cases (a
 * whole bot killed and restarted mid-answer) are `e2e_outbox_test.ts`; here, the function's
 * decisions.
 *
 * @module
 */

import assert from "node:assert/strict";
import { entryRecord } from "../lib/handler/entry_record.ts";
import type { Reaction } from "../lib/handler/feedback.ts";
import { deliver, finish, SEND_GRACE_MS } from "../lib/handler/outbox.ts";
import { planReply } from "../lib/handler/reply.ts";
import { attachmentDir } from "../lib/shared/attachments.ts";
import type { Config } from "../lib/shared/config.ts";
import { Journal } from "../lib/shared/journal.ts";
import type { JournalEntry, Outgoing } from "../lib/shared/journal_entry.ts";
import type { Report } from "../lib/shared/line.ts";
import { createApi, enablePatience } from "../lib/shared/telegram.ts";
import {
  messageRig,
  observeCalls,
  recordingLog,
  tempDir,
  waitUntil,
  withDeadline,
} from "./_helpers.ts";

const CHAT = 1001;

/** `count` paragraphs of about 3,000 characters: one message each. */
function paragraphs(count: number): string {
  return Array.from({ length: count }, (_, i) => `paragraph${i} ` + "word ".repeat(600).trim())
    .join("\n\n");
}

/**
 * A simulator with the person's message in it, that message journaled, a client, a state folder,
 * and the handler's record of the entry (its reports kept in `reports`); `seen` holds the journal
 * entry as each call went out. Released on dispose.
 */
async function rig(options: { maxReplyParts?: number; journal?: Journal } = {}) {
  const m = await messageRig(CHAT, {
    patch: { stage: "brain", attempt: 1, brainRun: "run-1" },
  });
  const { sim, dir, ids, api } = m;
  const journal = options.journal ?? m.journal;
  const seen = observeCalls(api, () => m.journal.read(ids.updateId));
  const { log, lines } = recordingLog();
  const reports: Report[] = [];
  // Copied as sent: a report goes out as a line at once, whatever changes in the object later.
  const report = (r: Report) => reports.push(structuredClone(r));
  const record = entryRecord(m.entry, { journal, log, report });
  const config = { stateDir: dir.path, maxReplyParts: options.maxReplyParts ?? 5 } as Config;
  const base = { api, config, record, log, ids };
  return {
    reports,
    record,
    sim,
    dir,
    journal,
    ids,
    api,
    seen,
    lines,
    base,
    /** The bot's messages in the chat (the person's first message is not one). */
    sent: () => sim.botMessages(CHAT),
    /** What `undelivered/` holds for the message, if anything. */
    undelivered: () => {
      try {
        return Deno.readTextFileSync(`${dir.path}/undelivered/${ids.updateId}.md`);
      } catch {
        return undefined;
      }
    },
    /** The journal as each call of `method` went out. */
    entriesAt: (method: string) =>
      seen.filter((s) => s.method === method).map((s) => s.seen as JournalEntry | undefined),
    /** Journals `outgoing` as `finish()` would have, for a `deliver()` that resumes. */
    journaled: (outgoing: Outgoing) => {
      record.update({ stage: "answered", answer: outgoing });
      reports.length = 0;
      return outgoing;
    },
    [Symbol.asyncDispose]: () => m[Symbol.asyncDispose](),
  };
}

Deno.test("finish() journals the answer as answered before anything is sent, then replies, reacts and finishes the entry", async () => {
  await using r = await rig();
  await finish({ ...r.base, notes: ["(note one)", "(note two)"], text: "the answer", emoji: "👌" });
  const [atSend] = r.entriesAt("sendMessage");
  assert.equal(atSend?.stage, "answered", "the answer was durable before the first message");
  assert.deepEqual(atSend?.answer, {
    head: "(note one)\n(note two)",
    body: "the answer",
    emoji: "👌",
    sent: 0,
  });
  // Kept until the brain's processes are gone (brain_step.ts clears it then): a handler killed
  // meanwhile leaves the poll process the marker to sweep.
  assert.equal(atSend?.brainRun, "run-1", "the brain's marker stays until its processes are gone");
  assert.deepEqual(r.sent().map((m) => [m.text, m.reply_to]), [
    ["(note one)\n(note two)\nthe answer", r.ids.messageId],
  ]);
  assert.equal(r.sim.reaction(CHAT, r.ids.messageId), "👌");
  assert.equal(r.journal.read(r.ids.updateId), undefined, "the entry is finished");
  assert.deepEqual(r.reports[0], {
    kind: "patch",
    updateId: r.ids.updateId,
    patch: { stage: "answered", answer: atSend?.answer },
  }, "the answer is reported first");
  assert.deepEqual(r.reports.at(-1), { kind: "finished", updateId: r.ids.updateId });
});

Deno.test("finish() and deliver() end the messages steered into the message with its reaction", async (t) => {
  for (const [how, emoji] of [["finish", "👎"], ["deliver", "👌"]] as const) {
    await t.step(`${how}(), ${emoji}`, async () => {
      await using r = await rig();
      const steers = ["and staging", "and the other one"].map((text, i) => ({
        updateId: 50 + i,
        messageId: r.sim.sendText(CHAT, text).message!.message_id,
        text,
      }));
      r.record.update({ steers });
      if (how === "finish") await finish({ ...r.base, text: "it failed", emoji });
      else {await deliver({
          ...r.base,
          outgoing: r.journaled({ head: "", body: "ok", emoji, sent: 0 }),
        });}
      assert.equal(r.sim.reaction(CHAT, r.ids.messageId), emoji);
      for (const steer of steers) assert.equal(r.sim.reaction(CHAT, steer.messageId), emoji);
    });
  }
});

Deno.test("deliver() sends the parts one by one, recording each as it lands, and reacts once all are out", async () => {
  await using r = await rig();
  const body = paragraphs(3);
  const plan = planReply("", body, { maxParts: 5, messageId: r.ids.messageId });
  assert.equal(plan.messages.length, 3, "the test's answer takes three messages");
  await deliver({
    ...r.base,
    outgoing: r.journaled({ head: "", body, emoji: "👎", sent: 0 }),
  });
  assert.deepEqual(r.entriesAt("sendMessage").map((e) => e?.answer?.sent), [0, 1, 2]);
  const [atReaction] = r.entriesAt("setMessageReaction");
  assert.equal(atReaction?.answer?.sent, 3, "every part recorded before the reaction");
  assert.equal(atReaction?.stage, "replied", "replied is recorded before the reaction");
  assert.deepEqual(r.sent().map((m) => m.text), plan.messages);
  assert.deepEqual(r.sent().map((m) => m.reply_to), [r.ids.messageId, undefined, undefined]);
  assert.equal(r.sim.reaction(CHAT, r.ids.messageId), "👎", "the journaled emoji, at the end");
  assert.equal(r.journal.read(r.ids.updateId), undefined);
});

Deno.test("deliver() of an answer journaled with sent: 1 resumes at the second part and never sends the first again", async () => {
  await using r = await rig();
  const body = paragraphs(3);
  const plan = planReply("(re-run)", body, { maxParts: 5, messageId: r.ids.messageId });
  await deliver({
    ...r.base,
    outgoing: r.journaled({ head: "(re-run)", body, emoji: "👌", sent: 1 }),
  });
  assert.equal(r.sent().length, 2, "the second and third parts only");
  assert.deepEqual(r.sent().map((m) => m.text), plan.messages.slice(1));
  assert.equal(r.sent()[0].reply_to, undefined, "a later part is not the reply link");
  assert.equal(r.sim.reaction(CHAT, r.ids.messageId), "👌");
  assert.equal(r.journal.read(r.ids.updateId), undefined);
});

Deno.test("deliver() sends an answer past maxReplyParts as one head message and the whole answer as a .md document", async (t) => {
  const body = paragraphs(4);
  const name = (messageId: number) => `answer-${messageId}.md`;

  await t.step("from the start", async () => {
    await using r = await rig({ maxReplyParts: 2 });
    await finish({ ...r.base, notes: ["(note)"], text: body, emoji: "👌" });
    const [head, doc, ...rest] = r.sent();
    assert.equal(rest.length, 0, "two messages: the head and the document");
    assert.ok(head.text.startsWith("(note)\nparagraph0 word"), head.text.slice(0, 40));
    assert.ok(
      head.text.endsWith(
        `(The whole answer, ${body.length} characters, is in ${name(r.ids.messageId)}.)`,
      ),
      head.text.slice(-80),
    );
    assert.equal(head.reply_to, r.ids.messageId);
    assert.equal(doc.document?.file_name, name(r.ids.messageId));
    assert.equal(new TextDecoder().decode(doc.document?.bytes), body, "exactly the answer");
    assert.equal(doc.reply_to, r.ids.messageId);
    const [atReaction] = r.entriesAt("setMessageReaction");
    assert.equal(atReaction?.answer?.documentSent, true, "the document recorded as sent");
    assert.equal(r.sim.reaction(CHAT, r.ids.messageId), "👌");
  });

  await t.step("resumed after the head: only the document goes", async () => {
    await using r = await rig({ maxReplyParts: 2 });
    await deliver({ ...r.base, outgoing: r.journaled({ head: "", body, emoji: "👌", sent: 1 }) });
    assert.deepEqual(r.sent().map((m) => m.document?.file_name), [name(r.ids.messageId)]);
  });

  await t.step(
    "resumed after the document: nothing is sent again, the reaction is set",
    async () => {
      await using r = await rig({ maxReplyParts: 2 });
      const outgoing = { head: "", body, emoji: "👌", sent: 1, documentSent: true };
      await deliver({ ...r.base, outgoing: r.journaled(outgoing) });
      assert.deepEqual(r.sent().map((m) => m.document?.file_name ?? m.text.slice(0, 20)), []);
      assert.equal(r.sim.reaction(CHAT, r.ids.messageId), "👌");
      assert.equal(r.journal.read(r.ids.updateId), undefined);
    },
  );
});

Deno.test("deliver() keeps what Telegram refuses for good in undelivered/<update_id>.md and finishes the message without a reaction", async (t) => {
  const refusals = [
    ["403 blocked", { kind: "forbidden" }],
    ["403 kicked", {
      kind: "forbidden",
      description: "Forbidden: bot was kicked from the group chat",
    }],
    ["400 chat not found", { kind: "badRequest", description: "Bad Request: chat not found" }],
  ] as const;
  for (const [what, fault] of refusals) {
    await t.step(`${what}, on the first part`, async () => {
      await using r = await rig();
      r.sim.injectFault({ method: "sendMessage", times: Infinity, fault });
      await finish({ ...r.base, notes: ["(note)"], text: "the answer", emoji: "👌" });
      assert.equal(r.undelivered(), "(note)\nthe answer\n");
      assert.equal(r.entriesAt("sendMessage").length, 1, "one attempt, no retries");
      assert.equal(
        r.entriesAt("setMessageReaction").length,
        0,
        "no 👌 for an answer not delivered",
      );
      assert.equal(r.journal.read(r.ids.updateId), undefined, "the message is finished");
      const error = r.lines.find((l) =>
        l.level === "error" && /can't be delivered/.test(l.message)
      );
      assert.ok(error, "the loss is logged as an error");
      assert.match(String(error.props.path), /undelivered\/\d+\.md$/);
    });
  }

  await t.step("403 on the second part: the file holds the whole answer", async () => {
    await using r = await rig();
    const body = paragraphs(2);
    const outgoing = r.journaled({ head: "(note)", body, emoji: "👌", sent: 1 });
    r.sim.injectFault({ method: "sendMessage", fault: { kind: "forbidden" } });
    await deliver({ ...r.base, outgoing });
    assert.equal(r.undelivered(), `(note)\n${body}\n`);
    assert.equal(r.journal.read(r.ids.updateId), undefined);
  });

  await t.step("a transient failure that outlasts the reply's patience", async () => {
    await using r = await rig();
    const replyApi = createApi(r.sim.token, { apiRoot: r.sim.apiRoot });
    enablePatience(replyApi, { patienceMs: 0 });
    r.sim.injectFault({ method: "sendMessage", fault: { kind: "internal" } });
    await finish({ ...r.base, replyApi, text: "the answer", emoji: "👌" });
    assert.equal(r.undelivered(), "the answer\n");
    assert.equal(r.journal.read(r.ids.updateId), undefined);
  });
});

Deno.test("deliver() throws a transient failure it was not told to wait out, leaving the answer journaled at the part it reached", async () => {
  await using r = await rig();
  const body = paragraphs(3);
  const plan = planReply("", body, { maxParts: 5, messageId: r.ids.messageId });
  // The second part's call meets a 500: injected as that call goes out.
  let sends = 0;
  r.api.config.use((prev, method, payload, signal) => {
    if (method === "sendMessage" && ++sends === 2) {
      r.sim.injectFault({ method: "sendMessage", fault: { kind: "internal" } });
    }
    return prev(method, payload, signal);
  });
  const outgoing = r.journaled({ head: "", body, emoji: "👌", sent: 0 });
  await assert.rejects(deliver({ ...r.base, outgoing }), /500|Internal Server Error/);
  const entry = r.journal.read(r.ids.updateId);
  assert.equal(entry?.stage, "answered");
  assert.equal(entry?.answer?.sent, 1, "the first part is recorded as sent");
  assert.equal(r.undelivered(), undefined, "nothing is given up");
  assert.equal(r.sim.reaction(CHAT, r.ids.messageId), undefined, "no reaction yet");

  // As the next run does: deliver the journaled answer from where it stands.
  await deliver({ ...r.base, outgoing: entry!.answer! });
  assert.deepEqual(r.sent().map((m) => m.text), plan.messages, "each part exactly once");
  assert.equal(r.journal.read(r.ids.updateId), undefined);
});

Deno.test("deliver() stopped while a part hangs: it gives up SEND_GRACE_MS later, the answer left in the outbox", async () => {
  await using r = await rig();
  r.sim.injectFault({ method: "sendMessage", fault: { kind: "hang" } });
  const controller = new AbortController();
  const outgoing = r.journaled({ head: "", body: "the answer", emoji: "👌", sent: 0 });
  const delivering = deliver({ ...r.base, outgoing, signal: controller.signal });
  await r.sim.waitForCall((c) => c.method === "sendMessage", {
    includePending: true,
    timeoutMs: 5000,
    description: "the reply under way",
  });
  const stoppedAt = performance.now();
  controller.abort(new Error("the handler must stop"));
  await assert.rejects(withDeadline(delivering, "deliver() to give up", SEND_GRACE_MS + 5000));
  const waited = performance.now() - stoppedAt;
  assert.ok(waited >= SEND_GRACE_MS - 50, `the request had its grace: ${waited} ms`);
  await r.sim.waitForCall((c) => c.method === "sendMessage" && c.dropped === true, {
    timeoutMs: 5000,
    description: "the client to leave its reply call",
  });
  assert.equal(r.journal.read(r.ids.updateId)?.stage, "answered");
  assert.equal(r.journal.read(r.ids.updateId)?.answer?.sent, 0);
  assert.equal(r.undelivered(), undefined);
});

Deno.test("deliver() held up past its bound records heldUpSince for /status, and still delivers", async () => {
  await using r = await rig();
  const at = Date.parse("2030-01-02T03:04:05.000Z");
  r.sim.injectFault({ method: "sendMessage", fault: { kind: "delay", ms: 600 } });
  const outgoing = r.journaled({ head: "", body: "the answer", emoji: "👌", sent: 0 });
  const delivering = deliver({ ...r.base, outgoing, heldUpMs: 50, now: () => at });
  // Handled here too, so that a failed check below is what the test reports, not this promise.
  delivering.catch(() => {});
  const since = await waitUntil(() => r.journal.read(r.ids.updateId)?.answer?.heldUpSince, {
    timeoutMs: 500,
    description: "heldUpSince in the journal, before the delayed reply lands",
  });
  assert.equal(since, "2030-01-02T03:04:05.000Z", "the time from the clock it was given");
  await withDeadline(delivering, "the delayed delivery");
  assert.deepEqual(r.sent().map((m) => m.text), ["the answer"]);
  assert.equal(r.journal.read(r.ids.updateId), undefined);
});

Deno.test("deliver() that lands at once records no heldUpSince", async () => {
  await using r = await rig();
  const outgoing = r.journaled({ head: "", body: "the answer", emoji: "👌", sent: 0 });
  await deliver({ ...r.base, outgoing });
  const [atReaction] = r.entriesAt("setMessageReaction");
  assert.equal(atReaction?.answer?.heldUpSince, undefined);
});

Deno.test("finish() tidies the message's attachments, and reacts through its chain", async (t) => {
  for (const ending of ["delivered", "undelivered"] as const) {
    await t.step(ending, async () => {
      await using r = await rig();
      const files = attachmentDir(r.dir.path, r.ids.updateId);
      Deno.mkdirSync(files, { recursive: true });
      Deno.writeTextFileSync(`${files}/photo.jpg`, "x");
      if (ending === "undelivered") {
        r.sim.injectFault({ method: "sendMessage", fault: { kind: "forbidden" } });
      }
      const reacted: Reaction[] = [];
      const react = (emoji: Reaction) => {
        reacted.push(emoji);
        return Promise.resolve();
      };
      await finish({ ...r.base, text: "the answer", emoji: "👌", react });
      assert.throws(() => Deno.statSync(files), Deno.errors.NotFound, "attachments removed");
      assert.deepEqual(reacted, ending === "delivered" ? ["👌"] : []);
      assert.equal(r.entriesAt("setMessageReaction").length, 0, "the chain given is the one used");
    });
  }
});

Deno.test("finish() with a record without a journal still delivers, reacts and reports", async () => {
  await using r = await rig();
  const reports: Report[] = [];
  const record = entryRecord(r.journal.read(r.ids.updateId)!, {
    log: recordingLog().log,
    report: (report) => reports.push(report),
  });
  await finish({ ...r.base, record, text: "the answer", emoji: "👌" });
  assert.deepEqual(r.sent().map((m) => m.text), ["the answer"]);
  assert.equal(r.sim.reaction(CHAT, r.ids.messageId), "👌");
  // The journal it was not given is left alone.
  assert.equal(r.journal.read(r.ids.updateId)?.stage, "brain");
  assert.deepEqual(reports.at(-1), { kind: "finished", updateId: r.ids.updateId });
});

/** A journal whose writes fail, as a full or read-only disk's do. */
class FailingJournal extends Journal {
  override update(): JournalEntry | undefined {
    throw new Deno.errors.PermissionDenied("Read-only file system (os error 30)");
  }
  override put(): void {
    throw new Deno.errors.PermissionDenied("Read-only file system (os error 30)");
  }
  override finish(): void {
    throw new Deno.errors.PermissionDenied("Read-only file system (os error 30)");
  }
}

Deno.test("deliver() on a disk that can't be written: every part still reported as it lands, and the end", async () => {
  await using dir = await tempDir();
  await using r = await rig({ journal: new FailingJournal(dir.path) });
  const body = paragraphs(2);
  await deliver({ ...r.base, outgoing: r.journaled({ head: "", body, emoji: "👌", sent: 0 }) });
  assert.equal(r.sent().length, 2, "the answer goes all the same");
  const sent = r.reports.flatMap((report) =>
    report.kind === "patch" && report.patch.answer !== undefined ? [report.patch.answer.sent] : []
  );
  assert.deepEqual(sent, [1, 2], "the poll process knows each part went");
  assert.deepEqual(r.reports.at(-1), { kind: "finished", updateId: r.ids.updateId });
  const warnings = r.lines.filter((l) => l.level === "warn" && /journal: cannot/.test(l.message));
  assert.ok(warnings.length >= 3, "each failed write is logged, never thrown");
});

Deno.test("deliver() stopped while a part is out: that part lands and is recorded, no part starts after", async () => {
  await using r = await rig();
  const body = paragraphs(3);
  // The first part's answer comes late: the stop comes while it is out.
  r.sim.injectFault({ method: "sendMessage", fault: { kind: "delay", ms: 300 } });
  const controller = new AbortController();
  const outgoing = r.journaled({ head: "", body, emoji: "👌", sent: 0 });
  const delivering = deliver({ ...r.base, outgoing, signal: controller.signal });
  delivering.catch(() => {});
  await r.sim.waitForCall((c) => c.method === "sendMessage", {
    includePending: true,
    timeoutMs: 5000,
    description: "the first part under way",
  });
  controller.abort(new Error("SIGTERM"));
  await assert.rejects(withDeadline(delivering, "deliver() to end", SEND_GRACE_MS + 2000));
  assert.equal(r.sent().length, 1, "the part that was out landed");
  assert.equal(r.journal.read(r.ids.updateId)?.answer?.sent, 1, "and is recorded as sent");
  assert.equal(
    r.sim.calls.filter((c) => c.method === "sendMessage").length,
    1,
    "no part started after the stop",
  );
  assert.equal(r.sim.reaction(CHAT, r.ids.messageId), undefined);
});
