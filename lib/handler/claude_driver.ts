/**
 * The Claude driver: how `callBrain` runs one attempt of the Claude Code CLI. Each attempt is a
 * {@linkcode ClaudeTurn} (stream-json both ways, the message as its first user line); its verdict
 * is taken the moment the CLI's `result` line arrives (`claude.ts`), and the CLI is then let go
 * in the background: stdin closed, a few seconds to exit, then its whole group ended and its
 * marker swept (ended at once when it holds a steer its result left out: it would run it). The
 * attempt's `settled` tells when that is done, so that the handler neither
 * starts the next CLI of the conversation nor exits before it.
 *
 * @module
 */

import type { AttemptRunner } from "./brain.ts";
import { claudeVerdict } from "./claude.ts";
import type { ControlRequest } from "./claude_protocol.ts";
import { ClaudeTurn, type ControlAnswer } from "./claude_turn.ts";

/** Options for {@linkcode claudeAttempts}. */
export interface ClaudeDriverOptions {
  /** How long the CLI may take to exit by itself after its result. Default: 3000 ms. */
  lingerMs?: number;
  /** Answers the CLI's control requests. Default: every ask refused (`refuseAsks`). */
  onControlRequest?: (request: ControlRequest) => Promise<ControlAnswer>;
  /**
   * Told each attempt's turn once it has started: the handle to send more user lines into it or
   * interrupt it (`ClaudeTurn.send`, `ClaudeTurn.interrupt`).
   */
  onTurn?: (turn: ClaudeTurn) => void;
}

/** The attempts of a Claude brain, for `callBrain`'s `runner`. */
export function claudeAttempts(options: ClaudeDriverOptions = {}): AttemptRunner {
  const { lingerMs, onControlRequest, onTurn } = options;
  return async (command, context) => {
    const { input, ...rest } = context;
    const turn = new ClaudeTurn(command, { ...rest, message: input, lingerMs, onControlRequest });
    onTurn?.(turn);
    const end = await turn.ended;
    const verdict = claudeVerdict(end, context.timeoutMs);
    // Not awaited: the answer goes now, whatever the CLI does after its result.
    const settled = turn.finish().then(() => {});
    return {
      verdict,
      aborted: end.exit?.aborted ?? false,
      ...(end.exit?.spawnError === undefined ? {} : { spawnError: end.exit.spawnError }),
      settled,
    };
  };
}
