/**
 * The Claude Code CLI's stream-json protocol, both ways, as the Claude driver speaks it
 * (`claude -p --input-format stream-json --output-format stream-json --verbose`): one JSON object
 * a line on stdin and on stdout. Checked against the 2.1.330 binary's own schemas and a real run
 * (`strings bin/claude.exe`; an offline run prints init, a `<synthetic>` assistant text and the
 * result) and the Agent SDK's `subprocess_cli.py`/`query.py`.
 *
 * Written on stdin:
 * - the person's message, `{"type":"user","message":{"role":"user","content":"…"},
 *   "parent_tool_use_id":null,"uuid":"…"}`; more user lines may follow while a turn runs (with
 *   `"priority":"next"`);
 * - `{"type":"control_request","request_id":"…","request":{"subtype":"interrupt"}}`;
 * - the answer to a request of the CLI's, `{"type":"control_response","response":{"subtype":
 *   "success","request_id":"…","response":{…}}}` (or `"subtype":"error","error":"…"`).
 *
 * Read on stdout (anything else is skipped: event types come and go across versions):
 * - `system/init` first: `session_id`, `claude_code_version`, `capabilities` (from 2.1.205);
 * - `assistant` lines, one per content block of a message; `text` blocks are the answer's words;
 *   `error` (e.g. `authentication_failed`, `rate_limit`, `overloaded`) marks an API error wrapped
 *   as a `<synthetic>` message; a line with `parent_tool_use_id` set is a subagent's;
 * - `user` lines with tool results;
 * - `rate_limit_event`: `rate_limit_info.status` `rejected` (and no paid overage) is a usage limit,
 *   `resetsAt` in epoch seconds;
 * - `control_request` (the CLI asks, e.g. `can_use_tool`) and `control_response` (to ours);
 * - `result`, which ends the turn: `subtype` (`success`, `error_max_turns`, `error_max_budget_usd`,
 *   `error_during_execution`), `is_error` (true also with `subtype` "success"), `result` (or
 *   `errors: string[]`), `session_id`, `total_cost_usd` (older: `cost_usd`), `duration_ms`,
 *   `num_turns`, `api_error_status` (429, 500, 529, or null), `terminal_reason` and
 *   `user_message_uuids` (the uuids of the user lines the turn consumed, in order: a steer sent
 *   too late to be folded in is not among them).
 *
 * @module
 */

/** A JSON object. */
export type Json = Record<string, unknown>;

/** What `system/init` says about the CLI, as far as the driver uses it. */
export interface InitLine {
  sessionId?: string;
  /** `claude_code_version`, when the CLI says it. */
  version?: string;
  /** The protocol features the CLI offers (`interrupt_receipt_v1`, `msg_lifecycle_v1`, …). */
  capabilities: string[];
  cwd?: string;
}

/** One assistant line: its words, and whether it is an API error dressed as a message. */
export interface AssistantLine {
  texts: string[];
  /** It calls a tool. */
  toolUse: boolean;
  /** A subagent's line (`parent_tool_use_id` set), not the turn's own words. */
  subagent: boolean;
  /** The API error it wraps (`authentication_failed`, `rate_limit`, `overloaded`, …), if any. */
  error?: string;
}

/** The `result` line that ends a turn. */
export interface ResultLine {
  /** `result`, else the `errors` joined by newlines; may be empty. */
  text: string;
  /** `is_error`, or an error subtype. */
  isError: boolean;
  subtype?: string;
  sessionId?: string;
  costUsd?: number;
  durationMs?: number;
  turns?: number;
  /** The HTTP status of the API error that ended the turn (429, 500, 529…). */
  apiErrorStatus?: number;
  /** Why the turn ended: `completed`, `max_turns`, `aborted_streaming`, `api_error`, … */
  terminalReason?: string;
  /**
   * The uuids of the user lines this turn consumed (`user_message_uuids`): its prompt's, then any
   * line folded in between tool rounds. Absent from older CLIs, which don't say.
   */
  consumed?: string[];
}

/** A rejected `rate_limit_event`: the subscription's usage limit is reached. */
export interface LimitLine {
  /** When it resets, in ms since the epoch, if said. */
  resetsAt?: number;
}

/** A request the CLI sends to its host (`can_use_tool`, …), and waits for the answer to. */
export interface ControlRequest {
  requestId: string;
  /** `can_use_tool`, or another the host may not know. */
  subtype: string;
  /** The whole `request` object (`tool_name`, `input`, `tool_use_id`, … for `can_use_tool`). */
  request: Json;
}

/** The CLI's answer to one of our control requests. */
export interface ControlResponse {
  requestId: string;
  ok: boolean;
  /** The answer's payload on success; the error text otherwise. */
  response?: Json;
  error?: string;
}

/** One stdout line, as the driver reads it. */
export type CliLine =
  | { type: "init"; init: InitLine }
  | { type: "assistant"; assistant: AssistantLine }
  | { type: "tool_result"; subagent: boolean }
  | { type: "limit"; limit: LimitLine }
  | { type: "result"; result: ResultLine }
  | { type: "control_request"; request: ControlRequest }
  | { type: "control_response"; response: ControlResponse };

/** Reads one stdout line; undefined for a line that is not JSON or of a type the driver skips. */
export function parseCliLine(line: string): CliLine | undefined {
  const value = parseObject(line);
  if (value === undefined) return undefined;
  switch (value.type) {
    case "system":
      return value.subtype === "init" ? { type: "init", init: initOf(value) } : undefined;
    case "assistant": {
      const assistant = assistantOf(value);
      return assistant === undefined ? undefined : { type: "assistant", assistant };
    }
    case "user":
      return { type: "tool_result", subagent: typeof value.parent_tool_use_id === "string" };
    case "rate_limit_event": {
      const limit = limitOf(value);
      return limit === undefined ? undefined : { type: "limit", limit };
    }
    case "result":
      return { type: "result", result: resultOf(value) };
    case "control_request":
      return controlRequestOf(value);
    case "control_response":
      return controlResponseOf(value);
    default:
      return undefined;
  }
}

/** A whole line as a JSON object, or undefined. */
export function parseObject(line: string): Json | undefined {
  const text = line.trim();
  if (!text.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined; // Truncated or not JSON: skipped.
  }
}

/**
 * The user line that carries `text` into the CLI under `uuid`, by which the result says whether
 * its turn took the line in (`user_message_uuids`; a CLI 2.1.330 lists them only when the turn's
 * own prompt had a uuid too). A steer, sent while the turn runs, asks with `priority: "next"` to be
 * folded into that turn between tool rounds rather than queued as a turn of its own.
 */
export function userLine(text: string, uuid: string, options: { steer?: boolean } = {}): string {
  const message = { role: "user", content: text };
  const line = { type: "user", message, parent_tool_use_id: null, uuid };
  return `${JSON.stringify(options.steer ? { ...line, priority: "next" } : line)}\n`;
}

/** Our control request `request` under `requestId` (e.g. `{ subtype: "interrupt" }`). */
export function controlRequestLine(requestId: string, request: Json): string {
  return `${JSON.stringify({ type: "control_request", request_id: requestId, request })}\n`;
}

/** The answer to the CLI's request `requestId`: a success with `response`, or an error. */
export function controlResponseLine(
  requestId: string,
  answer: { response: Json } | { error: string },
): string {
  const response = "error" in answer
    ? { subtype: "error", request_id: requestId, error: answer.error }
    : { subtype: "success", request_id: requestId, response: answer.response };
  return `${JSON.stringify({ type: "control_response", response })}\n`;
}

function initOf(value: Json): InitLine {
  const capabilities = Array.isArray(value.capabilities)
    ? value.capabilities.filter((c): c is string => typeof c === "string")
    : [];
  return {
    capabilities,
    ...optional("sessionId", text(value.session_id)),
    ...optional("version", text(value.claude_code_version)),
    ...optional("cwd", text(value.cwd)),
  };
}

function assistantOf(value: Json): AssistantLine | undefined {
  const message = value.message;
  if (!isObject(message) || !Array.isArray(message.content)) return undefined;
  const blocks = message.content.filter(isObject);
  return {
    texts: blocks.flatMap((b) => b.type === "text" && typeof b.text === "string" ? [b.text] : []),
    toolUse: blocks.some((b) => b.type === "tool_use"),
    subagent: typeof value.parent_tool_use_id === "string",
    ...optional("error", text(value.error)),
  };
}

/** A rejected rate-limit event, or undefined for any other (allowed, a warning, paid overage). */
export function limitOf(value: Json): LimitLine | undefined {
  const info = value.rate_limit_info;
  if (!isObject(info) || info.status !== "rejected") return undefined;
  // Paid overage covers the overflow: the CLI shows no error then, and the brain goes on.
  if (info.isUsingOverage === true || info.overageInUse === true) return undefined;
  return optional("resetsAt", epochMs(info.resetsAt));
}

/** The result line's fields (see the module doc). */
export function resultOf(value: Json): ResultLine {
  const subtype = text(value.subtype);
  const errors = Array.isArray(value.errors)
    ? value.errors.filter((e): e is string => typeof e === "string")
    : [];
  return {
    text: typeof value.result === "string" ? value.result : errors.join("\n"),
    isError: value.is_error === true || (subtype?.startsWith("error") ?? false),
    ...optional("subtype", subtype),
    ...optional("sessionId", text(value.session_id)),
    ...optional("costUsd", finite(value.total_cost_usd) ?? finite(value.cost_usd)),
    ...optional("durationMs", finite(value.duration_ms)),
    ...optional("turns", finite(value.num_turns)),
    ...optional("apiErrorStatus", finite(value.api_error_status)),
    ...optional("terminalReason", text(value.terminal_reason)),
    ...optional(
      "consumed",
      Array.isArray(value.user_message_uuids)
        ? value.user_message_uuids.filter((u): u is string => typeof u === "string")
        : undefined,
    ),
  };
}

function controlRequestOf(value: Json): CliLine | undefined {
  const request = value.request;
  if (typeof value.request_id !== "string" || !isObject(request)) return undefined;
  const subtype = typeof request.subtype === "string" ? request.subtype : "";
  return { type: "control_request", request: { requestId: value.request_id, subtype, request } };
}

function controlResponseOf(value: Json): CliLine | undefined {
  const body = value.response;
  if (!isObject(body) || typeof body.request_id !== "string") return undefined;
  const ok = body.subtype === "success";
  const response: ControlResponse = {
    requestId: body.request_id,
    ok,
    ...optional("response", isObject(body.response) ? body.response : undefined),
    ...optional("error", text(body.error)),
  };
  return { type: "control_response", response };
}

/** `{ [key]: value }`, or nothing when the value is undefined (so that absent fields stay absent). */
function optional<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [k in K]?: V };
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** Unix seconds (as the CLI sends them) to ms; a value already in ms is kept. */
export function epochMs(value: unknown): number | undefined {
  const n = finite(value);
  if (n === undefined || n <= 0) return undefined;
  return n < 1e12 ? n * 1000 : n;
}

/** A finite number, or undefined. */
export function finite(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** A JSON object (not null, not an array). */
export function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
