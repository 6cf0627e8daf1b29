/**
 * End to end: files back to the phone. A brain leaves files in `COORD_SEND_DIR`; after the answer
 * come a photo, a document, and (in the answer) a line about the file too big to send. They go
 * through the outbox: a SIGKILL of the whole bot after the photo, and a restart: the document is
 * sent once, the photo not again, and the brain does not run again.
 */

import assert from "node:assert/strict";
import {
  brainLog,
  killEverything,
  messageIdOf,
  reacted,
  repliedTo,
  tempDir,
  textOf,
  waitUntil,
  withBot,
} from "./_helpers.ts";
import { heredoc, namesIn, readmeBlock } from "./_box.ts";

const CHAT = 1001;

Deno.test("a brain's files: the answer, a photo, a document and a line about the big one; a SIGKILL after the photo sends the document once and the photo not again", async () => {
  await withBot({}, async (sim, bot) => {
    // The document's upload is held by Telegram: the kill comes while it is out, after the photo.
    sim.injectFault({ method: "sendDocument", times: 1, fault: { kind: "delay", ms: 60_000 } });
    const update = sim.sendText(CHAT, "files");
    const id = messageIdOf(update);
    const answer = await sim.waitForCall(repliedTo(CHAT, id));
    assert.match(
      textOf(answer),
      /^here are the files\n\n📎 c\.bin \(62\.9 MB\) is over the 50\.0 MB/,
    );
    const kept = `${bot.dirs.state}/undelivered/${update.update_id}/c.bin`;
    assert.ok(textOf(answer).endsWith(`it is on the box: ${kept}`), textOf(answer));
    assert.equal(Deno.statSync(kept).size, 62_914_560, "the big file stays on the box");
    const photo = await sim.waitForCall((c) => c.method === "sendPhoto" && c.status === 200);
    assert.ok(photo.seq > answer.seq, "the photo after the answer");
    assert.deepEqual(photo.params.reply_parameters, {
      message_id: id,
      allow_sending_without_reply: true,
    });
    await sim.waitForCall((c) => c.method === "sendDocument", { includePending: true });
    await killEverything(bot);

    const second = await bot.restart();
    const document = await sim.waitForCall((c) => c.method === "sendDocument" && c.status === 200);
    await sim.waitForCall(reacted(CHAT, id, "👌"));
    const sent = sim.botMessages(CHAT);
    assert.equal(sent.filter((m) => m.photo !== undefined).length, 1, "the photo was sent once");
    const documents = sent.filter((m) => m.document !== undefined);
    assert.equal(documents.length, 1, "the document was sent once");
    assert.equal(documents[0].document!.file_name, "b.pdf");
    assert.match(new TextDecoder().decode(documents[0].document!.bytes), /^%PDF-1\.4/);
    assert.ok(document.seq > photo.seq);
    assert.equal(sim.calls.filter(repliedTo(CHAT, id)).length, 1, "the answer was sent once");
    assert.equal(
      brainLog(second).filter((l) => l.startsWith(`start ${update.update_id} `)).length,
      1,
      "the brain ran once",
    );
    await waitUntil(() => namesIn(`${bot.dirs.state}/send`).length === 0 || undefined, {
      description: "the send folder to be removed once the message is finished",
    });
  });
});

Deno.test("a failed attempt's files never go out: the folder is emptied before each attempt", async () => {
  await withBot({}, async (sim, bot) => {
    const update = sim.sendText(CHAT, "filesonce");
    const answer = await sim.waitForCall(repliedTo(CHAT, messageIdOf(update)));
    assert.equal(textOf(answer), "second attempt, no file");
    await sim.waitForCall(reacted(CHAT, messageIdOf(update), "👌"));
    assert.equal(sim.calls.filter((c) => c.method === "sendDocument").length, 0);
    assert.equal(brainLog(bot).filter((l) => l.startsWith("start ")).length, 2);
  });
});

Deno.test("the README's brain that sends a file works as pasted", async () => {
  await using dir = await tempDir();
  const block = readmeBlock("## Files back to the phone", "sh");
  const brain = `${dir.path}/disk-brain`;
  await Deno.writeTextFile(brain, heredoc(block, "cat > ~/bin/disk-brain <<'EOF'"));
  await Deno.chmod(brain, 0o755);
  assert.match(block, /export COORD_BRAIN_CMD=~\/bin\/disk-brain/);
  await withBot({ env: { COORD_BRAIN_CMD: brain } }, async (sim) => {
    const update = sim.sendText(CHAT, "how full are the disks?");
    const answer = await sim.waitForCall(repliedTo(CHAT, messageIdOf(update)));
    assert.equal(textOf(answer), `Here is the disk use of ${Deno.hostname()}.`);
    await sim.waitForCall(reacted(CHAT, messageIdOf(update), "👌"));
    const [file] = sim.botMessages(CHAT).filter((m) => m.document !== undefined);
    assert.equal(file?.document?.file_name, "disk.txt");
    assert.match(new TextDecoder().decode(file.document!.bytes), /^Filesystem/);
  });
});
