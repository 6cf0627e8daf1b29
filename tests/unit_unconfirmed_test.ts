/**
 * Unit tests for `lib/loop/unconfirmed.ts`: the updates taken in this run that Telegram may send
 * again, and those not yet journaled, which must not be confirmed; with a `record` scripted by
 * hand standing in for the disk.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Recorded } from "../lib/loop/disk.ts";
import { type Held, heldFor } from "../lib/loop/held.ts";
import { Unconfirmed } from "../lib/loop/unconfirmed.ts";
import { recordingLog, textUpdate } from "./_helpers.ts";

/** A held update: a message, or with `text` a command (which does not take a turn). */
function held(updateId: number, text?: string): Held {
  return heldFor({
    updateId,
    chatId: 1001,
    update: textUpdate(updateId, { text }),
    stage: "received",
    dispatches: 0,
    receivedAt: "",
  }, { journaled: false });
}

/**
 * Runs `journal()` with the disk answering from `answers` by update id ("new" when not said), the
 * updates in `gone` no longer held; returns what was recorded, released and logged.
 */
function journal(
  unconfirmed: Unconfirmed,
  answers: Record<number, Recorded> = {},
  gone: number[] = [],
) {
  const recorded: number[] = [];
  const released: number[] = [];
  const { log, lines } = recordingLog();
  unconfirmed.journal({
    record: (h) => {
      recorded.push(h.entry.updateId);
      return answers[h.entry.updateId] ?? "new";
    },
    isHeld: (id) => !gone.includes(id),
    release: (h) => released.push(h.entry.updateId),
    log,
  });
  return { recorded, released, lines };
}

Deno.test("Unconfirmed journals what waits in order, and releases each once journaled", () => {
  const u = new Unconfirmed();
  const items = [held(1), held(2), held(3)];
  for (const item of items) u.add(item);
  assert.equal(u.first(), 1, "nothing journaled yet: nothing confirmed");
  const { recorded, released } = journal(u);
  assert.deepEqual(recorded, [1, 2, 3]);
  assert.deepEqual(released, [1, 2, 3]);
  assert.ok(items.every((h) => h.journaled));
  assert.equal(u.first(), undefined, "all may be confirmed");
  assert.deepEqual(journal(u).recorded, [], "each is journaled once");
});

Deno.test("Unconfirmed stops at the first update the disk refuses: it and all after it stay unconfirmed", () => {
  const u = new Unconfirmed();
  for (const id of [1, 2, 3]) u.add(held(id));
  const first = journal(u, { 2: "failed" });
  assert.deepEqual(first.recorded, [1, 2], "none after the refusal is tried");
  assert.deepEqual(first.released, [1], "a message goes on only once journaled");
  assert.equal(u.first(), 2);

  const again = journal(u);
  assert.deepEqual(again.recorded, [2, 3], "tried again, in order");
  assert.deepEqual(again.released, [2, 3]);
  assert.equal(u.first(), undefined);
});

Deno.test("Unconfirmed hands a desk update on at once, journaled or not: /status is answered while the disk fails", () => {
  const u = new Unconfirmed();
  const status = held(2, "/status");
  u.add(held(1));
  u.add(status);
  const { recorded, released } = journal(u, { 1: "failed" });
  assert.deepEqual(recorded, [1]);
  assert.deepEqual(released, [2], "the command, not the message");
  assert.equal(status.journaled, false);
  assert.equal(u.first(), 1);
});

Deno.test("Unconfirmed forgets an update no longer held (its job done) without journaling it", () => {
  const u = new Unconfirmed();
  u.add(held(1, "/status"));
  u.add(held(2));
  const { recorded, released } = journal(u, { 2: "failed" }, [1]);
  assert.deepEqual(recorded, [2]);
  assert.deepEqual(released, []);
  assert.equal(u.first(), 2, "1 may be confirmed: it is done");
});

Deno.test("Unconfirmed: an update already in the journal is logged and released all the same", () => {
  const u = new Unconfirmed();
  const item = held(4);
  u.add(item);
  const { released, lines } = journal(u, { 4: "known" });
  assert.deepEqual(released, [4]);
  assert.equal(item.journaled, true);
  assert.ok(lines.some((l) => /in the journal already/.test(l.message) && l.props.updateId === 4));
});

Deno.test("Unconfirmed.has() knows every update taken until it is confirmed, then forgets it", () => {
  const u = new Unconfirmed();
  u.seen(1); // from the journal, at start
  u.add(held(2));
  u.add(held(5));
  assert.deepEqual([1, 2, 5, 7].map((id) => u.has(id)), [true, true, true, false]);
  journal(u, { 5: "failed" });
  assert.equal(u.first(), 5);
  // Below 5 the next getUpdates confirms everything: Telegram never sends it again.
  assert.deepEqual([1, 2, 5].map((id) => u.has(id)), [false, false, true]);
  journal(u);
  assert.equal(u.first(), undefined);
  assert.equal(u.has(5), false);
});
