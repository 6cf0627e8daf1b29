/**
 * Approvals from the phone (`COORD_APPROVALS=phone`): a Claude brain's ask to use a tool
 * (`can_use_tool`) becomes a message in the chat saying what the tool wants, with the buttons
 * **Allow**, **Always allow** (this tool, in this chat, from now on) and **Deny**. The press comes
 * back over the line (the scheduler checks who pressed: only an authorized person's press counts)
 * and becomes the CLI's answer; the message is edited to show the decision. No answer within
 * `COORD_APPROVAL_TIMEOUT_S` denies. Tools always allowed are kept in
 * `$COORD_STATE_DIR/approvals/<chat id>.json` and listed by `/status`.
 *
 * @module
 */

import type { Api } from "grammy/web";
import { within } from "../shared/abort.ts";
import { writeFileAtomic } from "../shared/atomic_write.ts";
import type { Decision } from "../shared/line.ts";
import type { Logger } from "../shared/log.ts";
import { apiSignal, describeError } from "../shared/telegram.ts";
import type { ControlRequest, Json } from "./claude_protocol.ts";
import type { ControlAnswer } from "./claude_turn.ts";
import type { MessageRef } from "./feedback.ts";

/** The most characters of what a tool wants shown in the ask. */
const SHOWN_CHARS = 1500;

/** Options for {@linkcode askThePerson}. */
export interface AskOptions {
  /** For the ask and its edit (waits out what is transient). */
  api: Api;
  ids: MessageRef;
  /** The state folder (the tools always allowed). */
  stateDir: string;
  /** This ask's number within the handler's run (1, 2, …). */
  seq: number;
  /** The handler's run: the entry's `dispatches`. */
  dispatch: number;
  /** Waits for the person's answer to ask `seq` (from the line). */
  answer: (seq: number) => Promise<Decision>;
  /** How long the person has; then the ask is denied. */
  timeoutMs: number;
  /** Told while the ask waits (`tool`) and when it is answered (`undefined`). */
  onWaiting: (tool: string | undefined) => void;
  log: Logger;
  signal: AbortSignal;
}

/** Asks the person whether the brain may use a tool; the answer for the CLI. Never throws. */
export async function askThePerson(
  request: ControlRequest,
  options: AskOptions,
): Promise<ControlAnswer> {
  const { ids, stateDir, seq, log } = options;
  const tool = typeof request.request.tool_name === "string" ? request.request.tool_name : "?";
  const input = isObject(request.request.input) ? request.request.input : {};
  if (alwaysAllowed(stateDir, ids.chatId).includes(tool)) {
    log.info("update {updateId}: {tool} is always allowed in this chat", { ...ids, tool });
    return allow(input);
  }
  const text = askText(tool, input);
  // Said before the ask is shown: a press or a /status right after it finds it waiting.
  options.onWaiting(tool);
  const sent = await send(text, options);
  if (sent === undefined) {
    options.onWaiting(undefined);
    // Nobody can answer an ask they can't see: the turn goes on without the tool.
    return { response: { behavior: "deny", message: "Denied: the person could not be asked." } };
  }
  let decision: Decision | "timeout";
  try {
    const waited = await within(options.answer(seq), options.timeoutMs, { signal: options.signal });
    decision = waited.settled ? waited.value : "timeout";
  } catch {
    decision = "deny"; // Stopped: the turn is going anyway.
  } finally {
    options.onWaiting(undefined);
  }
  log.info("update {updateId}: ask {seq} ({tool}): {decision}", { ...ids, seq, tool, decision });
  if (decision === "always") remember(stateDir, { chatId: ids.chatId, tool, log });
  await settleText(sent, `${DECIDED[decision]}\n\n${text}`, options);
  if (decision === "allow" || decision === "always") return allow(input);
  return {
    response: {
      behavior: "deny",
      message: decision === "timeout"
        ? "Denied: nobody answered in time."
        : "Denied by the person on their phone.",
    },
  };
}

const DECIDED: Record<Decision | "timeout", string> = {
  allow: "✅ Allowed.",
  always: "✅ Allowed, and from now on without asking in this chat.",
  deny: "🚫 Denied.",
  timeout: "⌛ Denied: no answer in time.",
};

/** What the ask says: the tool, and what it wants (a command, a file and its change), cut. */
export function askText(tool: string, input: Json): string {
  const str = (key: string) => typeof input[key] === "string" ? input[key] as string : undefined;
  const lines = [`🔐 The brain asks to use ${tool}.`];
  if (str("command") !== undefined) lines.push("", str("command")!);
  else if (str("file_path") !== undefined) {
    lines.push("", str("file_path")!);
    const before = str("old_string");
    const after = str("new_string") ?? str("content");
    if (before !== undefined) lines.push("", ...before.split("\n").map((l) => `- ${l}`));
    if (after !== undefined) lines.push(...after.split("\n").map((l) => `+ ${l}`));
  } else {
    lines.push("", JSON.stringify(input, null, 1));
  }
  const text = lines.join("\n");
  if (text.length <= SHOWN_CHARS) return text;
  // Its start and its end, with how much is not shown: what a padded command hides at its end
  // is what matters most.
  const half = Math.floor((SHOWN_CHARS - 60) / 2);
  const hidden = text.length - 2 * half;
  return `${text.slice(0, half)}\n… (${hidden} characters not shown) …\n${text.slice(-half)}`;
}

/** The tools always allowed in a chat. Never throws. */
export function alwaysAllowed(stateDir: string, chatId: number): string[] {
  try {
    const value = JSON.parse(Deno.readTextFileSync(allowedPath(stateDir, chatId)));
    return Array.isArray(value) ? value.filter((t): t is string => typeof t === "string") : [];
  } catch {
    return [];
  }
}

function remember(stateDir: string, what: { chatId: number; tool: string; log: Logger }) {
  const { chatId, tool, log } = what;
  const tools = [...new Set([...alwaysAllowed(stateDir, chatId), tool])].sort();
  try {
    Deno.mkdirSync(`${stateDir}/approvals`, { recursive: true, mode: 0o700 });
    writeFileAtomic(allowedPath(stateDir, chatId), JSON.stringify(tools) + "\n");
  } catch (error) {
    log.warn("cannot remember that {tool} is always allowed: {error}", {
      tool,
      error: String(error),
    });
  }
}

function allowedPath(stateDir: string, chatId: number): string {
  return `${stateDir}/approvals/${chatId}.json`;
}

function allow(input: Json): ControlAnswer {
  return { response: { behavior: "allow", updatedInput: input } };
}

/** The ask, with its buttons; its message id, or undefined when it could not be sent. */
async function send(text: string, options: AskOptions): Promise<number | undefined> {
  const { api, ids, seq, log, signal } = options;
  // The handler's run (its dispatch) in the data: a press on an earlier run's ask answers nothing.
  const data = (d: string) => `ap:${ids.updateId}:${options.dispatch}:${seq}:${d}`;
  try {
    const message = await api.sendMessage(ids.chatId, text, {
      reply_parameters: { message_id: ids.messageId, allow_sending_without_reply: true },
      reply_markup: {
        inline_keyboard: [[
          { text: "Allow", callback_data: data("a") },
          { text: "Always allow", callback_data: data("A") },
          { text: "Deny", callback_data: data("d") },
        ]],
      },
    }, apiSignal(signal));
    return message.message_id;
  } catch (error) {
    log.warn("update {updateId}: the ask could not be shown: {error}", {
      ...ids,
      error: describeError(error),
    });
    return undefined;
  }
}

/** The ask edited to show the decision, its buttons gone. Never throws. */
async function settleText(messageId: number, text: string, options: AskOptions): Promise<void> {
  const { api, ids, log } = options;
  try {
    await api.editMessageText(
      ids.chatId,
      messageId,
      text,
      {},
      apiSignal(AbortSignal.timeout(10_000)),
    );
  } catch (error) {
    log.warn("update {updateId}: the ask could not be updated: {error}", {
      ...ids,
      error: describeError(error),
    });
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
