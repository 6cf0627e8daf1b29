/**
 * One message, start to finish, in its own handler process: a pipeline a newcomer reads in one
 * screen. The poll loop starts this handler only when the message can start (its chat idle, a
 * brain slot free) and after the desk's 👀 is out.
 *
 * ```
 * resume (an answer already journaled is only sent) → lock → input → edit → brain → finish
 * ```
 *
 * Each step is a module of its own: `work.ts` (the message's context, cancel watch, typing),
 * `chat_lock.ts`, `input.ts`, `brain_step.ts`, and `outbox.ts`, whose `finish` is the one way a
 * message ends. The person may `/cancel` (or press Stop) at any stage.
 *
 * @module
 */

import { type ChatLock, LockRefusedError, takeChatLock } from "./chat_lock.ts";
import { REACTIONS } from "./feedback.ts";
import { applyEdit, getInput, inputStage } from "./input.ts";
import { askBrain } from "./brain_step.ts";
import { deliver, finish } from "./outbox.ts";
import {
  cancelledText,
  CRASH_TEXT,
  giveUpText,
  lockRefusedText,
  waitNote,
  WITHDRAWN_TEXT,
} from "./texts.ts";
import { type HandleOptions, startWork, whileWorking, type Work } from "./work.ts";
import { removeAttachments } from "../shared/attachments.ts";
import { messageInput } from "../shared/update.ts";

export type { HandleOptions } from "./work.ts";
export { CANCEL_POLL_MS } from "./work.ts";

/**
 * Handles one message. Failures the person should know of are replied; the rest is logged. If
 * `signal` aborts, it returns without a reply: the message stays in the journal and runs again.
 */
export async function handleMessage(options: HandleOptions): Promise<void> {
  const work = startWork(options);
  const { entry, ids, log } = work;
  if (entry?.stage === "answered" && entry.answer !== undefined) {
    // Decided by an earlier handler: only sending is left, from where it stopped.
    log.info("update {updateId}: delivering its journaled answer", ids);
    return deliver({ ...work, outgoing: entry.answer });
  }
  if (entry?.giveUp) {
    const deaths = entry.deaths ?? entry.dispatches - 1;
    return work.reply(giveUpText(deaths, entry.lastEnd), REACTIONS.failed);
  }
  await using lock = await lockChat(work);
  if (lock === undefined) return;
  if (answeredMeanwhile(work)) return;
  if (work.cancels.requested(ids.updateId)) {
    log.info("update {updateId} was withdrawn by /cancel as it started", ids);
    return work.reply(WITHDRAWN_TEXT, REACTIONS.failed);
  }
  using working = whileWorking(work);
  const input = messageInput(work.update.message);
  const got = await getInput(work, input, { signal: working.signal });
  if (work.signal.aborted) return;
  if (working.cancel.aborted) {
    log.info("update {updateId} cancelled before its brain started", ids);
    const at = { stage: "input", what: inputStage(input) } as const;
    return work.reply(cancelledText(at, work.cancels.by(ids.updateId)), REACTIONS.failed);
  }
  if (got === "answered") return;
  const text = applyEdit(work, { input, got });
  noteTheWait(work);
  await askBrain(work, {
    text,
    attachments: got.attachments,
    cancel: working.cancel,
    checkCancel: working.checkCancel,
    lockWaitedMs: lock.waitedMs,
  });
}

/** The chat's lock; `undefined` when it was refused, and the message got its ⚠️ instead. */
async function lockChat(work: Work): Promise<ChatLock | undefined> {
  const { config, ids, log, signal } = work;
  try {
    return await takeChatLock({
      lockDir: config.lockDir,
      chatId: ids.chatId,
      signal,
      onWait: () => log.info("update {updateId} waits for the chat's lock", ids),
    });
  } catch (error) {
    if (!(error instanceof LockRefusedError)) throw error;
    log.error("update {updateId} not run: {reason}", { ...ids, reason: error.message });
    await work.reply(lockRefusedText(error.message), REACTIONS.failed);
    return undefined;
  }
}

/** A handler of an earlier run answered it while this one waited for the lock. */
function answeredMeanwhile(work: Work): boolean {
  const { entry, record, config, ids, log } = work;
  if (entry === undefined || !(record.isGone() || record.read()?.stage === "replied")) return false;
  log.info("update {updateId} was answered meanwhile; nothing to do", ids);
  removeAttachments(config.stateDir, ids.updateId);
  return true;
}

/** From its arrival until the loop started it: the time it spent behind other messages. */
function noteTheWait(work: Work) {
  const { entry, config, notes } = work;
  const waited = Date.parse(entry?.startedAt ?? "") - Date.parse(entry?.receivedAt ?? "");
  if (!entry?.rerun && waited >= config.waitNoteMs) notes.push(waitNote(waited));
}

/** Tells the person that their message could not be handled (the handler itself failed). */
export function reportCrash(options: HandleOptions): Promise<void> {
  const { update } = options;
  const { chat, message_id } = update.message;
  return finish({
    ...options,
    ids: { updateId: update.update_id, chatId: chat.id, messageId: message_id },
    text: CRASH_TEXT,
    emoji: REACTIONS.failed,
  });
}
