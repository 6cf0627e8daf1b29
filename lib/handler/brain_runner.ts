/**
 * How one brain attempt runs for a message: a brain that is not the Claude driver runs by the
 * plain protocol (`brain.ts`); the Claude driver's turns are linked to the message's line
 * (`turn_link.ts`: steers, interrupts), and the CLI's asks to use a tool are refused at once
 * (`COORD_APPROVALS=off`: nobody is asked) or put to the person on the phone (`approvals.ts`),
 * the turn's time limit held while they wait.
 *
 * @module
 */

import { askThePerson } from "./approvals.ts";
import type { AttemptRunner } from "./brain.ts";
import { claudeAttempts } from "./claude_driver.ts";
import type { ControlRequest } from "./claude_protocol.ts";
import { type ClaudeTurn, type ControlAnswer, refuseAsks } from "./claude_turn.ts";
import type { Work } from "./work.ts";

/** The attempts of the message's brain, for `callBrain`'s `runner` (undefined: the plain one). */
export function brainRunner(work: Work): AttemptRunner | undefined {
  if (work.config.brainKind !== "claude") return undefined;
  let turn: ClaudeTurn | undefined;
  return claudeAttempts({
    onTurn: (started) => {
      turn = started;
      work.turns.onTurn(started);
    },
    onControlRequest: (request) => answer(work, { request, turn }),
  });
}

/** The answer to one of the CLI's control requests. */
async function answer(
  work: Work,
  asked: { request: ControlRequest; turn: ClaudeTurn | undefined },
): Promise<ControlAnswer> {
  const { config, ids, log, turns } = work;
  const { request, turn } = asked;
  const what = request.subtype === "can_use_tool"
    ? `the tool ${String(request.request.tool_name)}`
    : request.subtype;
  if (config.approvals !== "phone" || request.subtype !== "can_use_tool") {
    log.info("update {updateId}: the brain asked for {what}; refused (nobody is asked)", {
      ...ids,
      what,
    });
    return refuseAsks(request);
  }
  const seq = turns.nextAsk();
  log.info("update {updateId}: the brain asks for {what}; asking the person (ask {seq})", {
    ...ids,
    what,
    seq,
  });
  // The brain's time limit does not run while the person decides.
  const release = turn?.holdClock();
  try {
    return await askThePerson(request, {
      api: work.replyApi,
      ids,
      stateDir: config.stateDir,
      seq,
      dispatch: work.entry.dispatches,
      answer: (n) => turns.answer(n),
      timeoutMs: config.approvalTimeoutMs,
      onWaiting: (tool) => turns.asking(seq, tool),
      log,
      signal: AbortSignal.any([work.signal, work.line.cancel]),
    });
  } finally {
    release?.();
  }
}
