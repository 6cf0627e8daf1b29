/**
 * Unit tests for `lib/handler/cancel.ts`: the `/cancel` and Stop markers, in a temp folder.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CancelBox } from "../lib/handler/cancel.ts";
import { tempDir } from "./_helpers.ts";

Deno.test("CancelBox knows nothing of a message nobody cancelled, even without its folder", async () => {
  await using dir = await tempDir();
  const box = new CancelBox(dir.path);
  assert.equal(box.requested(7), false);
  assert.equal(box.by(7), "/cancel");
  box.clear(7);
  assert.equal(box.requested(7), false, "clearing nothing is no error");
});

Deno.test("CancelBox.request() marks one message, and says who asked", async (t) => {
  await using dir = await tempDir();
  const box = new CancelBox(dir.path);
  await t.step("by /cancel, the default", () => {
    box.request(7);
    assert.equal(box.requested(7), true);
    assert.equal(box.by(7), "/cancel");
    assert.equal(box.requested(8), false, "only that message");
  });
  await t.step("by a Stop press", () => {
    box.request(8, "Stop");
    assert.equal(box.requested(8), true);
    assert.equal(box.by(8), "Stop");
  });
  await t.step("seen by another box on the same folder (another process)", () => {
    const other = new CancelBox(dir.path);
    assert.equal(other.requested(7), true);
    assert.equal(other.by(8), "Stop");
    assert.equal(other.dir, `${dir.path}/cancel`);
  });
});

Deno.test("CancelBox.clear() forgets one request", async () => {
  await using dir = await tempDir();
  const box = new CancelBox(dir.path);
  box.request(7, "Stop");
  box.request(8);
  box.clear(7);
  assert.equal(box.requested(7), false);
  assert.equal(box.by(7), "/cancel", "a cleared marker says nothing");
  assert.equal(box.requested(8), true, "the other stays");
  box.clear(7);
});

Deno.test("CancelBox.by() reads a marker it can't parse as /cancel", async () => {
  await using dir = await tempDir();
  const box = new CancelBox(dir.path);
  box.request(9);
  Deno.writeTextFileSync(`${box.dir}/9`, "");
  assert.equal(box.requested(9), true);
  assert.equal(box.by(9), "/cancel");
});
