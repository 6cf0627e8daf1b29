/**
 * Unit tests for `lib/handler/edits.ts`: the edit markers, and where an edited message stands.
 *
 * @module
 */

import assert from "node:assert/strict";
import { EditBox, editStanding, originalEntry } from "../lib/handler/edits.ts";
import { lateEditText } from "../lib/handler/texts.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import { chatStanding } from "../lib/handler/status.ts";
import { tempDir } from "./_helpers.ts";

function entry(updateId: number, patch: Partial<JournalEntry> = {}): JournalEntry {
  return {
    updateId,
    chatId: 7,
    update: { update_id: updateId, message: { message_id: updateId + 100, text: "hi" } },
    stage: "received",
    dispatches: 0,
    receivedAt: "2025-01-01T00:00:00.000Z",
    ...patch,
  };
}

Deno.test("EditBox hands a waiting message its latest edit once", async () => {
  await using dir = await tempDir();
  const edits = new EditBox(dir.path);
  assert.equal(edits.take(5), undefined, "no edit");
  edits.leave(5, { editUpdateId: 8, text: "second" });
  edits.leave(5, { editUpdateId: 7, text: "first, arriving late" });
  assert.deepEqual(edits.take(5), { editUpdateId: 8, text: "second" }, "the later edit wins");
  assert.equal(edits.take(5), undefined, "taken once");
  assert.deepEqual([...Deno.readDirSync(edits.dir)], [], "nothing left behind");
});

Deno.test("EditBox: of a take and a withdraw, exactly one wins", async (t) => {
  await using dir = await tempDir();
  const edits = new EditBox(dir.path);
  await t.step("withdrawn first: the message never sees it", () => {
    edits.leave(5, { editUpdateId: 8, text: "x" });
    assert.equal(edits.withdraw(5), true);
    assert.equal(edits.take(5), undefined);
  });
  await t.step("taken first: it can't be withdrawn", () => {
    edits.leave(5, { editUpdateId: 9, text: "y" });
    assert.equal(edits.take(5)?.text, "y");
    assert.equal(edits.withdraw(5), false);
  });
  await t.step("cleared: gone, and clearing again is quiet", () => {
    edits.leave(6, { editUpdateId: 10, text: "z" });
    edits.clear(6);
    edits.clear(6);
    assert.equal(edits.take(6), undefined);
  });
});

Deno.test("editStanding() tells waiting, working and answered apart", async (t) => {
  const turnAt = "2025-01-01T00:00:01.000Z";
  const cases: [string, JournalEntry | undefined, string][] = [
    ["received: it waits in the loop's queue", entry(1), "waiting"],
    ["started: its handler has not taken its turn yet", entry(1, { stage: "started" }), "waiting"],
    ["started, its turn taken", entry(1, { stage: "started", turnAt }), "working"],
    ["acked by a bot before the desk", entry(1, { stage: "acked" }), "waiting"],
    ["acked, its turn taken", entry(1, { stage: "acked", turnAt }), "working"],
    ["brain", entry(1, { stage: "brain", attempt: 1 }), "working"],
    ["brain, queued again as a re-run", entry(1, { stage: "received", rerun: true }), "waiting"],
    ["replied", entry(1, { stage: "replied" }), "answered"],
    ["gone from the journal", undefined, "answered"],
  ];
  for (const [name, input, standing] of cases) {
    await t.step(name, () => assert.equal(editStanding(input), standing));
  }
});

Deno.test("lateEditText() says why the edit was ignored", () => {
  assert.equal(
    lateEditText("working"),
    "✏️ Edit ignored: the brain was already working on this message.",
  );
  assert.equal(lateEditText("answered"), "✏️ Edit ignored: the brain had already answered it.");
});

Deno.test("originalEntry() finds the edited message by chat and message id, never an edit", () => {
  const edit = entry(3, {
    update: { update_id: 3, edited_message: { message_id: 101, text: "hello" } },
  });
  const entries = [entry(1), entry(2, { chatId: 8 }), edit];
  assert.equal(originalEntry(entries, { chatId: 7, messageId: 101 })?.updateId, 1);
  assert.equal(originalEntry(entries, { chatId: 7, messageId: 102 }), undefined, "other chat");
  assert.equal(originalEntry([edit], { chatId: 7, messageId: 101 }), undefined);
});

Deno.test("chatStanding() does not count edits as waiting messages", () => {
  const edit = entry(3, {
    update: { update_id: 3, edited_message: { message_id: 101, text: "hello" } },
  });
  assert.equal(chatStanding([entry(1), edit], 7).waiting, 1);
  assert.equal(chatStanding([edit], 7).waiting, 0);
  assert.equal(chatStanding([edit], 7).running, undefined);
});
