/**
 * What one turn of the Claude CLI said, read from its stdout lines as they come: its `system/init`
 * (version, capabilities), the words that answer, a usage limit, an API error, and at last how it
 * ended. No process here: `claude_turn.ts` feeds it.
 *
 * The words that answer are the text blocks of the turn's own assistant lines written after its
 * last tool result, joined by blank lines: the CLI's `result` repeats them, and they stand in for
 * a `result` that came empty (claude-code#38673). Words written before a tool call ("Let me look")
 * are not an answer; a subagent's lines (`parent_tool_use_id` set) are not the turn's own.
 *
 * @module
 */

import type { CliLine, InitLine, LimitLine, ResultLine } from "./claude_protocol.ts";
import type { RunTreeResult } from "../shared/process_tree.ts";

/** How a turn ended: at its result line, or at the CLI's exit without one. */
export interface TurnEnd {
  /** The result line, when one came. */
  result?: ResultLine;
  /** The words that answer (see the module doc); may be empty. */
  text: string;
  /** A rejected `rate_limit_event` came during the turn. */
  limit?: LimitLine;
  /** The last API error an assistant line wrapped (`authentication_failed`, `overloaded`, …). */
  apiError?: string;
  /** Without a result: how the process ended (`timedOut` when the turn's limit ran out). */
  exit?: RunTreeResult;
}

/** What a turn said so far (see the module doc). */
export class TurnTranscript {
  #init: InitLine | undefined;
  #texts: string[] = [];
  #limit: LimitLine | undefined;
  #apiError: string | undefined;

  /** The last `system/init` (a long-lived CLI sends one before each turn). */
  get init(): InitLine | undefined {
    return this.#init;
  }

  /** Takes one line; returns the result when this is it (the turn's end). Control lines are not its. */
  take(line: CliLine): ResultLine | undefined {
    switch (line.type) {
      case "init":
        this.#init = line.init;
        break;
      case "assistant":
        if (line.assistant.subagent) break;
        this.#texts.push(...line.assistant.texts.filter((text) => text.trim() !== ""));
        this.#apiError = line.assistant.error ?? this.#apiError;
        break;
      case "tool_result":
        if (!line.subagent) this.#texts = [];
        break;
      case "limit":
        this.#limit = line.limit;
        break;
      case "result":
        return line.result;
    }
    return undefined;
  }

  /** The turn's end, by its result line or by the exit of a CLI that gave none. */
  end(how: Pick<TurnEnd, "result" | "exit">): TurnEnd {
    return {
      ...how,
      text: this.#texts.join("\n\n").trim(),
      ...(this.#limit === undefined ? {} : { limit: this.#limit }),
      ...(this.#apiError === undefined ? {} : { apiError: this.#apiError }),
    };
  }
}
