/**
 * Unit tests for files back to the phone: the brain's folder (`send_files.ts`) and the outbox's
 * sending of an answer's files (`outbox_files.ts`), against the simulator.
 *
 * @module
 */

import assert from "node:assert/strict";
import { collectSent, freshSendDir } from "../lib/handler/send_files.ts";
import { sendFiles } from "../lib/handler/outbox_files.ts";
import { entryRecord } from "../lib/handler/entry_record.ts";
import type { Outgoing, OutgoingFile } from "../lib/shared/journal_entry.ts";
import { keptDir, sendDir } from "../lib/shared/outgoing_files.ts";
import type { Report } from "../lib/shared/line.ts";
import { enablePatience } from "../lib/shared/telegram.ts";
import { messageIdOf, messageRig, recordingLog, tempDir } from "./_helpers.ts";

const PNG = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);

Deno.test("freshSendDir() makes the message's folder empty, whatever an earlier attempt left", async () => {
  await using dir = await tempDir();
  const path = freshSendDir(dir.path, 42);
  assert.equal(path, sendDir(dir.path, 42));
  await Deno.writeTextFile(`${path}/old.txt`, "from a failed attempt");
  assert.equal(freshSendDir(dir.path, 42), path);
  assert.deepEqual([...Deno.readDirSync(path)], []);
});

Deno.test("collectSent(): regular files in name order, photos told apart; a file over 50 MB kept on the box with a line", async () => {
  await using dir = await tempDir();
  const path = freshSendDir(dir.path, 42);
  await Deno.writeFile(`${path}/b.png`, PNG);
  await Deno.writeTextFile(`${path}/a.txt`, "notes");
  await Deno.writeTextFile(`${path}/.hidden`, "editor swap");
  await Deno.mkdir(`${path}/folder`);
  await Deno.symlink(`${path}/a.txt`, `${path}/link.txt`);
  await Deno.writeFile(`${path}/c.bin`, new Uint8Array());
  await Deno.truncate(`${path}/c.bin`, 60_000_000);
  const { log } = recordingLog();
  const collected = collectSent({ stateDir: dir.path, updateId: 42, log });
  assert.deepEqual(collected.files, [
    { path: `${path}/a.txt`, name: "a.txt", kind: "document" },
    { path: `${path}/b.png`, name: "b.png", kind: "photo" },
  ]);
  const kept = `${keptDir(dir.path, 42)}/c.bin`;
  assert.deepEqual(collected.lines, [
    `📎 c.bin (60.0 MB) is over the 50.0 MB a bot may send; it is on the box: ${kept}`,
  ]);
  assert.equal(Deno.statSync(kept).size, 60_000_000);
  assert.deepEqual(collectSent({ stateDir: dir.path, updateId: 43, log }), {
    files: [],
    lines: [],
  });
});

/** An answer with these files, in message `ids`' entry, sent from where `filesSent` says. */
function answering(files: OutgoingFile[], filesSent = 0): Outgoing {
  return { head: "", body: "done", emoji: "👌", sent: 1, files, filesSent };
}

Deno.test("sendFiles() sends each file in order, as a photo or a document, recording each", async () => {
  await using rig = await messageRig(1001);
  const path = freshSendDir(rig.dir.path, rig.ids.updateId);
  await Deno.writeFile(`${path}/a.png`, PNG);
  await Deno.writeTextFile(`${path}/b.txt`, "b");
  await Deno.writeTextFile(`${path}/c.txt`, "c");
  const files: OutgoingFile[] = [
    { path: `${path}/a.png`, name: "a.png", kind: "photo" },
    { path: `${path}/b.txt`, name: "b.txt", kind: "document" },
    { path: `${path}/c.txt`, name: "c.txt", kind: "document" },
  ];
  const reports: Report[] = [];
  const { log } = recordingLog();
  const record = entryRecord(rig.journal.read(rig.ids.updateId)!, {
    log,
    // As the line carries it: a copy of the moment.
    report: (r) => reports.push(structuredClone(r)),
  });
  // The second file was sent before a restart: it is not sent again.
  const sent = answering(files, 0);
  await sendFiles(sent, { replyApi: rig.api, record, ids: rig.ids, stateDir: rig.dir.path, log });
  const bot = rig.sim.botMessages(1001);
  assert.deepEqual(bot.map((m) => m.photo?.file_name ?? m.document?.file_name), [
    "a.png",
    "b.txt",
    "c.txt",
  ]);
  assert.ok(bot.every((m) => m.reply_to === rig.ids.messageId), "each replies to the message");
  const recorded = reports.map((r) => r.kind === "patch" ? r.patch.answer?.filesSent : undefined);
  assert.deepEqual(recorded, [1, 2, 3], "each file recorded as it landed");
  const again = answering(files, 2);
  await sendFiles(again, { replyApi: rig.api, record, ids: rig.ids, stateDir: rig.dir.path, log });
  assert.equal(rig.sim.botMessages(1001).length, 4, "a restart at the third file sends the third");
});

Deno.test("sendFiles(): a photo Telegram refuses goes as a document; a file refused for good is kept; a file gone is skipped", async () => {
  await using rig = await messageRig(1001);
  const path = freshSendDir(rig.dir.path, rig.ids.updateId);
  // A PNG 1 px high and 100 wide: over the ratio of 20 that Telegram allows a photo.
  const wide = PNG.slice();
  new DataView(wide.buffer).setUint32(16, 100);
  await Deno.writeFile(`${path}/wide.png`, wide);
  await Deno.writeTextFile(`${path}/refused.txt`, "r");
  const files: OutgoingFile[] = [
    { path: `${path}/refused.txt`, name: "refused.txt", kind: "document" },
    { path: `${path}/gone.txt`, name: "gone.txt", kind: "document" },
    { path: `${path}/wide.png`, name: "wide.png", kind: "photo" },
  ];
  rig.sim.injectFault({
    method: "sendDocument",
    times: 1,
    fault: { kind: "badRequest", description: "Bad Request: wrong file identifier" },
  });
  const { log, lines } = recordingLog();
  const record = entryRecord(rig.journal.read(rig.ids.updateId)!, { log });
  const sent = answering(files);
  await sendFiles(sent, { replyApi: rig.api, record, ids: rig.ids, stateDir: rig.dir.path, log });
  const bot = rig.sim.botMessages(1001);
  assert.equal(bot.length, 1);
  assert.equal(bot[0].document?.file_name, "wide.png", "the refused photo went as a document");
  assert.equal(sent.filesSent, 3);
  assert.ok(
    lines.some((l) => /can.t be read/.test(l.message) && /NotFound/.test(String(l.props.error))),
  );
  const kept = `${keptDir(rig.dir.path, rig.ids.updateId)}/refused.txt`;
  assert.equal(Deno.readTextFileSync(kept), "r");
  assert.ok(lines.some((l) => l.level === "error" && /can't be delivered/.test(l.message)));
});

Deno.test("sendFiles(): when the patience runs out, this file and the rest are kept; a stop leaves them to the next handler", async () => {
  await using rig = await messageRig(1001);
  const path = freshSendDir(rig.dir.path, rig.ids.updateId);
  for (const name of ["a.txt", "b.txt"]) await Deno.writeTextFile(`${path}/${name}`, name);
  const files: OutgoingFile[] = ["a.txt", "b.txt"].map((name) => ({
    path: `${path}/${name}`,
    name,
    kind: "document",
  }));
  const { log } = recordingLog();
  const record = entryRecord(rig.journal.read(rig.ids.updateId)!, { log });
  const stop = new AbortController();
  stop.abort();
  const stopped = answering(files);
  await assert.rejects(
    sendFiles(stopped, {
      replyApi: rig.api,
      record,
      ids: rig.ids,
      stateDir: rig.dir.path,
      log,
      signal: stop.signal,
    }),
  );
  assert.equal(stopped.filesSent, 0);
  enablePatience(rig.api, { patienceMs: 0, onRetry: () => {} });
  rig.sim.injectFault({ method: "sendDocument", times: Infinity, fault: { kind: "internal" } });
  const sent = answering(files);
  await sendFiles(sent, { replyApi: rig.api, record, ids: rig.ids, stateDir: rig.dir.path, log });
  assert.equal(sent.filesSent, 2);
  const kept = [...Deno.readDirSync(keptDir(rig.dir.path, rig.ids.updateId))].map((e) => e.name);
  assert.deepEqual(kept.sort(), ["a.txt", "b.txt"]);
  assert.equal(messageIdOf(rig.update), rig.ids.messageId);
});
