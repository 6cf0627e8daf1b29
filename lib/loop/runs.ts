/**
 * A message's handler, from the scheduler's side: how it starts (or, past the poison limit, starts
 * only to say it gives up), and what follows its end, as `decide.ts` decides it from the handler's
 * reports and what the scheduler holds. The scheduler owns the state; these carry its decisions
 * out on it.
 *
 * @module
 */

import type { ChatQueues } from "./chat_queues.ts";
import { afterHandler, startPatch } from "./decide.ts";
import type { ChildRecord, Dispatcher } from "./dispatch.ts";
import type { Held, HeldMessages } from "./held.ts";
import { patched } from "../shared/journal_entry.ts";
import type { Logger } from "../shared/log.ts";

/** The wait before a message whose handler could not be spawned is tried again. */
const SPAWN_RETRY_MS = 2000;

/** What starting and settling a handler works on. */
export interface RunContext {
  dispatcher: Pick<Dispatcher, "spawn">;
  queues: ChatQueues;
  messages: HeldMessages;
  /** Handler deaths after which a message is given up. */
  poisonLimit: number;
  /** The wall clock, ms since the epoch. */
  wallNow: () => number;
  /** Kills what a dead handler's brain attempt left. */
  sweepOrphan: (run: string, updateId: number) => Promise<void>;
  log: Logger;
}

/** Starts the handler of `held`, the next message of its chat, in a free slot. */
export function startRun(held: Held, context: RunContext): void {
  const { dispatcher, queues, messages, poisonLimit, wallNow, log } = context;
  const { updateId, chatId, giveUp, deaths } = held.entry;
  const before = held.entry;
  held.entry = patched(before, startPatch(before, { poisonLimit, wallNow: wallNow() }));
  if (held.entry.giveUp && !giveUp) {
    log.error(
      "update {updateId}: {n} handlers died without a reply; giving up on it (poison limit)",
      { updateId, n: deaths },
    );
  }
  // On disk before the handler starts: from then on the handler writes it too.
  messages.save(held);
  try {
    held.child = dispatcher.spawn(held.entry);
    held.finished = false;
    queues.running(held.entry);
  } catch (error) {
    log.error("dispatch crash: update {updateId}, chat {chatId}: {error}", {
      updateId,
      chatId,
      error: String(error),
    });
    // Tried again after a pause: a spawn that keeps failing must not spin the loop.
    held.entry = before;
    messages.save(held);
    queues.holdBack(updateId, SPAWN_RETRY_MS);
    queues.enqueue(held.entry);
  }
}

/** What becomes of `held` now that its handler `child` has ended (see `afterHandler`). */
export function settleRun(
  held: Held,
  ended: { child: ChildRecord; stopping: boolean; context: RunContext },
): void {
  const { child, stopping, context } = ended;
  const { queues, messages, wallNow, log } = context;
  const { updateId, brainRun } = held.entry;
  held.child = undefined;
  // The handler is gone before its brain's end (a crash, a kill, even after its answer went
  // out): the brain must not live on without it.
  if (brainRun !== undefined) void context.sweepOrphan(brainRun, updateId);
  const end = afterHandler(held.entry, {
    finished: held.finished ?? false,
    status: child.status,
    stopping,
    wallNow: wallNow(),
  });
  if (end.kind === "finished") return messages.finish(held);
  if (end.kind !== "parked" && end.patch !== undefined) held.entry = patched(held.entry, end.patch);
  messages.save(held);
  if (end.kind === "left") return;
  if (end.kind === "died") {
    log.warn(
      "handler for update {updateId} ended without a final reply ({end}); queued again in {seconds} s",
      { updateId, end: end.end, seconds: end.waitMs / 1000 },
    );
  }
  // It keeps its 👀, and waits: a parked one until its time, after a death a moment, as whatever
  // killed its handler may still be at work.
  queues.holdBack(updateId, end.waitMs);
  queues.enqueue(held.entry);
}
