/**
 * The Claude Code CLI's `--output-format stream-json --verbose` output, read as progress notes.
 *
 * The CLI prints one JSON object per line. The shapes below are the ones its own message schemas
 * declare (checked in the 2.1.330 binary, `strings bin/claude.exe`):
 *
 * - `{"type":"system","subtype":"init","cwd":…,"tools":[…],"model":…,"session_id":…,…}` first.
 *   The `cwd` is kept, to show file paths relative to it.
 * - `{"type":"assistant","message":{"role":"assistant","content":[…],…},"parent_tool_use_id":…,
 *   "session_id":…}` whose content blocks are `{"type":"text","text"}`, `{"type":"tool_use","id",
 *   "name","input"}` ("The tool's input object; its shape is the named tool's input schema"),
 *   `{"type":"thinking","thinking","signature"}` and `{"type":"redacted_thinking","data"}`; thinking
 *   is not shown. Tool inputs as in the package's `sdk-tools.d.ts`: `BashInput.command`,
 *   `FileReadInput.file_path`, `GrepInput.pattern`, `GlobInput.pattern`, `WebFetchInput.url`,
 *   `WebSearchInput.query`, `AgentInput.description`, `NotebookEditInput.notebook_path`.
 * - `{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id","content",
 *   "is_error"}]},"tool_use_result":…}`: not shown.
 * - `{"type":"rate_limit_event","rate_limit_info":{…},"uuid","session_id"}`, "Rate limit event
 *   emitted when rate limit info changes". `rate_limit_info.status` is one of `"allowed"`,
 *   `"allowed_warning"`, `"rejected"`; `resetsAt` is an integer of unix epoch **seconds** (the
 *   schema's own words for its windows: "resetsAt is unix epoch seconds"; the CLI compares it as
 *   `Date.now()/1000 >= resetsAt`); `rateLimitType` is `five_hour`, `seven_day`,
 *   `seven_day_opus`, `seven_day_sonnet`, `seven_day_overage_included` or `overage`. The CLI
 *   itself words a limit as an error only when `status` is `"rejected"` and the account is not
 *   running on paid overage (`isUsingOverage`): the same test is made here.
 * - `{"type":"result","subtype":"success","is_error","result","num_turns","duration_ms",
 *   "total_cost_usd","session_id",…}` last; the error subtypes (`error_during_execution`,
 *   `error_max_turns`, `error_max_budget_usd`, `error_max_structured_output_retries`) carry
 *   `errors: string[]` and no `result`. Older CLIs named the cost `cost_usd`.
 *
 * Other event types (`stream_event`, `tool_progress`, `system/status`, …) come and go across
 * versions and are skipped, as are lines that are not complete JSON objects.
 *
 * @module
 */

import {
  isObject,
  type Json,
  limitOf,
  parseObject,
  type ResultLine,
  resultOf,
} from "./claude_protocol.ts";
import { LineSplitter } from "../shared/lines.ts";

/** One thing worth showing from the CLI's stream-json output. */
export type StreamEvent =
  | { kind: "tool"; name: string; note: string }
  | { kind: "text"; note: string }
  | { kind: "limit"; resetsAt?: number; status?: string }
  | { kind: "result" } & ResultLine;

/** The longest note, in UTF-16 code units (what `String.length` counts). */
const NOTE_MAX = 80;
const TOOL = "🔧";
const TEXT = "💬";

/** Incremental parser: feed it stdout chunks as they come; it returns the events of the complete lines. */
export class StreamParser {
  #lines = new LineSplitter();
  #cwd: string | undefined;

  /** Takes the next chunk of stdout; returns the events of the lines it completed. */
  push(chunk: string): StreamEvent[] {
    return this.#lines.push(chunk).flatMap((line) => this.#line(line));
  }

  /** The events of a last unterminated line, if it is complete JSON. */
  end(): StreamEvent[] {
    const line = this.#lines.end();
    return line === undefined ? [] : this.#line(line);
  }

  #line(line: string): StreamEvent[] {
    const value = parseObject(line);
    if (value === undefined) return [];
    if (value.type === "system" && value.subtype === "init" && typeof value.cwd === "string") {
      this.#cwd = value.cwd;
    }
    return eventsOf(value, this.#cwd);
  }
}

/** Parses a whole stdout at once (for the final verdict). */
export function parseStream(stdout: string): StreamEvent[] {
  const parser = new StreamParser();
  return [...parser.push(stdout), ...parser.end()];
}

function eventsOf(value: Json, cwd: string | undefined): StreamEvent[] {
  switch (value.type) {
    case "assistant":
      return assistantEvents(value, cwd);
    case "rate_limit_event":
      return limitEvents(value);
    case "result":
      return [resultEvent(value)];
    default:
      return [];
  }
}

function assistantEvents(value: Json, cwd: string | undefined): StreamEvent[] {
  const message = value.message;
  if (!isObject(message) || !Array.isArray(message.content)) return [];
  const events: StreamEvent[] = [];
  for (const block of message.content) {
    if (!isObject(block)) continue;
    if (block.type === "text" && typeof block.text === "string") {
      const note = textNote(block.text);
      if (note !== undefined) events.push({ kind: "text", note });
    } else if (block.type === "tool_use" && typeof block.name === "string") {
      const input = isObject(block.input) ? block.input : {};
      const note = cutEnd(toolNote(block.name, input, { cwd }), NOTE_MAX);
      events.push({ kind: "tool", name: block.name, note });
    }
  }
  return events;
}

function limitEvents(value: Json): StreamEvent[] {
  const limit = limitOf(value);
  return limit === undefined ? [] : [{ kind: "limit", status: "rejected", ...limit }];
}

function resultEvent(value: Json): StreamEvent {
  return { kind: "result", ...resultOf(value) };
}

/** The first non-empty line of an assistant text block, or undefined for a blank one. */
function textNote(text: string): string | undefined {
  const lines = text.split("\n").map((line) => oneLine(line)).filter((line) => line !== "");
  if (lines.length === 0) return undefined;
  const first = lines[0];
  // Something was left out: say so, even when the first line fits.
  const more = lines.length > 1 && !first.endsWith("…");
  return cutEnd(`${TEXT} ${first}${more ? "…" : ""}`, NOTE_MAX);
}

/** "🔧 Read lib/x.ts", "🔧 Bash: npm test", …: what a tool call is about, on one short line. */
function toolNote(name: string, input: Json, options: { cwd: string | undefined }): string {
  const { cwd } = options;
  const str = (key: string) => typeof input[key] === "string" ? oneLine(input[key]) : "";
  const head = `${TOOL} ${oneLine(name)}`;
  const path = (value: string) =>
    `${head} ${cutStart(relative(value, cwd), NOTE_MAX - head.length - 1)}`;
  const tail = (sep: string, value: string) => cutEnd(`${head}${sep}${value}`, NOTE_MAX);
  switch (name) {
    case "Read":
    case "Edit":
    case "MultiEdit":
    case "Write":
      if (str("file_path") !== "") return path(str("file_path"));
      break;
    case "NotebookEdit":
      if (str("notebook_path") !== "") return path(str("notebook_path"));
      break;
    case "Bash":
    case "Monitor":
      if (str("command") !== "") return tail(": ", str("command"));
      break;
    case "Grep":
      if (str("pattern") !== "") return quoted(head, str("pattern"));
      break;
    case "WebSearch":
      if (str("query") !== "") return quoted(head, str("query"));
      break;
    case "Glob":
      if (str("pattern") !== "") return tail(" ", str("pattern"));
      break;
    case "WebFetch":
      if (str("url") !== "") return tail(" ", str("url").replace(/^[a-z][a-z0-9+.-]*:\/\//i, ""));
      break;
    case "TodoWrite": {
      const todos = Array.isArray(input.todos) ? input.todos.filter(isObject) : [];
      const doing = todos.find((todo) => todo.status === "in_progress");
      const what = doing === undefined
        ? ""
        : oneLine(String(doing.activeForm ?? doing.content ?? ""));
      if (what !== "") return tail(": ", what);
      break;
    }
  }
  // Any other tool (Agent, Task, Skill, MCP tools, …): the first telling field, if any.
  for (const key of ["description", "file_path", "path", "command", "url", "query", "pattern"]) {
    if (str(key) !== "") return tail(": ", str(key));
  }
  return cutEnd(head, NOTE_MAX);
}

function quoted(head: string, value: string): string {
  const room = NOTE_MAX - head.length - 3;
  return `${head} "${cutEnd(value, room)}"`;
}

function relative(path: string, cwd: string | undefined): string {
  if (cwd === undefined || cwd === "") return path;
  const base = cwd.endsWith("/") ? cwd : `${cwd}/`;
  return path.startsWith(base) && path.length > base.length ? path.slice(base.length) : path;
}

/** Whitespace (newlines included) collapsed to single spaces, trimmed. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** At most `max` UTF-16 units, cut at the end with "…", never inside a surrogate pair. */
function cutEnd(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = "";
  for (const ch of text) {
    if (out.length + ch.length > max - 1) break;
    out += ch;
  }
  return `${out.trimEnd()}…`;
}

/** At most `max` UTF-16 units, cut at the start with "…" (the end of a path says most). */
function cutStart(text: string, max: number): string {
  if (text.length <= max) return text;
  const chars = Array.from(text);
  let out = "";
  for (let i = chars.length - 1; i >= 0; i--) {
    if (out.length + chars[i].length > max - 1) break;
    out = chars[i] + out;
  }
  return `…${out}`;
}
