/**
 * Unit tests for `lib/handler/claude_stream.ts`, on a stream recorded in the shapes of the CLI 2.1.330.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseStream, type StreamEvent, StreamParser } from "../lib/handler/claude_stream.ts";

const STREAM = Deno.readTextFileSync(new URL("./fixtures/claude_stream.jsonl", import.meta.url));
const LIMIT_STREAM = Deno.readTextFileSync(
  new URL("./fixtures/claude_stream_limit.jsonl", import.meta.url),
);

function notes(events: StreamEvent[]): string[] {
  return events.flatMap((e) => e.kind === "tool" || e.kind === "text" ? [e.note] : []);
}

Deno.test("parseStream() turns the recorded stream into notes, one limit-free result", () => {
  const events = parseStream(STREAM);
  assert.deepEqual(notes(events), [
    "💬 Let me look at the tests first, then the module they exercise.…",
    "🔧 Read tests/unit_split_test.ts",
    '🔧 Grep "export function splitMessage"',
    "🔧 Bash: deno test --allow-all tests/unit_split_test.ts 2>&1 | tail -20",
    "💬 The split is off by one: the boundary check uses `<=` where the part length…",
    "🔧 Edit lib/split.ts",
    "🔧 WebFetch core.telegram.org/bots/api#sendmessage",
    "🔧 TodoWrite: Running the whole test suite",
    "🔧 Bash: deno test --allow-all tests/",
    "💬 Fixed: `splitMessage()` compared with `<=` and let a part reach 4097 charact…",
  ]);
  assert.deepEqual(
    events.filter((e) => e.kind === "tool").map((e) => e.kind === "tool" && e.name),
    ["Read", "Grep", "Bash", "Edit", "WebFetch", "TodoWrite", "Bash"],
  );
  // Allowed and allowed_warning rate-limit events are not limits; thinking is not shown.
  assert.equal(events.filter((e) => e.kind === "limit").length, 0);
  assert.ok(!notes(events).some((n) => n.includes("The user wants")));
  for (const note of notes(events)) {
    assert.ok(note.length <= 80, `too long: ${note}`);
    assert.ok(!note.includes("\n"), `not one line: ${note}`);
  }
  assert.deepEqual(events.at(-1), {
    kind: "result",
    text:
      "Fixed: `splitMessage()` compared with `<=` and let a part reach 4097 characters; it now stays under 4096. All 212 tests pass.",
    isError: false,
    subtype: "success",
    sessionId: "4f1c2b7e-9a3d-4c5e-8b21-6d0e9f3a7c58",
    costUsd: 0.18425115,
    durationMs: 78342,
    turns: 9,
    terminalReason: "completed",
  });
  assert.equal(events.filter((e) => e.kind === "result").length, 1);
});

Deno.test("parseStream() reports a rejected rate-limit event with its reset time in ms", () => {
  const events = parseStream(LIMIT_STREAM);
  assert.deepEqual(events[0], { kind: "limit", status: "rejected", resetsAt: 1773496800_000 });
  const result = events.at(-1);
  assert.equal(result?.kind, "result");
  if (result?.kind !== "result") return;
  assert.equal(result.isError, true);
  assert.equal(result.subtype, "success");
  assert.equal(result.text, "You've hit your 5-hour limit · resets 3pm (Europe/Berlin)");
  assert.equal(result.costUsd, 0);
});

Deno.test("A rejected window paid for by overage is not a limit", () => {
  const line = JSON.stringify({
    type: "rate_limit_event",
    rate_limit_info: { status: "rejected", resetsAt: 1773496800, isUsingOverage: true },
  });
  assert.deepEqual(parseStream(line), []);
});

Deno.test("StreamParser gives the same events whatever the chunking", async (t) => {
  const whole = parseStream(STREAM);
  await t.step("one byte at a time", () => {
    const parser = new StreamParser();
    const events = [...STREAM].flatMap((ch) => parser.push(ch));
    assert.deepEqual([...events, ...parser.end()], whole);
  });
  await t.step("chunks split mid-line, with CRLF line ends", () => {
    const text = STREAM.replaceAll("\n", "\r\n");
    const parser = new StreamParser();
    const events: StreamEvent[] = [];
    for (let i = 0; i < text.length; i += 97) events.push(...parser.push(text.slice(i, i + 97)));
    assert.deepEqual([...events, ...parser.end()], whole);
  });
  await t.step("an event comes out as soon as its line is complete", () => {
    const line = STREAM.split("\n")[3]; // The Read tool_use.
    const parser = new StreamParser();
    assert.deepEqual(parser.push(line.slice(0, 50)), []);
    assert.deepEqual(parser.push(line.slice(50)), []);
    assert.deepEqual(notes(parser.push("\n")), [
      "🔧 Read /home/ana/src/forge/tests/unit_split_test.ts",
    ]);
  });
});

Deno.test("StreamParser skips what it cannot read and never throws", async (t) => {
  const lines = STREAM.trimEnd().split("\n");
  await t.step("a truncated last line", () => {
    const last = lines.at(-1)!;
    const parser = new StreamParser();
    const events = parser.push([...lines.slice(0, -1), last.slice(0, 120)].join("\n"));
    assert.deepEqual([...events, ...parser.end()], parseStream(lines.slice(0, -1).join("\n")));
    assert.ok(!events.some((e) => e.kind === "result"));
  });
  await t.step("a complete last line without its newline", () => {
    const parser = new StreamParser();
    const events = parser.push(lines.join("\n"));
    assert.ok(!events.some((e) => e.kind === "result"));
    assert.equal(parser.end()[0]?.kind, "result");
    assert.deepEqual(parser.end(), []);
  });
  await t.step("unknown event types, odd values and plain text", () => {
    const odd = [
      '{"type":"tool_progress","tool_use_id":"toolu_1","elapsed_time_seconds":3}',
      '{"type":"stream_event","event":{"type":"content_block_delta"}}',
      '{"type":"system","subtype":"status","status":"requesting"}',
      '{"type":"assistant","message":{"content":"not a list"}}',
      '{"type":"assistant","message":{"content":[null,7,{"type":"tool_use"},{"type":"text"}]}}',
      '{"type":"rate_limit_event"}',
      "[1,2,3]",
      "null",
      "Not logged in · Please run /login",
      "{broken",
      "",
    ].join("\n");
    assert.deepEqual(parseStream(odd), []);
  });
});

Deno.test("Tool notes are one short line, whatever the input", async (t) => {
  const note = (name: string, input: unknown) => {
    const line = JSON.stringify({
      type: "assistant",
      message: { content: [{ type: "tool_use", id: "toolu_1", name, input }] },
    });
    const [event] = parseStream(line);
    assert.equal(event?.kind, "tool");
    return event?.kind === "tool" ? event.note : "";
  };
  await t.step("each known tool by its telling field", () => {
    assert.equal(
      note("Write", { file_path: "/abs/README.md", content: "x" }),
      "🔧 Write /abs/README.md",
    );
    assert.equal(note("Glob", { pattern: "src/**/*.ts" }), "🔧 Glob src/**/*.ts");
    assert.equal(
      note("WebSearch", { query: "deno 2.9 release" }),
      '🔧 WebSearch "deno 2.9 release"',
    );
    assert.equal(
      note("NotebookEdit", { notebook_path: "/n.ipynb", new_source: "" }),
      "🔧 NotebookEdit /n.ipynb",
    );
    assert.equal(
      note("Task", { description: "Find the flaky test", prompt: "…" }),
      "🔧 Task: Find the flaky test",
    );
  });
  await t.step("the generic fallback", () => {
    assert.equal(note("mcp__github__list_issues", { repo: 1 }), "🔧 mcp__github__list_issues");
    assert.equal(note("Read", "not an object"), "🔧 Read");
    assert.equal(note("Skill", { path: "x" }), "🔧 Skill: x");
  });
  await t.step("long values cut with …, paths from the start, newlines gone", () => {
    const command = `echo ${"a".repeat(200)}\nrm -rf build`;
    const bash = note("Bash", { command });
    assert.equal(bash.length, 80);
    assert.ok(bash.startsWith("🔧 Bash: echo aaa") && bash.endsWith("…"));
    const path = `/${"deep/".repeat(30)}file.ts`;
    const read = note("Read", { file_path: path });
    assert.ok(read.length <= 80 && read.startsWith("🔧 Read …") && read.endsWith("/deep/file.ts"));
    const grep = note("Grep", { pattern: "x".repeat(120) });
    assert.ok(grep.length <= 80 && grep.endsWith('…"'));
    const emoji = note("Bash", { command: "🙂".repeat(60) });
    assert.ok(emoji.length <= 80 && emoji.isWellFormed());
    assert.ok(!note("Bash", { command: "a\r\nb\tc" }).match(/[\r\n\t]/));
  });
});

Deno.test("Text notes: the start of a block, skipping blank ones", () => {
  const text = (t: string) =>
    notes(
      parseStream(
        JSON.stringify({ type: "assistant", message: { content: [{ type: "text", text: t }] } }),
      ),
    );
  assert.deepEqual(text("Done."), ["💬 Done."]);
  assert.deepEqual(text("\n\n  First line  \nsecond"), ["💬 First line…"]);
  assert.deepEqual(text("   \n "), []);
  const long = text("word ".repeat(40))[0];
  assert.ok(long.length <= 80 && long.endsWith("…"));
});

Deno.test("A result without result text: errors, older cost field, is_error from the subtype", () => {
  const [result] = parseStream(JSON.stringify({
    type: "result",
    subtype: "error_max_turns",
    is_error: false,
    errors: ["Reached maximum number of turns (5)"],
    cost_usd: 0.5,
    num_turns: 5,
  }));
  assert.deepEqual(result, {
    kind: "result",
    text: "Reached maximum number of turns (5)",
    isError: true,
    subtype: "error_max_turns",
    costUsd: 0.5,
    turns: 5,
  });
});
