/**
 * Unit tests for the pure parts of `lib/files.ts`: file names, the brain's text, and tidying the
 * attachment folders.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  attachmentDir,
  attachmentText,
  removeAttachments,
  removeOrphanAttachments,
  safeFileName,
} from "../lib/files.ts";
import { tempDir } from "./_helpers.ts";

Deno.test("safeFileName() keeps a plain name as it is", () => {
  assert.equal(
    safeFileName("Quarterly report (final).pdf", "document"),
    "Quarterly report (final).pdf",
  );
  assert.equal(safeFileName("überblick.txt", "document"), "überblick.txt");
});

Deno.test("safeFileName() never lets a name be a path or hidden", async (t) => {
  const cases: [string, string | undefined, string][] = [
    ["a relative path", "../../etc/passwd", "passwd"],
    ["an absolute path", "/etc/shadow", "shadow"],
    ["a Windows path", "C:\\Users\\me\\a.txt", "a.txt"],
    ["dot-dot", "..", "document"],
    ["a hidden file", ".bashrc", "bashrc"],
    ["control characters", "a\u0000b\nc.txt", "abc.txt"],
    ["nothing", undefined, "document"],
    ["only spaces", "   ", "document"],
    ["a trailing slash", "folder/", "document"],
  ];
  for (const [name, input, expected] of cases) {
    await t.step(name, () => assert.equal(safeFileName(input, "document"), expected));
  }
});

Deno.test("safeFileName() shortens a long name and keeps its extension", () => {
  const name = safeFileName(`${"x".repeat(300)}.tar.gz`, "document");
  assert.equal(name.length, 120);
  assert.ok(name.endsWith("x.gz"));
});

Deno.test("attachmentText() puts the caption first, then one line per file", async (t) => {
  await t.step("with a caption", () => {
    assert.equal(
      attachmentText("what is this?", ["/s/attachments/7/photo.jpg"]),
      "what is this?\n[attached: /s/attachments/7/photo.jpg]",
    );
  });
  await t.step("without a caption", () => {
    assert.equal(attachmentText(undefined, ["/a", "/b"]), "[attached: /a]\n[attached: /b]");
    assert.equal(attachmentText(" \n", ["/a"]), "[attached: /a]");
  });
});

Deno.test("removeOrphanAttachments() removes the folders of messages no longer in the journal", async () => {
  await using dir = await tempDir();
  const state = dir.path;
  for (const id of [3, 5, 8]) {
    Deno.mkdirSync(attachmentDir(state, id), { recursive: true });
    Deno.writeTextFileSync(`${attachmentDir(state, id)}/photo.jpg`, "x");
  }
  Deno.mkdirSync(`${state}/attachments/stray`);
  assert.deepEqual(removeOrphanAttachments(state, new Set([5, 9])), [3, 8]);
  assert.deepEqual([...Deno.readDirSync(`${state}/attachments`)].map((e) => e.name), ["5"]);
});

Deno.test("removeOrphanAttachments() and removeAttachments() are quiet when there is nothing", async () => {
  await using dir = await tempDir();
  assert.deepEqual(removeOrphanAttachments(dir.path, new Set()), []);
  removeAttachments(dir.path, 4);
});
