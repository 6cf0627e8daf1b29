/**
 * Unit tests for `lib/handler/claude_turn.ts`: one turn of the stand-in CLI
 * (`tests/stubs/claude-bin/claude`), a real process speaking stream-json on its stdin and stdout.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ClaudeTurn, type ClaudeTurnOptions, REFUSAL } from "../lib/handler/claude_turn.ts";
import type { ControlRequest } from "../lib/handler/claude_protocol.ts";
import { gone, isAlive, killAll, projectPath, tempDir, waitUntil } from "./_helpers.ts";

const STUB = projectPath("tests/stubs/claude-bin/claude");
const COMMAND = [
  STUB,
  "-p",
  "--input-format",
  "stream-json",
  "--output-format",
  "stream-json",
  "--verbose",
];

/** A folder for the stand-in's conversations and pids, and turns started in it. */
async function rig() {
  const dir = await tempDir("coord-claude-turn-");
  const env = {
    PATH: Deno.env.get("PATH")!,
    STUB_CLAUDE_DIR: `${dir.path}/conversations`,
    STUB_PID_DIR: dir.path,
    STUB_GATE_DIR: dir.path,
    COORD_UPDATE_ID: "1",
  };
  const turns: ClaudeTurn[] = [];
  /** Every pid the stand-in recorded (itself, and a lingering child). */
  const pids = () => {
    try {
      return Deno.readTextFileSync(`${dir.path}/claude-1`).split("\n").filter((l) => l).map(Number);
    } catch {
      return [];
    }
  };
  return {
    dir: dir.path,
    pids,
    start(message: string, options: Partial<ClaudeTurnOptions> = {}) {
      const turn = new ClaudeTurn(COMMAND, { env, killGraceMs: 300, ...options, message });
      turns.push(turn);
      return turn;
    },
    async [Symbol.asyncDispose]() {
      for (const turn of turns) await turn.finish();
      killAll(pids());
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("A turn ends at its result, though the CLI stays after it", async () => {
  await using r = await rig();
  const turn = r.start("linger here", { lingerMs: 1500, timeoutMs: 400 });
  const end = await turn.ended;
  assert.match(end.result?.text ?? "", /^turn 1 of [\w-]+: linger here$/);
  assert.equal(end.exit, undefined, "taken at the result, not at the exit");
  assert.equal(end.text, "Lingering after this.");
  assert.equal(turn.init?.version, "2.1.330-stub");
  assert.deepEqual(turn.init?.capabilities, ["interrupt_receipt_v1", "msg_lifecycle_v1"]);
  const [cli, child] = await waitUntil(() => r.pids().length === 2 ? r.pids() : undefined, {
    description: "the stand-in and its lingering child",
  });
  assert.ok(isAlive(cli) && isAlive(child), "the CLI lingers");

  // The time limit ran until the result only: the linger is waited out in full, then ended.
  const finishing = performance.now();
  const exit = await turn.finish();
  assert.ok(performance.now() - finishing >= 1400, "the linger was not cut by the time limit");
  assert.equal(exit.ended, true);
  assert.equal(exit.timedOut, false);
  await gone(cli);
  await gone(child);
  assert.equal(await turn.finish(), exit, "finish() is done once");
});

Deno.test("A CLI that exits by itself once its stdin closes is not ended", async () => {
  await using r = await rig();
  const turn = r.start("hello");
  const end = await turn.ended;
  assert.equal(end.text, "All done here.", "only the words after the last tool result");
  assert.equal(end.result?.costUsd, 0.0123);
  const exit = await turn.finish();
  assert.equal(exit.code, 0);
  assert.equal(exit.ended, undefined);
});

Deno.test("An empty result keeps the turn's last words", async () => {
  await using r = await rig();
  const end = await r.start("emptyresult please").ended;
  assert.equal(end.result?.text, "");
  assert.equal(end.text, "The words are in the text: emptyresult please");
});

Deno.test("A turn with no result by its time limit is ended, and says it timed out", async () => {
  await using r = await rig();
  const end = await r.start("wait", { timeoutMs: 300 }).ended;
  assert.equal(end.result, undefined);
  assert.equal(end.exit?.timedOut, true);
  await gone(r.pids()[0]);
});

Deno.test("A tool that asks for permission is refused at once, and the turn goes on", async (t) => {
  await t.step("by default, with the refusal the model reads", async () => {
    await using r = await rig();
    const end = await r.start("ask now", { timeoutMs: 20_000 }).ended;
    assert.equal(end.result?.text, `Bash: deny (${REFUSAL})`);
  });
  await t.step("by the caller's answer", async () => {
    await using r = await rig();
    const asked: ControlRequest[] = [];
    const end = await r.start("ask now", {
      timeoutMs: 20_000,
      onControlRequest: (request) => {
        asked.push(request);
        return Promise.resolve({
          response: { behavior: "allow", updatedInput: { command: "make fine" } },
        });
      },
    }).ended;
    assert.equal(end.result?.text, "Bash: allow (make fine)", "the input as allowed");
    assert.equal(asked.length, 1);
    assert.equal(asked[0].subtype, "can_use_tool");
    assert.equal(asked[0].requestId, "ask-1");
    assert.deepEqual(asked[0].request.input, { command: "rm -rf build" });
  });
  await t.step("by an error answer, when the caller's answer fails", async () => {
    await using r = await rig();
    const end = await r.start("ask now", {
      timeoutMs: 20_000,
      onControlRequest: () => Promise.reject(new Error("no answer here")),
    }).ended;
    assert.equal(end.result?.text, "Bash: error (no answer here)");
  });
});

Deno.test("send() writes a user line into the running turn; interrupt() ends it", async () => {
  await using r = await rig();
  let stdout = "";
  const turn = r.start("wait", { timeoutMs: 20_000, onStdout: (text) => stdout += text });
  assert.equal(await turn.send("and use staging", "u-1"), true);
  await waitUntil(() => stdout.includes("heard: and use staging") ? true : undefined, {
    description: "the steer line heard",
  });
  const answer = await turn.interrupt();
  assert.deepEqual(answer, { requestId: "interrupt-1", ok: true });
  const end = await turn.ended;
  assert.equal(end.result?.text, "interrupted; heard: and use staging");
  assert.equal(end.result?.terminalReason, "aborted_streaming");
  assert.equal(end.result?.consumed?.[1], "u-1", "the turn says it took the line in");
  assert.equal(end.result?.consumed?.length, 2, "its prompt's uuid, then the steer's");
  assert.equal(await turn.send("too late", "u-2"), false, "nothing goes into a turn that is over");
  assert.equal(await turn.interrupt(), undefined);
});

Deno.test("A CLI whose result left out a line sent into the turn is ended at once, before it runs the line", async (t) => {
  const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
  await t.step("a line the turn left out", async () => {
    await using r = await rig();
    let stdout = "";
    const turn = r.start("wait g", { onStdout: (text) => stdout += text, lingerMs: 20_000 });
    assert.equal(await turn.send("late, after its last inference", "u-1"), true);
    await waitUntil(() => exists(`${r.dir}/conversations/held-late`), {
      description: "the CLI to hold the line",
    });
    Deno.writeTextFileSync(`${r.dir}/g`, "");
    const end = await turn.ended;
    assert.deepEqual(end.result?.consumed?.includes("u-1"), false, "the result leaves it out");
    const exit = await turn.finish();
    assert.equal(exit.ended, true, "ended, not waited for");
    assert.equal(await exists(`${r.dir}/conversations/ran-late`), false, "the line never ran");
    assert.doesNotMatch(stdout, /heard late/);
  });
  await t.step("every line taken in: the CLI exits by itself once its stdin closes", async () => {
    await using r = await rig();
    let stdout = "";
    const turn = r.start("wait g", { onStdout: (text) => stdout += text, lingerMs: 20_000 });
    assert.equal(await turn.send("and use staging", "u-1"), true);
    await waitUntil(() => stdout.includes("heard: and use staging") || undefined, {
      description: "the line heard",
    });
    Deno.writeTextFileSync(`${r.dir}/g`, "");
    const end = await turn.ended;
    assert.equal(end.result?.consumed?.includes("u-1"), true);
    const exit = await turn.finish();
    assert.equal(exit.ended, undefined, "not ended");
    assert.equal(exit.code, 0);
  });
});
