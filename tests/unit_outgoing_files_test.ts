import assert from "node:assert/strict";
import {
  DOCUMENT_LIMIT,
  formatSize,
  isPhoto,
  PHOTO_LIMIT,
  removeOrphanSendDirs,
  sendableFile,
  sendDir,
} from "../lib/shared/outgoing_files.ts";
import { tempDir } from "./_helpers.ts";

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));

Deno.test("isPhoto() knows a JPEG, a PNG and a WebP by their first bytes, and nothing else", () => {
  assert.equal(isPhoto(new Uint8Array(PNG)), true);
  assert.equal(isPhoto(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])), true);
  assert.equal(isPhoto(new Uint8Array([...ascii("RIFF"), 1, 2, 3, 4, ...ascii("WEBP")])), true);
  assert.equal(isPhoto(new Uint8Array([...ascii("RIFF"), 1, 2, 3, 4, ...ascii("WAVE")])), false);
  assert.equal(isPhoto(new TextEncoder().encode("%PDF-1.4")), false);
  assert.equal(isPhoto(new Uint8Array([0x89, 0x50])), false, "a PNG cut short");
  assert.equal(isPhoto(new Uint8Array()), false);
});

Deno.test("sendableFile() sorts by content and size: a photo, a document, too big", async () => {
  await using dir = await tempDir();
  const sized = async (name: string, head: number[], size: number) => {
    const path = `${dir.path}/${name}`;
    await Deno.writeFile(path, new Uint8Array(head));
    await Deno.truncate(path, size);
    return sendableFile(path);
  };
  assert.deepEqual(await sized("chart", PNG, 2000), { kind: "photo", size: 2000 });
  assert.deepEqual(await sized("a.png", ascii("not a png"), 2000), {
    kind: "document",
    size: 2000,
  });
  assert.deepEqual(await sized("big.png", PNG, PHOTO_LIMIT + 1), {
    kind: "document",
    size: PHOTO_LIMIT + 1,
  });
  assert.deepEqual(await sized("edge.bin", [], DOCUMENT_LIMIT), {
    kind: "document",
    size: DOCUMENT_LIMIT,
  });
  assert.deepEqual(await sized("huge.bin", [], DOCUMENT_LIMIT + 1), {
    kind: "too big",
    size: DOCUMENT_LIMIT + 1,
  });
  assert.throws(() => sendableFile(`${dir.path}/missing`), Deno.errors.NotFound);
});

Deno.test("removeOrphanSendDirs() removes the folders of finished messages, never a job waiting to be journaled", async () => {
  await using dir = await tempDir();
  for (const id of [3, 5, 9]) await Deno.mkdir(sendDir(dir.path, id), { recursive: true });
  await Deno.writeTextFile(`${sendDir(dir.path, 9)}/job.json`, "{}");
  await Deno.mkdir(`${dir.path}/send/not-an-id`);
  assert.deepEqual(removeOrphanSendDirs(dir.path, new Set([5])), [3]);
  const left = [...Deno.readDirSync(`${dir.path}/send`)].map((e) => e.name).sort();
  assert.deepEqual(left, ["5", "9", "not-an-id"]);
  assert.deepEqual(removeOrphanSendDirs(`${dir.path}/none`, new Set()), []);
});

Deno.test("formatSize() says a size for a person", () => {
  assert.equal(formatSize(62_914_560), "62.9 MB");
  assert.equal(formatSize(50_000_000), "50.0 MB");
  assert.equal(formatSize(512_400), "512 kB");
  assert.equal(formatSize(12), "12 bytes");
});
