/**
 * Unit tests for `lib/handler/input.ts`: what the brain is given for each kind of message, and the
 * final reply when there is nothing to give it (an unsupported kind, voice without a transcriber, a
 * file that can't be fetched); then `applyEdit()`. Against the Bot API simulator, with a real journal
 * and state folder in a temp dir. The fetching and transcribing themselves are `unit_files_test.ts`'s
 * and `unit_transcribe_test.ts`'s.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Update } from "grammy/types";
import { attachmentText } from "../lib/handler/files.ts";
import { applyEdit, getInput, inputStage } from "../lib/handler/input.ts";
import { fetchFailedText, NO_VOICE_TEXT } from "../lib/handler/texts.ts";
import { startWork } from "../lib/handler/work.ts";
import { attachmentDir } from "../lib/shared/attachments.ts";
import type { Config } from "../lib/shared/config.ts";
import { messageInput } from "../lib/shared/update.ts";
import type { BotApiSimulator } from "./sim/simulator.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import type { Edit } from "../lib/shared/line.ts";
import { messageRig, recordingLog, STUB_TRANSCRIBER, testLine, waitUntil } from "./_helpers.ts";

const CHAT = 1001;
const BYTES = new TextEncoder().encode("hello, file");
/** The work's clock. */
const NOW = Date.parse("2030-01-02T03:04:05.000Z");

/**
 * A message of the kind `send` makes, at its input step, its handler listening to its line;
 * `config` on top of the rig's, `patch` on its entry.
 */
async function rig(
  send: (sim: BotApiSimulator) => Update,
  config: Partial<Config> = {},
  patch: Partial<JournalEntry> = {},
) {
  const m = await messageRig(CHAT, { send, patch: { stage: "started", ...patch } });
  const { log, lines } = recordingLog();
  const t = testLine();
  const listening = t.line.listen(m.ids.updateId);
  const work = startWork({
    api: m.api,
    config: {
      stateDir: m.dir.path,
      token: m.sim.token,
      apiRoot: m.sim.apiRoot,
      maxReplyParts: 5,
      downloadTimeoutMs: 10_000,
      downloadStallMs: 5000,
      transcribeTimeoutMs: 10_000,
      ...config,
    } as Config,
    entry: m.entry,
    line: t.line,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    log,
    signal: new AbortController().signal,
    journal: m.journal,
    now: () => NOW,
  });
  const input = messageInput(m.update.message);
  return {
    ...m,
    lines,
    work,
    input,
    t,
    /** Sends edits over the line, and waits until the handler has read them. */
    async edited(...edits: Edit[]) {
      for (const edit of edits) t.send({ kind: "edit", edit });
      // Controls are read in order: once the cancel after them is heard, so are the edits.
      t.send({ kind: "cancel", by: "/cancel" });
      await waitUntil(() => t.line.cancel.aborted, { timeoutMs: 5000, description: "the edits" });
    },
    async [Symbol.asyncDispose]() {
      t.close();
      await listening;
      await m[Symbol.asyncDispose]();
    },
    get: () => getInput(work, input, { signal: new AbortController().signal }),
    /** The texts the bot sent in the chat. */
    replies: () => m.sim.botMessages(CHAT).map((b) => b.text),
  };
}

Deno.test("getInput() gives a text as it is, without a call", async () => {
  await using r = await rig((sim) => sim.sendText(CHAT, "what is 2 + 2?"));
  assert.deepEqual(await r.get(), { text: "what is 2 + 2?", attachments: [] });
  assert.deepEqual(r.sim.calls, []);
  assert.equal(r.journal.read(r.ids.updateId)?.stage, "started", "not finished");
});

Deno.test("getInput() answers a kind it can't pass on with what it can, and 🤷", async () => {
  await using r = await rig((sim) => sim.sendSticker(CHAT));
  assert.equal(await r.get(), "answered");
  assert.deepEqual(r.replies(), [
    "I can pass on photos, documents, text, captions and voice notes; a sticker is not something I can send to the brain.",
  ]);
  assert.equal(r.sim.reaction(CHAT, r.ids.messageId), "🤷");
  assert.equal(r.journal.read(r.ids.updateId), undefined, "the message is finished");
});

Deno.test("getInput() of a voice note without a transcriber answers NO_VOICE_TEXT and 👎, fetching nothing", async () => {
  await using r = await rig((sim) => sim.sendVoice(CHAT, BYTES), { transcribeCommand: undefined });
  assert.equal(await r.get(), "answered");
  assert.deepEqual(r.replies(), [NO_VOICE_TEXT]);
  assert.equal(r.sim.reaction(CHAT, r.ids.messageId), "👎", "the reaction says it failed");
  assert.equal(r.sim.calls.filter((c) => c.method === "getFile").length, 0);
});

Deno.test("getInput() of a voice note: the transcript is shown back, and is what the brain gets", async () => {
  await using r = await rig(
    (sim) => sim.sendVoice(CHAT, new TextEncoder().encode("hello there")),
    { transcribeCommand: [STUB_TRANSCRIBER] },
  );
  assert.deepEqual(await r.get(), { text: "heard: hello there", attachments: [] });
  assert.deepEqual(r.replies(), ["🎙 “heard: hello there”"]);
  assert.equal(r.journal.read(r.ids.updateId)?.stage, "started", "not finished: the brain is next");
});

Deno.test("getInput() of a voice note: a transcript that can't be shown does not hold up the brain", async () => {
  await using r = await rig(
    (sim) => sim.sendVoice(CHAT, new TextEncoder().encode("hello there")),
    { transcribeCommand: [STUB_TRANSCRIBER] },
  );
  r.sim.injectFault({ method: "sendMessage", times: Infinity, fault: { kind: "badGateway" } });
  assert.deepEqual(await r.get(), { text: "heard: hello there", attachments: [] });
  assert.equal(r.sim.calls.filter((c) => c.method === "sendMessage").length, 1, "tried once");
});

Deno.test("getInput() saves a document in the message's folder and gives the brain its caption and path", async () => {
  await using r = await rig((sim) =>
    sim.sendDocument(CHAT, BYTES, { fileName: "notes.txt", caption: "summarize" })
  );
  const path = `${attachmentDir(r.dir.path, r.ids.updateId)}/notes.txt`;
  assert.deepEqual(await r.get(), {
    text: attachmentText([{ path }], { caption: "summarize" }),
    attachments: [path],
  });
  assert.deepEqual(Deno.readFileSync(path), BYTES);
  assert.deepEqual(r.replies(), []);
});

Deno.test("getInput() answers a file it can't fetch with fetchFailedText and 👎", async (t) => {
  await t.step("a document over the 20 MB limit", async () => {
    await using r = await rig((sim) => sim.sendDocument(CHAT, BYTES, { size: 21 * 1024 * 1024 }));
    assert.equal(await r.get(), "answered");
    assert.deepEqual(r.replies(), [fetchFailedText("the file", { reason: "", tooBig: true })]);
    assert.equal(r.sim.reaction(CHAT, r.ids.messageId), "👎");
    assert.equal(r.journal.read(r.ids.updateId), undefined);
  });

  await t.step("a photo Telegram won't give", async () => {
    await using r = await rig((sim) => {
      sim.injectFault({
        method: "getFile",
        fault: { kind: "badRequest", description: "Bad Request: invalid file_id" },
      });
      return sim.sendPhoto(CHAT);
    });
    assert.equal(await r.get(), "answered");
    const [reply] = r.replies();
    const reason = /^⚠️ I could not fetch the photo: (.+)\. Please send it again\.$/.exec(reply)
      ?.[1];
    assert.ok(reason !== undefined, reply);
    assert.equal(reply, fetchFailedText("the photo", { reason }));
    assert.match(reason, /invalid file_id/);
    assert.ok(r.lines.some((l) => l.level === "warn" && /not saved/.test(l.message)), "logged");
  });
});

Deno.test("applyEdit() gives the brain the latest edit, from the line or kept in its entry while it waited", async (t) => {
  const edit = (r: { ids: { updateId: number } }, n: number, text: string): Edit => ({
    editUpdateId: r.ids.updateId + n,
    text,
  });
  const text = { text: "first", attachments: [] };

  await t.step(
    "a text edited over the line: the edited text, taken once, reported taken",
    async () => {
      await using r = await rig((sim) => sim.sendText(CHAT, "first"));
      await r.edited(edit(r, 1, "second"));
      assert.equal(applyEdit(r.work, { input: r.input, got: text }), "second");
      assert.deepEqual(r.t.reports, [
        { kind: "edit", updateId: r.ids.updateId, editUpdateId: r.ids.updateId + 1, taken: true },
        {
          kind: "patch",
          updateId: r.ids.updateId,
          patch: { edit: edit(r, 1, "second") },
        },
      ], "reported taken, and kept in the entry for a re-run");
      assert.equal(applyEdit(r.work, { input: r.input, got: text }), "first", "taken once");
    },
  );

  await t.step("an edit kept in the entry while it waited", async () => {
    await using r = await rig((sim) => sim.sendText(CHAT, "first"), {}, {
      edit: { editUpdateId: 9000, text: "kept" },
    });
    assert.equal(applyEdit(r.work, { input: r.input, got: text }), "kept");
  });

  await t.step("one over the line wins over the one kept (it came later)", async () => {
    await using r = await rig((sim) => sim.sendText(CHAT, "first"), {}, {
      edit: { editUpdateId: 1, text: "kept" },
    });
    await r.edited(edit(r, 1, "over the line"));
    assert.equal(applyEdit(r.work, { input: r.input, got: text }), "over the line");
  });

  await t.step("an edit that comes after: too late, reported so", async () => {
    await using r = await rig((sim) => sim.sendText(CHAT, "first"));
    assert.equal(applyEdit(r.work, { input: r.input, got: text }), "first");
    r.t.send({ kind: "edit", edit: edit(r, 2, "late") });
    await waitUntil(() => r.t.reports.length > 0, { timeoutMs: 5000, description: "a report" });
    assert.deepEqual(r.t.reports, [
      { kind: "edit", updateId: r.ids.updateId, editUpdateId: r.ids.updateId + 2, taken: false },
    ]);
  });

  await t.step("a text edited to blanks: the text it had", async () => {
    await using r = await rig((sim) => sim.sendText(CHAT, "first"));
    await r.edited(edit(r, 1, "  \n"));
    assert.equal(applyEdit(r.work, { input: r.input, got: text }), "first");
  });

  await t.step("a file: the edited caption, with its files", async () => {
    await using r = await rig((sim) => sim.sendDocument(CHAT, BYTES, { caption: "old" }));
    await r.edited(edit(r, 1, "new caption"));
    const got = { text: attachmentText([{ path: "/a" }], { caption: "old" }), attachments: ["/a"] };
    assert.equal(
      applyEdit(r.work, { input: r.input, got }),
      attachmentText([{ path: "/a" }], { caption: "new caption" }),
    );
  });

  await t.step("a voice note: its transcript, the edit ignored", async () => {
    await using r = await rig((sim) => sim.sendVoice(CHAT, BYTES));
    await r.edited(edit(r, 1, "a caption added later"));
    assert.equal(
      applyEdit(r.work, { input: r.input, got: { text: "heard", attachments: [] } }),
      "heard",
    );
  });
});

Deno.test("inputStage() says what a cancelled message was doing", () => {
  assert.equal(
    inputStage({ kind: "audio", fileId: "f" }),
    "its voice note was fetched and transcribed",
  );
  assert.equal(inputStage({ kind: "file", fileId: "f", name: "a" }), "its file was fetched");
  assert.equal(inputStage({ kind: "text", text: "t" }), "it started");
});
