/**
 * Unit tests for `lib/handler/claude_protocol.ts`: the CLI's stream-json lines read, and ours
 * written, in the shapes the 2.1.330 binary and the Agent SDK use.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  controlRequestLine,
  controlResponseLine,
  parseCliLine,
  userLine,
} from "../lib/handler/claude_protocol.ts";

const line = (value: unknown) => JSON.stringify(value);

Deno.test("userLine() is the SDK's user message with its uuid, one line, whatever the text holds", () => {
  const text = 'two\nlines, "quoted" and ✓';
  const written = userLine(text, "u-0");
  assert.ok(written.endsWith("\n") && !written.slice(0, -1).includes("\n"));
  assert.deepEqual(JSON.parse(written), {
    type: "user",
    message: { role: "user", content: text },
    parent_tool_use_id: null,
    uuid: "u-0",
  });
});

Deno.test("userLine() for a steer carries its uuid and asks to be folded into the running turn", () => {
  assert.deepEqual(JSON.parse(userLine("and staging", "u-1", { steer: true })), {
    type: "user",
    message: { role: "user", content: "and staging" },
    parent_tool_use_id: null,
    uuid: "u-1",
    priority: "next",
  });
});

Deno.test("parseCliLine() reads which user lines the result's turn consumed, when the CLI says", () => {
  const said = parseCliLine(line({
    type: "result",
    subtype: "success",
    result: "ok",
    user_message_uuid: "u-2",
    user_message_uuids: ["u-1", 3, "u-2"],
  }));
  assert.deepEqual(said?.type === "result" && said.result.consumed, ["u-1", "u-2"]);
  const older = parseCliLine(line({ type: "result", subtype: "success", result: "ok" }));
  assert.equal(older?.type === "result" && "consumed" in older.result, false, "unknown, not none");
});

Deno.test("control lines: our request, and our answers to the CLI's", () => {
  assert.deepEqual(JSON.parse(controlRequestLine("r1", { subtype: "interrupt" })), {
    type: "control_request",
    request_id: "r1",
    request: { subtype: "interrupt" },
  });
  const deny = { behavior: "deny", message: "no" };
  assert.deepEqual(JSON.parse(controlResponseLine("c1", { response: deny })), {
    type: "control_response",
    response: { subtype: "success", request_id: "c1", response: deny },
  });
  assert.deepEqual(JSON.parse(controlResponseLine("c2", { error: "unknown" })), {
    type: "control_response",
    response: { subtype: "error", request_id: "c2", error: "unknown" },
  });
});

Deno.test("parseCliLine() reads init, assistant, tool results, limits, control lines", async (t) => {
  await t.step("init: the version and capabilities", () => {
    const init = parseCliLine(line({
      type: "system",
      subtype: "init",
      session_id: "s1",
      claude_code_version: "2.1.330",
      capabilities: ["interrupt_receipt_v1", 7, "msg_lifecycle_v1"],
      cwd: "/w",
    }));
    assert.deepEqual(init, {
      type: "init",
      init: {
        sessionId: "s1",
        version: "2.1.330",
        capabilities: ["interrupt_receipt_v1", "msg_lifecycle_v1"],
        cwd: "/w",
      },
    });
    const old = parseCliLine(line({ type: "system", subtype: "init", session_id: "s" }));
    assert.deepEqual(old, { type: "init", init: { sessionId: "s", capabilities: [] } });
  });
  await t.step("assistant: its words, a tool call, an API error, a subagent's line", () => {
    const content = [
      { type: "thinking", thinking: "hm" },
      { type: "text", text: "Here." },
      { type: "tool_use", id: "t", name: "Read", input: {} },
    ];
    assert.deepEqual(parseCliLine(line({ type: "assistant", message: { content } })), {
      type: "assistant",
      assistant: { texts: ["Here."], toolUse: true, subagent: false },
    });
    const wrapped = parseCliLine(line({
      type: "assistant",
      message: { content: [{ type: "text", text: "Not logged in" }] },
      parent_tool_use_id: "toolu_1",
      error: "authentication_failed",
    }));
    assert.deepEqual(wrapped, {
      type: "assistant",
      assistant: {
        texts: ["Not logged in"],
        toolUse: false,
        subagent: true,
        error: "authentication_failed",
      },
    });
  });
  await t.step("a tool result, and a rejected limit (only that one)", () => {
    assert.deepEqual(parseCliLine(line({ type: "user", message: { content: [] } })), {
      type: "tool_result",
      subagent: false,
    });
    const limit = (info: unknown) =>
      parseCliLine(line({ type: "rate_limit_event", rate_limit_info: info }));
    assert.deepEqual(limit({ status: "rejected", resetsAt: 1773496800 }), {
      type: "limit",
      limit: { resetsAt: 1773496800_000 },
    });
    assert.equal(limit({ status: "allowed_warning", resetsAt: 1 }), undefined);
    assert.equal(limit({ status: "rejected", isUsingOverage: true }), undefined);
    assert.equal(parseCliLine(line({ type: "rate_limit_event" })), undefined, "a bare one");
  });
  await t.step("the CLI's request, and its answer to ours", () => {
    const request = { subtype: "can_use_tool", tool_name: "Bash", input: { command: "ls" } };
    assert.deepEqual(
      parseCliLine(line({ type: "control_request", request_id: "c1", request })),
      { type: "control_request", request: { requestId: "c1", subtype: "can_use_tool", request } },
    );
    assert.deepEqual(
      parseCliLine(line({
        type: "control_response",
        response: { subtype: "success", request_id: "r1", response: { ok: 1 } },
      })),
      { type: "control_response", response: { requestId: "r1", ok: true, response: { ok: 1 } } },
    );
    assert.equal(parseCliLine(line({ type: "control_request", request: {} })), undefined);
  });
});

Deno.test("parseCliLine() reads the result's error fields, and skips what it doesn't know", () => {
  const result = parseCliLine(line({
    type: "result",
    subtype: "success",
    is_error: true,
    api_error_status: 529,
    terminal_reason: "api_error",
    result: "Overloaded",
    session_id: "s",
    total_cost_usd: 0,
    num_turns: 1,
  }));
  assert.deepEqual(result, {
    type: "result",
    result: {
      text: "Overloaded",
      isError: true,
      subtype: "success",
      sessionId: "s",
      costUsd: 0,
      turns: 1,
      apiErrorStatus: 529,
      terminalReason: "api_error",
    },
  });
  const nullStatus = parseCliLine(line({ type: "result", is_error: true, api_error_status: null }));
  assert.equal(nullStatus?.type === "result" && "apiErrorStatus" in nullStatus.result, false);
  for (
    const skipped of [
      line({ type: "stream_event", event: {} }),
      line({ type: "system", subtype: "api_retry", attempt: 1 }),
      line({ type: "assistant" }),
      "not json",
      '{"type":"result"',
      "[1,2]",
    ]
  ) {
    assert.equal(parseCliLine(skipped), undefined, skipped);
  }
});
