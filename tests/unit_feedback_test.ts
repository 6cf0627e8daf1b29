/**
 * Unit tests for `lib/handler/feedback.ts`: the reactions are Telegram's, set and shown against the
 * Bot API simulator; a failure is logged and never thrown; a message's reactions land in the order
 * they were asked for.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type Reaction,
  reactionChain,
  REACTIONS,
  setReaction,
  showTyping,
} from "../lib/handler/feedback.ts";
import { ALLOWED_REACTIONS } from "./sim/emoji.ts";
import type { Fault } from "./sim/simulator.ts";
import { messageRig, recordingLog, withDeadline } from "./_helpers.ts";

const CHAT = 1001;

/** A simulator with the person's message in it, a client, and what it logged; closed on dispose. */
async function rig() {
  const m = await messageRig(CHAT);
  const { sim, ids: ref, api } = m;
  const signals: (AbortSignal | undefined)[] = [];
  api.config.use((prev, method, payload, signal) => {
    signals.push(signal as AbortSignal | undefined);
    return prev(method, payload, signal);
  });
  const { log, lines } = recordingLog();
  return {
    sim,
    ref,
    api,
    log,
    lines,
    signals,
    /** The answered calls of `method`, in arrival order. */
    calls: (method: string) => sim.calls.filter((c) => c.method === method),
    [Symbol.asyncDispose]: () => m[Symbol.asyncDispose](),
  };
}

/** What {@linkcode rig} makes. */
type Rig = Awaited<ReturnType<typeof rig>>;

Deno.test("REACTIONS are all in Telegram's list of allowed emoji, in their plain form", () => {
  for (const [meaning, emoji] of Object.entries(REACTIONS)) {
    assert.ok(ALLOWED_REACTIONS.has(emoji), `${meaning}: ${emoji} is not one Telegram allows`);
    assert.ok(!emoji.includes("\uFE0F"), `${meaning}: ${emoji} carries U+FE0F`);
  }
  assert.equal(new Set(Object.values(REACTIONS)).size, Object.keys(REACTIONS).length, "distinct");
});

Deno.test("setReaction() sets one emoji on the message, replacing the one before", async () => {
  await using r = await rig();
  await setReaction(r.ref, REACTIONS.received, r);
  assert.equal(r.sim.reaction(CHAT, r.ref.messageId), "👀");
  await setReaction(r.ref, REACTIONS.working, r);
  assert.equal(r.sim.reaction(CHAT, r.ref.messageId), "✍");
  assert.deepEqual(r.calls("setMessageReaction")[1].params.reaction, [
    { type: "emoji", emoji: "✍" },
  ]);
  assert.deepEqual(r.lines, [], "nothing to log");
});

Deno.test("setReaction() and showTyping() bound every call with a signal (no call may hang on)", async () => {
  await using r = await rig();
  await setReaction(r.ref, REACTIONS.done, r);
  await showTyping(r.ref, r);
  assert.equal(r.signals.length, 2);
  for (const signal of r.signals) assert.ok(signal instanceof AbortSignal, "a signal is given");
});

Deno.test("setReaction() and showTyping() give up a call that hangs after their bound, logging it", async (t) => {
  const calls = [
    ["setMessageReaction", (r: Rig) => setReaction(r.ref, REACTIONS.done, { ...r, callMs: 100 })],
    ["sendChatAction", (r: Rig) => showTyping(r.ref, { ...r, callMs: 100 })],
  ] as const;
  for (const [method, call] of calls) {
    await t.step(method, async () => {
      await using r = await rig();
      r.sim.injectFault({ method, fault: { kind: "hang" } });
      const started = performance.now();
      await withDeadline(call(r), `${method} to give up`, 2000);
      const took = performance.now() - started;
      assert.ok(took >= 90, `given up after ${took} ms, not before its bound`);
      await r.sim.waitForCall((c) => c.method === method && c.dropped === true, {
        timeoutMs: 2000,
        description: "the client to leave the hanging call",
      });
      assert.equal(r.lines.length, 1, "the give-up is logged");
      assert.equal(r.lines[0].level, "warn");
    });
  }
});

Deno.test("setReaction() logs a refused or failed reaction and never throws", async (t) => {
  const cases: [string, Fault | undefined, { emoji?: Reaction; messageId?: number }][] = [
    ["an emoji Telegram won't take", undefined, { emoji: "✅" as Reaction }],
    ["a message that is gone", undefined, { messageId: 999_999 }],
    ["a 500", { kind: "internal" }, {}],
    ["an HTML 502", { kind: "badGateway" }, {}],
    ["a cut connection", { kind: "refused" }, {}],
  ];
  for (const [what, fault, change] of cases) {
    await t.step(what, async () => {
      await using r = await rig();
      if (fault) r.sim.injectFault({ method: "setMessageReaction", fault });
      const emoji = change.emoji ?? REACTIONS.done;
      const ref = { ...r.ref, messageId: change.messageId ?? r.ref.messageId };
      await setReaction(ref, emoji, r);
      assert.equal(r.lines.length, 1, "one line");
      const [line] = r.lines;
      assert.equal(line.level, "warn");
      assert.match(line.message, /reaction \{emoji\} not set on update \{updateId\}/);
      assert.equal(line.props.emoji, emoji);
      assert.equal(line.props.updateId, r.ref.updateId);
      assert.ok(!String(line.props.error).includes(r.sim.token), "the token stays out of the log");
    });
  }
});

Deno.test("showTyping() sends the typing action to the chat", async () => {
  await using r = await rig();
  await showTyping(r.ref, r);
  const [call] = r.calls("sendChatAction");
  assert.deepEqual([call.params.chat_id, call.params.action, call.status], [CHAT, "typing", 200]);
});

Deno.test("showTyping() logs a failure and never throws", async () => {
  await using r = await rig();
  r.sim.injectFault({ method: "sendChatAction", fault: { kind: "internal" } });
  await showTyping(r.ref, r);
  assert.equal(r.lines.length, 1);
  assert.equal(r.lines[0].level, "warn");
  assert.match(String(r.lines[0].props.error), /500 Internal Server Error/);
});

Deno.test("reactionChain() sets a message's reactions in the order asked, even when one call is slow", async () => {
  await using r = await rig();
  r.sim.injectFault({ method: "setMessageReaction", fault: { kind: "delay", ms: 300 } });
  const react = reactionChain(r.ref, r);
  void react(REACTIONS.received);
  void react(REACTIONS.working);
  await react(REACTIONS.done);
  const calls = r.calls("setMessageReaction");
  assert.deepEqual(
    calls.map((c) => (c.params.reaction as { emoji: string }[])[0].emoji),
    ["👀", "✍", "👌"],
  );
  for (let i = 1; i < calls.length; i++) {
    assert.ok(calls[i].at >= calls[i - 1].endedAt!, `call ${i + 1} went out before ${i} ended`);
  }
  assert.equal(r.sim.reaction(CHAT, r.ref.messageId), "👌", "the last asked is the one shown");
});

Deno.test("reactionChain() goes on after a reaction that failed", async () => {
  await using r = await rig();
  r.sim.injectFault({ method: "setMessageReaction", fault: { kind: "internal" } });
  const react = reactionChain(r.ref, r);
  await react(REACTIONS.working);
  await react(REACTIONS.failed);
  assert.equal(r.sim.reaction(CHAT, r.ref.messageId), "👎");
  assert.equal(r.lines.length, 1, "the failure logged");
});
