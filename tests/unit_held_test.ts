/**
 * Unit tests for `lib/loop/held.ts`: how an update becomes a message the scheduler holds
 * (`admit()`, `heldFor()`), what an earlier run left in a real journal in a temp dir
 * (`recoverHeld()`), and what `/status` is told of a chat (`viewOf()`).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ChildRecord } from "../lib/loop/dispatch.ts";
import { admit, type Held, heldFor, recoverHeld, viewOf } from "../lib/loop/held.ts";
import { Journal } from "../lib/shared/journal.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import { editUpdate, PERSON, pressUpdate, recordingLog, tempDir, textUpdate } from "./_helpers.ts";

const NOW = Date.parse("2025-03-01T12:00:00.000Z");
const AUTHORIZED = new Set([PERSON]);

Deno.test("admit() makes an authorized person's update a received entry, stamped with the wall clock", () => {
  const { log, lines } = recordingLog();
  const update = textUpdate(5);
  assert.deepEqual(admit(update, { authorized: AUTHORIZED, wallNow: NOW, log }), {
    updateId: 5,
    chatId: PERSON,
    update,
    stage: "received",
    dispatches: 0,
    receivedAt: "2025-03-01T12:00:00.000Z",
  });
  assert.deepEqual(lines, []);
});

Deno.test("admit() takes the desk's updates too: a command, an edit, a Stop press", () => {
  const { log } = recordingLog();
  const options = { authorized: AUTHORIZED, wallNow: NOW, log };
  for (
    const update of [textUpdate(5, { text: "/status" }), editUpdate(6, 105), pressUpdate(7, 5)]
  ) {
    assert.equal(admit(update, options)?.updateId, (update as { update_id: number }).update_id);
  }
});

Deno.test("admit() skips and logs what is not taken", async (t) => {
  const cases: [string, unknown, { allowedChats?: Set<number>; botUsername?: string }, string][] = [
    ["a stranger's message (warned, with the user id)", textUpdate(5, { from: 666 }), {}, "warn"],
    ["a chat not in COORD_ALLOWED_CHAT_IDS", textUpdate(5, { chatId: -100 }), {
      allowedChats: new Set([PERSON]),
    }, "warn"],
    ["another kind of update", { update_id: 5, my_chat_member: {} }, {}, "info"],
    ["a command for another bot", textUpdate(5, { text: "/status@OtherBot" }), {
      botUsername: "ForgeBot",
    }, "info"],
  ];
  for (const [name, update, options, level] of cases) {
    await t.step(name, () => {
      const { log, lines } = recordingLog();
      assert.equal(
        admit(update, { authorized: AUTHORIZED, wallNow: NOW, log, ...options }),
        undefined,
      );
      assert.deepEqual(lines.map((l) => l.level), [level]);
      assert.equal(lines[0].props.updateId, 5);
      if (level === "warn" && name.startsWith("a stranger")) {
        assert.equal(lines[0].props.userId, 666);
      }
    });
  }
  await t.step("a command for this bot is ours", () => {
    const { log } = recordingLog();
    const update = textUpdate(5, { text: "/status@ForgeBot" });
    assert.equal(
      admit(update, { authorized: AUTHORIZED, wallNow: NOW, log, botUsername: "forgebot" })
        ?.updateId,
      5,
    );
  });
});

Deno.test("heldFor(): a message takes its chat's turn; a command, an edit or a press does not", () => {
  const held = (update: unknown) =>
    heldFor(
      {
        updateId: 1,
        chatId: PERSON,
        update,
        stage: "received",
        dispatches: 0,
        receivedAt: "",
      },
      { journaled: false },
    );
  assert.deepEqual(
    [textUpdate(1), textUpdate(1, { text: "/cancel" }), editUpdate(1, 5), pressUpdate(1, 5)]
      .map((u) => held(u).turn),
    [true, false, false, false],
  );
  assert.equal(held(textUpdate(1)).journaled, false);
});

/** A journal in a temp dir holding `entries` (each recorded, then patched). */
async function journalWith(entries: [number, Partial<JournalEntry>][]) {
  const dir = await tempDir();
  const journal = new Journal(`${dir.path}/journal`, { durable: false });
  journal.open();
  for (const [updateId, patch] of entries) {
    journal.record(textUpdate(updateId), { updateId, chatId: PERSON });
    journal.update(updateId, patch);
  }
  return { dir, journal, [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose]() };
}

Deno.test("recoverHeld() holds what an earlier run left, in update_id order, each journaled", async () => {
  await using j = await journalWith([
    [9, {}],
    [3, { stage: "answered", answer: { head: "", body: "x", emoji: "👌", sent: 1 } }],
    [5, { stage: "received", parkedUntil: "2025-03-01T13:00:00.000Z", deaths: 1 }],
    [7, { stage: "replied" }],
  ]);
  const { log, lines } = recordingLog();
  const { held, lost } = recoverHeld(j.journal, log);
  assert.deepEqual(held.map((h) => h.entry.updateId), [3, 5, 9]);
  assert.ok(held.every((h) => h.journaled && h.turn && !h.corrected), "none was at work");
  assert.equal(held[0].entry.stage, "answered", "an answer is only sent again");
  assert.equal(held[1].entry.deaths, 1, "as it stood");
  assert.deepEqual(lost, []);
  assert.equal(j.journal.read(7), undefined, "a replied one is removed");
  assert.ok(
    lines.some((l) => /answered message\(s\) removed/.test(l.message) && l.props.ids === "7"),
  );
  assert.ok(
    lines.some((l) => /unfinished message\(s\)/.test(l.message) && l.props.ids === "3, 5, 9"),
  );
});

Deno.test("recoverHeld() puts a message whose handler was cut off back to waiting: a death counted, a re-run", async (t) => {
  for (const stage of ["started", "acked", "brain"] as const) {
    await t.step(stage, async () => {
      await using j = await journalWith([[4, { stage, deaths: 1, brainRun: "run-1", attempt: 2 }]]);
      const [held] = recoverHeld(j.journal, recordingLog().log).held;
      assert.equal(held.corrected, true);
      assert.equal(held.entry.stage, "received");
      assert.equal(held.entry.deaths, 2, "counts towards the poison limit");
      assert.equal(held.entry.rerun, stage === "brain", "a brain that ran: the reply says re-run");
      assert.equal(held.entry.brainRun, undefined, "its old brain's marker is gone");
      assert.match(held.entry.lastEnd ?? "", /cut off/);
      assert.equal(j.journal.read(4)?.stage, stage, "the disk is the scheduler's to write");
    });
  }
});

Deno.test("recoverHeld() tells of a cut entry whose ids can still be read, and logs every one", async () => {
  await using j = await journalWith([[2, {}]]);
  const whole = JSON.stringify(j.journal.read(2));
  // Message 8's entry, cut by a crash mid-write; message 9's, unreadable.
  Deno.writeTextFileSync(
    `${j.journal.dir}/8.json`,
    whole.replace(/"updateId":2/, '"updateId":8').slice(0, 120),
  );
  Deno.writeTextFileSync(`${j.journal.dir}/9.json`, '{"upd');
  const { log, lines } = recordingLog();
  const { held, lost } = recoverHeld(j.journal, log);
  assert.deepEqual(held.map((h) => h.entry.updateId), [2]);
  assert.deepEqual(lost, [{ updateId: 8, chatId: PERSON, messageId: 102 }]);
  const errors = lines.filter((l) => l.level === "error");
  assert.equal(errors.length, 2, "each set aside is an error in the log");
  assert.ok(errors.every((l) => /corrupt journal entry set aside/.test(l.message)));
});

/** A held message of `chatId` at `patch`, running when `running`. */
function held(
  updateId: number,
  patch: Partial<JournalEntry> & { running?: boolean; finished?: boolean; text?: string } = {},
): Held {
  const { running, finished, text, ...rest } = patch;
  const chatId = rest.chatId ?? PERSON;
  const entry: JournalEntry = {
    updateId,
    chatId,
    update: textUpdate(updateId, { chatId, text }),
    stage: "received",
    dispatches: 0,
    receivedAt: "",
    ...rest,
  };
  return {
    ...heldFor(entry, { journaled: true }),
    child: running ? {} as ChildRecord : undefined,
    finished,
  };
}

Deno.test("viewOf() tells a chat's running message, those waiting, those held up and one parked", () => {
  const view = viewOf([
    held(1, { running: true, stage: "brain" }),
    held(2),
    held(3, { parkedUntil: "2025-03-01T13:00:00.000Z" }),
    held(4, {
      stage: "answered",
      answer: { head: "", body: "", emoji: "", sent: 0, heldUpSince: "x" },
    }),
    held(5, { chatId: 2002 }),
    held(6, { chatId: 2002, running: true }),
  ], PERSON);
  assert.equal(view.running?.updateId, 1);
  assert.equal(view.waiting, 2, "2 and the parked 3");
  assert.equal(view.parked?.updateId, 3);
  assert.equal(view.delivering, 1);
  assert.equal(view.waitingInAll, 3, "and 5 of the other chat");
});

Deno.test("viewOf() counts no command, withdrawn, finished or replied message, nor an answer on its way", () => {
  const view = viewOf([
    held(1, { text: "/status" }),
    held(2, { withdrawn: true }),
    held(3, { finished: true }),
    held(4, { stage: "replied" }),
    held(5, {
      running: true,
      stage: "answered",
      answer: { head: "", body: "", emoji: "", sent: 0 },
    }),
  ], PERSON);
  assert.deepEqual(view, {
    running: undefined,
    waiting: 0,
    waitingInAll: 0,
    delivering: 0,
    parked: undefined,
  });
});

Deno.test("viewOf() counts a message as running from its handler's start, whatever its stage says", () => {
  for (const stage of ["started", "received"] as const) {
    const view = viewOf([held(1, { stage, running: true }), held(2)], PERSON);
    assert.equal(view.running?.updateId, 1);
    assert.equal(view.waiting, 1);
  }
  const view = viewOf([held(1, { stage: "started" }), held(2)], PERSON);
  assert.equal(view.running, undefined, "no handler: it waits (after a cut-off, say)");
  assert.equal(view.waiting, 2);
});
