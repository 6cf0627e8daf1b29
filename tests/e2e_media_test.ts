/**
 * End to end: photos and documents reach the brain as files, and what goes wrong on the way gets a
 * clear reply.
 */

import assert from "node:assert/strict";
import {
  type BotApiSimulator,
  type BotProcess,
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
const MIB = 1024 * 1024;

/** The update ids that still have an attachment folder. */
function attachmentFolders(bot: BotProcess): string[] {
  try {
    return [...Deno.readDirSync(`${bot.dirs.state}/attachments`)].map((e) => e.name);
  } catch {
    return [];
  }
}

/** Waits until no attachment folder is left. */
function foldersGone(bot: BotProcess): Promise<true> {
  return waitUntil(() => attachmentFolders(bot).length === 0 || undefined, {
    description: "the attachment folders to be removed",
  });
}

/** Sends a message and waits for its one reply. */
async function replyTo(sim: BotApiSimulator, update: { message?: { message_id: number } }) {
  const id = messageIdOf(update);
  return { id, reply: textOf(await sim.waitForCall(repliedTo(CHAT, id))) };
}

Deno.test("a photo with a caption reaches the brain by path, and its folder is removed after", async () => {
  await withBot({}, async (sim, bot) => {
    const update = sim.sendPhoto(CHAT, { caption: "attachments what is this?" });
    const { id, reply } = await replyTo(sim, update);
    const path = `${bot.dirs.state}/attachments/${update.update_id}/photo.jpg`;
    assert.equal(
      reply,
      `${path} 48000\ntext: attachments what is this?\n[attached: ${path}]`,
      "the largest size, saved where COORD_ATTACHMENTS and the text say",
    );
    await sim.waitForCall(reacted(CHAT, id, "👌"));
    assert.deepEqual(attachmentFolders(bot), [], "removed with the final reply");
  });
});

Deno.test("a photo without a caption goes to the brain as just the attachment line", async () => {
  await withBot({}, async (sim, bot) => {
    const update = sim.sendPhoto(CHAT);
    const { reply } = await replyTo(sim, update);
    const path = `${bot.dirs.state}/attachments/${update.update_id}/photo.jpg`;
    assert.equal(reply, `echo: [attached: ${path}]`);
    await foldersGone(bot);
  });
});

Deno.test("a document is saved under its own name, its bytes intact", async () => {
  await withBot({}, async (sim, bot) => {
    const bytes = new TextEncoder().encode("line one\nline two\n");
    const update = sim.sendDocument(CHAT, bytes, {
      fileName: "notes.txt",
      caption: "attachments summarise",
    });
    const { reply } = await replyTo(sim, update);
    const path = `${bot.dirs.state}/attachments/${update.update_id}/notes.txt`;
    assert.equal(
      reply,
      `${path} ${bytes.length}\ntext: attachments summarise\n[attached: ${path}]`,
    );
    await foldersGone(bot);

    const bare = sim.sendDocument(CHAT, bytes, { fileName: "../../escape.sh" });
    const { reply: second } = await replyTo(sim, bare);
    const sent = "the attached file's name as sent, not a path";
    assert.equal(
      second,
      `echo: [attached: ${bot.dirs.state}/attachments/${bare.update_id}/escape.sh]\n` +
        `[begin quote: ${sent}]\n../../escape.sh\n[end quote: ${sent}]`,
      "a name is never a path; the name as sent is the brain's to read, as data",
    );
    await foldersGone(bot);
  });
});

Deno.test("a file over the 20 MB limit gets a clear ⚠️ and no brain call", async (t) => {
  await withBot({}, async (sim, bot) => {
    await t.step("the message says how big it is: getFile is not even asked", async () => {
      const update = sim.sendDocument(CHAT, new Uint8Array(10), {
        fileName: "film.mkv",
        caption: "watch this",
        size: 25 * MIB,
      });
      const { id, reply } = await replyTo(sim, update);
      assert.match(reply, /^⚠️ I can't fetch the file: it is over Telegram's 20 MB download limit/);
      await sim.waitForCall(reacted(CHAT, id, "👎"));
      assert.ok(!sim.calls.some((c) => c.method === "getFile"));
    });

    await t.step("the message doesn't say: getFile answers 400 file is too big", async () => {
      // file_size is optional in a Document; Telegram then tells at getFile.
      const fileId = sim.addFile(new Uint8Array(10), { size: 21 * MIB });
      const update = sim.enqueueUpdate({
        message: {
          message_id: 50,
          from: { id: CHAT, is_bot: false, first_name: "Tester" },
          chat: { id: CHAT, type: "private", first_name: "Tester" },
          date: Math.floor(Date.now() / 1000),
          document: { file_id: fileId, file_unique_id: "AgADbig", file_name: "big.zip" },
        },
      });
      const { reply } = await replyTo(sim, update);
      assert.match(reply, /^⚠️ I can't fetch the file: it is over Telegram's 20 MB download limit/);
      const getFile = sim.calls.find((c) => c.method === "getFile");
      assert.equal(getFile?.description, "Bad Request: file is too big");
    });
    assert.deepEqual(brainLog(bot), []);
    await foldersGone(bot);
  });
});

Deno.test("a failed download gets a clear ⚠️ and no brain call", async () => {
  await withBot({}, async (sim, bot) => {
    sim.injectFault({ method: "file/download", fault: { kind: "internal" } });
    const { id, reply } = await replyTo(sim, sim.sendPhoto(CHAT, { caption: "look" }));
    assert.equal(
      reply,
      "⚠️ I could not fetch the photo: the download of the photo failed (HTTP 500). " +
        "Please send it again.",
    );
    await sim.waitForCall(reacted(CHAT, id, "👎"));
    assert.deepEqual(brainLog(bot), []);
    await foldersGone(bot);
  });
});

Deno.test("an edit made while the message waits for its turn is what the brain gets", async () => {
  await withBot({}, async (sim, bot) => {
    const first = messageIdOf(sim.sendText(CHAT, "gate e1"));
    await sim.waitForCall(reacted(CHAT, first, "✍"));
    const second = messageIdOf(sim.sendText(CHAT, "helo wrld"));
    const photo = sim.sendPhoto(CHAT, { caption: "attachments old caption" });
    await sim.waitForCall(reacted(CHAT, messageIdOf(photo), "👀"));

    const edits = [
      sim.editText(CHAT, second, "hello world"),
      sim.editText(CHAT, messageIdOf(photo), "attachments new caption"),
    ];
    for (const edit of edits) {
      await bot.waitForLog(new RegExp(`edit ${edit.update_id} left for update`));
    }
    openGate(bot, "e1");
    const replies = await Promise.all(
      [first, second, messageIdOf(photo)].map((id) => sim.waitForCall(repliedTo(CHAT, id))),
    );
    const path = `${bot.dirs.state}/attachments/${photo.update_id}/photo.jpg`;
    assert.deepEqual(replies.map(textOf), [
      "passed gate e1",
      "echo: hello world",
      `${path} 48000\ntext: attachments new caption\n[attached: ${path}]`,
    ]);
    await sim.waitForCall(reacted(CHAT, messageIdOf(photo), "👌"));
    assert.equal(sim.calls.filter((c) => c.method === "sendMessage").length, 3, "no other reply");
    assert.ok(!brainLog(bot).some((l) => l.includes("helo")), "the old text never went");
    await foldersGone(bot);
  });
});

Deno.test("an edit made after the brain started gets a short note, and so does one after the answer", async () => {
  await withBot({}, async (sim, bot) => {
    const id = messageIdOf(sim.sendText(CHAT, "gate r1"));
    await sim.waitForCall(reacted(CHAT, id, "✍"));
    sim.editText(CHAT, id, "gate r1, but differently");
    const note = await sim.waitForCall(repliedTo(CHAT, id));
    assert.equal(textOf(note), "✏️ Edit ignored: the brain was already working on this message.");

    openGate(bot, "r1");
    const [, answer] = await sim.waitForCalls(repliedTo(CHAT, id), 2);
    assert.equal(textOf(answer), "passed gate r1");
    await sim.waitForCall(reacted(CHAT, id, "👌"));

    sim.editText(CHAT, id, "too late now");
    const [, , late] = await sim.waitForCalls(repliedTo(CHAT, id), 3);
    assert.equal(textOf(late), "✏️ Edit ignored: the brain had already answered it.");
    assert.equal(sim.reaction(CHAT, id), "👌", "the answer's reaction stays");
    assert.equal(brainLog(bot).filter((l) => l.startsWith("start ")).length, 1);
  });
});

Deno.test("after a crash, a waiting message keeps its files and a finished one's are removed at start", async () => {
  await withBot({}, async (sim, first) => {
    const photo = sim.sendPhoto(CHAT, { caption: "gate p1" });
    await waitUntil(() => (brainLog(first).length > 0 ? true : undefined), {
      description: "the brain to start",
    });
    first.kill("SIGKILL");
    await first.exited();
    await waitUntil(() => (first.leftovers().length === 0 ? true : undefined), {
      description: "the first run's processes to end",
    });
    // A message answered just before a crash could not tidy up: its folder is an orphan.
    Deno.mkdirSync(`${first.dirs.state}/attachments/999`);
    Deno.writeTextFileSync(`${first.dirs.state}/attachments/999/photo.jpg`, "x");

    const second = await first.restart();
    await second.waitForLog(/removed the attachments of 1 finished message\(s\): 999/);
    assert.deepEqual(attachmentFolders(second), [String(photo.update_id)]);
    await waitUntil(
      () => (brainLog(second).filter((l) => l.startsWith("start")).length === 2 || undefined),
      {
        description: "the brain to start again",
      },
    );
    openGate(second, "p1");
    const reply = await sim.waitForCall(repliedTo(CHAT, messageIdOf(photo)));
    assert.equal(
      reply.params.text,
      "(re-run: an earlier run was cut off before it answered)\npassed gate p1",
    );
    await foldersGone(second);
  });
});
