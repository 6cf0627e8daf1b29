/**
 * Unit tests for `lib/handler/claude_transcript.ts`: a turn's stdout lines (recorded streams and
 * hand-made ones) read into what the turn said and how it ended.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseCliLine } from "../lib/handler/claude_protocol.ts";
import { type TurnEnd, TurnTranscript } from "../lib/handler/claude_transcript.ts";

const STREAM = Deno.readTextFileSync(new URL("./fixtures/claude_stream.jsonl", import.meta.url));
const LIMIT_STREAM = Deno.readTextFileSync(
  new URL("./fixtures/claude_stream_limit.jsonl", import.meta.url),
);

/** Feeds `lines` to a transcript up to the result; returns its end, and the lines left after. */
function read(lines: string[]): { end?: TurnEnd; after: number; transcript: TurnTranscript } {
  const transcript = new TurnTranscript();
  for (const [i, text] of lines.entries()) {
    const line = parseCliLine(text);
    const result = line === undefined ? undefined : transcript.take(line);
    if (result !== undefined) {
      return { end: transcript.end({ result }), after: lines.length - i - 1, transcript };
    }
  }
  return { after: 0, transcript };
}

const line = (value: unknown) => JSON.stringify(value);
const assistant = (content: unknown[], more = {}) =>
  line({ type: "assistant", message: { content }, ...more });
const text = (t: string) => ({ type: "text", text: t });
const toolUse = { type: "tool_use", id: "t", name: "Read", input: {} };
const toolResult = line({ type: "user", message: { content: [{ type: "tool_result" }] } });
const result = (fields = {}) =>
  line({ type: "result", subtype: "success", is_error: false, result: "", ...fields });

Deno.test("A recorded turn: its result, its last words, its init; skipped what it doesn't know", () => {
  const { end, after, transcript } = read(STREAM.trim().split("\n"));
  assert.equal(after, 0, "the result is the last line");
  assert.equal(end?.result?.turns, 9);
  assert.match(end?.text ?? "", /^Fixed: `splitMessage\(\)` compared with `<=`/);
  assert.ok(!end?.text.includes("Let me look"), "words before a tool call are not the answer");
  assert.equal(end?.limit, undefined, "allowed limit events are no limit");
  assert.equal(end?.apiError, undefined);
  assert.equal(transcript.init?.version, "2.1.330");
});

Deno.test("A recorded usage limit: the rejected event, the wrapped API error, the 429", () => {
  const { end } = read(LIMIT_STREAM.trim().split("\n"));
  assert.deepEqual(end?.limit, { resetsAt: 1773496800_000 });
  assert.equal(end?.apiError, "rate_limit");
  assert.equal(end?.result?.apiErrorStatus, 429);
  assert.match(end?.text ?? "", /^You've hit your 5-hour limit/);
});

Deno.test("The words that answer: after the last tool result, the turn's own, all of them", async (t) => {
  await t.step("an empty result after text keeps the text, blocks joined", () => {
    const { end } = read([
      assistant([text("Looking."), toolUse]),
      toolResult,
      assistant([text("First part.")]),
      assistant([text("  "), text("Second part.")]),
      result(),
    ]);
    assert.equal(end?.result?.text, "");
    assert.equal(end?.text, "First part.\n\nSecond part.");
  });
  await t.step("a subagent's lines are not the turn's", () => {
    const { end } = read([
      assistant([text("Mine.")]),
      assistant([text("The subagent's.")], { parent_tool_use_id: "toolu_1" }),
      line({ type: "user", message: { content: [] }, parent_tool_use_id: "toolu_1" }),
      result(),
    ]);
    assert.equal(end?.text, "Mine.");
  });
  await t.step("a turn that ended on a tool result has no words", () => {
    const { end } = read([assistant([text("Let me check."), toolUse]), toolResult, result()]);
    assert.equal(end?.text, "");
  });
  await t.step("lines of unknown types and broken lines change nothing", () => {
    const { end } = read([
      assistant([text("Answer.")]),
      line({ type: "stream_event", event: { type: "content_block_delta" } }),
      line({ type: "system", subtype: "api_retry", attempt: 1 }),
      line({ type: "tool_progress", tool_use_id: "t" }),
      line({ type: "control_request", request_id: "c", request: { subtype: "can_use_tool" } }),
      '{"type":"user",',
      result({ result: "Answer." }),
    ]);
    assert.equal(end?.text, "Answer.");
  });
});

Deno.test("An exit without a result is an end too, with the words said so far", () => {
  const transcript = new TurnTranscript();
  transcript.take(parseCliLine(assistant([text("Half.")]))!);
  const exit = { code: 1, stdout: "", stderr: "boom", timedOut: false, aborted: false };
  assert.deepEqual(transcript.end({ exit }), { exit, text: "Half." });
});
