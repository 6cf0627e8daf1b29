/**
 * Unit tests for `lib/handler/turn_link.ts`: what reaches a working brain over the line. A steer
 * goes into a running Claude turn only (before the turn, after it, or for another brain it is
 * reported not taken, and waits its turn); an interrupt reaches the turn, or ends the work
 * outright; an answer to an ask is taken only for an ask the brain waits for.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ClaudeTurn } from "../lib/handler/claude_turn.ts";
import type { TurnEnd } from "../lib/handler/claude_transcript.ts";
import { entryRecord } from "../lib/handler/entry_record.ts";
import { TurnLink } from "../lib/handler/turn_link.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import type { Steer } from "../lib/shared/line.ts";
import { recordingLog, testLine, waitUntil } from "./_helpers.ts";

const ENTRY: JournalEntry = {
  updateId: 1,
  chatId: 1001,
  update: { update_id: 1, message: { message_id: 101, chat: { id: 1001 } } },
  stage: "started",
  dispatches: 1,
  receivedAt: "2025-01-01T00:00:00.000Z",
};
const STEER: Steer = { updateId: 2, messageId: 102, text: "and the staging server" };

/** A link on a test line, a fake turn that records what it was sent, and the reactions set. */
function rig(options: { steerable?: boolean } = {}) {
  const t = testLine();
  const { log } = recordingLog();
  const record = entryRecord(ENTRY, { log, report: (r) => t.line.report(r) });
  const reactions: [number, string][] = [];
  const link = new TurnLink({
    line: t.line,
    record,
    steerable: options.steerable ?? true,
    react: (messageId, emoji) => reactions.push([messageId, emoji]),
  });
  const sent: string[] = [];
  const uuids: string[] = [];
  let interrupts = 0;
  const ended = Promise.withResolvers<TurnEnd>();
  const turn = {
    send: (
      text: string,
      uuid: string,
    ) => (sent.push(text), uuids.push(uuid), Promise.resolve(true)),
    interrupt: () => (interrupts++, Promise.resolve(undefined)),
    ended: ended.promise,
  } as unknown as ClaudeTurn;
  void t.line.listen(ENTRY.updateId);
  const steered = () => t.reports.filter((r) => r.kind === "steered");
  /** The turn's result, which lists the user lines it consumed (`undefined`: an older CLI). */
  const endTurn = (consumed?: string[]) =>
    ended.resolve({ text: "done", result: { text: "done", isError: false, consumed } });
  return {
    t,
    link,
    record,
    reactions,
    turn,
    sent,
    uuids,
    endTurn,
    interrupts: () => interrupts,
    steered,
  };
}

Deno.test("a steer goes into a running Claude turn: sent as a user line, recorded, ✍, reported taken", async () => {
  const r = rig();
  r.link.brainStarts();
  r.link.onTurn(r.turn);
  r.t.send({ kind: "steer", steer: STEER });
  await waitUntil(() => r.steered().length === 1, { description: "the steer's report" });
  assert.deepEqual(r.sent, [STEER.text]);
  assert.deepEqual(r.record.read().steers, [STEER], "kept for a re-run");
  assert.deepEqual(r.reactions, [[102, "✍"]]);
  assert.deepEqual(r.steered()[0], { kind: "steered", updateId: 1, steerUpdateId: 2, taken: true });
  r.t.close();
});

Deno.test("a steer the turn's result says it did not consume is taken back: out of the entry, reported not taken", async (t) => {
  const STEER2: Steer = { updateId: 3, messageId: 103, text: "too late" };
  await t.step("the result lists the first steer, not the second", async () => {
    const r = rig();
    r.link.brainStarts();
    r.link.onTurn(r.turn);
    r.t.send({ kind: "steer", steer: STEER });
    r.t.send({ kind: "steer", steer: STEER2 });
    await waitUntil(() => r.steered().length === 2, { description: "both reported taken" });
    assert.deepEqual(r.record.read().steers, [STEER, STEER2]);
    r.endTurn(["prompt-uuid", r.uuids[0]]);
    await waitUntil(() => r.steered().length === 3, { description: "the take-back" });
    assert.deepEqual(r.steered()[2], {
      kind: "steered",
      updateId: 1,
      steerUpdateId: 3,
      taken: false,
      reason: "late",
    });
    assert.deepEqual(r.record.read().steers, [STEER], "a re-run leaves it out too");
    assert.deepEqual(r.link.steers, [STEER], "its message is not answered with this one");
    r.t.close();
  });
  await t.step("an older CLI, whose result doesn't say: what was written counts", async () => {
    const r = rig();
    r.link.brainStarts();
    r.link.onTurn(r.turn);
    r.t.send({ kind: "steer", steer: STEER });
    await waitUntil(() => r.steered().length === 1, { description: "reported taken" });
    r.endTurn(undefined);
    await r.turn.ended;
    // Reports are synchronous: anything the end caused is out by the next tick.
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(r.steered().length, 1, "nothing taken back");
    assert.deepEqual(r.record.read().steers, [STEER]);
    r.t.close();
  });
});

Deno.test("a steer before the turn runs, after it, or for a brain that can't take one waits its turn", async (t) => {
  await t.step(
    "before the brain starts (its input may end the message without a brain)",
    async () => {
      const r = rig();
      r.t.send({ kind: "steer", steer: STEER });
      await waitUntil(() => r.steered().length === 1, { description: "the report" });
      assert.deepEqual(r.steered()[0], {
        kind: "steered",
        updateId: 1,
        steerUpdateId: 2,
        taken: false,
        reason: "late",
      });
      assert.equal(r.record.read().steers, undefined);
      assert.deepEqual(r.reactions, []);
      r.t.close();
    },
  );
  await t.step("after the brain", async () => {
    const r = rig();
    r.link.brainStarts();
    r.link.onTurn(r.turn);
    r.link.brainEnded();
    r.t.send({ kind: "steer", steer: STEER });
    await waitUntil(() => r.steered().length === 1, { description: "the report" });
    assert.equal(r.steered()[0].kind === "steered" && r.steered()[0].reason, "late");
    assert.deepEqual(r.sent, []);
    r.t.close();
  });
  await t.step("a brain that is not the Claude driver", async () => {
    const r = rig({ steerable: false });
    r.link.brainStarts();
    r.t.send({ kind: "steer", steer: STEER });
    await waitUntil(() => r.steered().length === 1, { description: "the report" });
    assert.equal(r.steered()[0].kind === "steered" && r.steered()[0].reason, "plain");
    r.t.close();
  });
});

Deno.test("an interrupt reaches the running turn; before the brain, or for another brain, it ends the work", async (t) => {
  await t.step("a running turn is interrupted, and keeps who asked", async () => {
    const r = rig();
    r.link.brainStarts();
    r.link.onTurn(r.turn);
    r.t.send({ kind: "interrupt", by: "/stop" });
    await waitUntil(() => r.interrupts() === 1, { description: "the interrupt" });
    assert.equal(r.link.interruptedBy, "/stop");
    assert.equal(r.t.line.cancel.aborted, false, "not cancelled: the turn answers");
    r.t.close();
  });
  await t.step("before the brain it cancels, by whom it says", async () => {
    const r = rig();
    r.t.send({ kind: "interrupt", by: "Stop" });
    await waitUntil(() => r.t.line.cancel.aborted, { description: "the cancel" });
    assert.equal(r.t.line.cancelledBy, "Stop");
    r.t.close();
  });
});

Deno.test("an answer counts only for an ask the brain waits for", async () => {
  const r = rig();
  r.link.asking(1, "Bash");
  r.t.send({ kind: "approval", seq: 2, decision: "allow" });
  r.t.send({ kind: "approval", seq: 1, decision: "deny" });
  assert.equal(await r.link.answer(1), "deny");
  r.link.asking(1, undefined);
  assert.equal(r.record.read().asking, undefined, "no longer asked");
  r.t.close();
});
