/**
 * Unit tests for `lib/shared/atomic_write.ts`: a file is replaced whole or not at all.
 *
 * @module
 */

import assert from "node:assert/strict";
import { syncFolder, writeFileAtomic } from "../lib/shared/atomic_write.ts";
import { tempDir } from "./_helpers.ts";

Deno.test("writeFileAtomic() replaces the file and leaves no temporary file behind", async (t) => {
  for (const durable of [false, true]) {
    await t.step(durable ? "durable" : "not durable", async () => {
      await using dir = await tempDir();
      const path = `${dir.path}/entry.json`;
      writeFileAtomic(path, "old\n", { durable });
      writeFileAtomic(path, "néw 😀\n", { durable });
      assert.equal(Deno.readTextFileSync(path), "néw 😀\n");
      assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["entry.json"]);
    });
  }
});

Deno.test("writeFileAtomic() leaves the old file as it was when it can't write the new one", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/entry.json`;
  writeFileAtomic(path, "old\n");
  // The temporary file's name is taken by a folder: the write fails before the rename.
  Deno.mkdirSync(`${path}.tmp-${Deno.pid}`);
  assert.throws(() => writeFileAtomic(path, "new\n"));
  assert.equal(Deno.readTextFileSync(path), "old\n");
});

Deno.test("syncFolder() fsyncs a folder, and throws for one that is not there", async () => {
  await using dir = await tempDir();
  syncFolder(dir.path);
  assert.throws(() => syncFolder(`${dir.path}/gone`), Deno.errors.NotFound);
});

Deno.test("writeFileAtomic() that fails removes its temporary file, giving its space back", async () => {
  await using dir = await tempDir();
  // The target is a folder with something in it: the rename over it fails, after the write.
  const path = `${dir.path}/entry.json`;
  Deno.mkdirSync(path);
  Deno.writeTextFileSync(`${path}/inside`, "");
  for (const durable of [false, true]) {
    assert.throws(() => writeFileAtomic(path, "new\n", { durable }));
    assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["entry.json"]);
  }
});
