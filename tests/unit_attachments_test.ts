/**
 * Unit tests for `lib/shared/attachments.ts` beyond those in `unit_files_test.ts` (which has
 * `safeFileName()`'s paths, hidden names and long names, and `removeOrphanAttachments()` keeping
 * the journal's folders): where a message's folder is, that removing it removes it and nothing
 * else, the order of what the tidy-up reports, and the edges of a safe name. Real folders in a
 * temporary directory.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  attachmentDir,
  removeAttachments,
  removeOrphanAttachments,
  safeFileName,
} from "../lib/shared/attachments.ts";
import { tempDir } from "./_helpers.ts";

/** The names in a folder, sorted. */
function namesIn(path: string): string[] {
  return [...Deno.readDirSync(path)].map((e) => e.name).sort();
}

/** Creates the attachment folder of each update id under `state`, with a file in it. */
function withFolders(state: string, updateIds: number[]): void {
  for (const id of updateIds) {
    Deno.mkdirSync(`${attachmentDir(state, id)}/nested`, { recursive: true });
    Deno.writeTextFileSync(`${attachmentDir(state, id)}/nested/progress`, "x");
  }
}

Deno.test("attachmentDir() is <state dir>/attachments/<update_id>", () => {
  assert.equal(
    attachmentDir("/home/coord/.local/state/fc", 940961529),
    "/home/coord/.local/state/fc/attachments/940961529",
  );
  assert.equal(attachmentDir("/s", 0), "/s/attachments/0");
});

Deno.test("removeAttachments() removes one message's folder, with all in it, and no other", async () => {
  await using dir = await tempDir();
  withFolders(dir.path, [7, 8]);
  removeAttachments(dir.path, 7);
  assert.deepEqual(namesIn(`${dir.path}/attachments`), ["8"]);
  removeAttachments(dir.path, 7);
  assert.deepEqual(namesIn(`${dir.path}/attachments`), ["8"], "again: quiet, nothing else goes");
});

Deno.test("removeOrphanAttachments() reports the update ids it removed in numeric order", async () => {
  await using dir = await tempDir();
  withFolders(dir.path, [100, 9, 20, 3]);
  Deno.writeTextFileSync(`${dir.path}/attachments/42`, "a file, not a folder");
  assert.deepEqual(removeOrphanAttachments(dir.path, new Set([20])), [3, 9, 42, 100]);
  assert.deepEqual(namesIn(`${dir.path}/attachments`), ["20"]);
  assert.deepEqual(namesIn(attachmentDir(dir.path, 20)), ["nested"], "a kept folder is whole");
});

Deno.test("removeOrphanAttachments() is quiet when attachments is not a folder", async () => {
  await using dir = await tempDir();
  Deno.writeTextFileSync(`${dir.path}/attachments`, "odd");
  assert.deepEqual(removeOrphanAttachments(dir.path, new Set()), []);
  assert.equal(Deno.readTextFileSync(`${dir.path}/attachments`), "odd", "left alone");
});

Deno.test("safeFileName() at its edges", async (t) => {
  await t.step("120 characters are kept as they are", () => {
    const name = `${"x".repeat(116)}.pdf`;
    assert.equal(safeFileName(name, "document"), name);
  });
  await t.step("121 are cut to 120, the extension kept", () => {
    assert.equal(safeFileName(`${"x".repeat(117)}.pdf`, "document"), `${"x".repeat(116)}.pdf`);
  });
  await t.step("an extension longer than 8 characters is not kept", () => {
    const name = safeFileName(`${"x".repeat(130)}.verylongext`, "document");
    assert.equal(name, "x".repeat(120));
  });
  await t.step("DEL is a control character too", () => {
    assert.equal(safeFileName("a\u007fb.txt", "document"), "ab.txt");
  });
  await t.step("every leading dot goes, inner ones stay", () => {
    assert.equal(safeFileName("...hidden.tar.gz", "document"), "hidden.tar.gz");
  });
  await t.step("blanks around the name go", () => {
    assert.equal(safeFileName("  notes.txt \t", "document"), "notes.txt");
  });
  await t.step("the fallback is the caller's", () => {
    assert.equal(safeFileName("...", "photo.jpg"), "photo.jpg");
    assert.equal(safeFileName("a/..", "voice.oga"), "voice.oga");
    assert.equal(safeFileName("\u0000\u0001", "file"), "file");
  });
});

Deno.test("safeFileName() cuts between characters, within 240 bytes, and drops format characters", async (t) => {
  await t.step("an emoji is never cut in half", () => {
    const name = safeFileName(`a${"😀".repeat(70)}.txt`, "document");
    assert.ok(name.endsWith(".txt"), name);
    assert.equal(name, new TextDecoder().decode(new TextEncoder().encode(name)), "valid UTF-16");
    assert.ok(new TextEncoder().encode(name).length <= 240);
  });
  await t.step("a name in another script stays under the file system's 255 bytes", () => {
    const name = safeFileName(`${"日本語".repeat(50)}.pdf`, "document");
    assert.ok(name.endsWith(".pdf"));
    assert.ok(new TextEncoder().encode(name).length <= 240, `${name.length} characters`);
  });
  await t.step("a right-to-left override can't disguise the extension", () => {
    assert.equal(safeFileName("invoice\u202Efdp.exe", "document"), "invoicefdp.exe");
  });
});
