/**
 * One message, start to finish, in its own handler process: a pipeline a newcomer reads in one
 * screen. The poll process starts this handler only when the message can start (its chat idle, a
 * brain slot free, its 👀 out) and hands it the message's journal entry over the line.
 *
 * ```
 * resume (an answer already journaled is only sent) → lock → input → edit → brain → finish
 * ```
 *
 * Each step is a module of its own: `work.ts` (the message's context and typing), `chat_lock.ts`,
 * `input.ts`, `brain_step.ts`, and `outbox.ts`, whose `finish` journals and sends every final
 * reply. The person may `/cancel` (or press Stop) at any stage: the line says so (`line.ts`).
 *
 * @module
 */

import { type ChatLock, LockRefusedError, takeChatLock } from "./chat_lock.ts";
import { REACTIONS } from "./feedback.ts";
import { applyEdit, getInput, inputStage } from "./input.ts";
import { askBrain } from "./brain_step.ts";
import { deliver, finish } from "./outbox.ts";
import { cancelledText, CRASH_TEXT, giveUpText, lockRefusedText, waitNote } from "./texts.ts";
import { type HandleOptions, startWork, whileWorking, type Work } from "./work.ts";
import { messageInput } from "../shared/update.ts";

export type { HandleOptions } from "./work.ts";

/** How a message's handling ended, for the handler's exit status. */
export type Handled = "done" | "stopped" | "crashed";

/**
 * Handles one message. Failures the person should know of are replied; the rest is logged. If
 * `signal` aborts, it returns "stopped" without a reply: the message waits for the next start. A
 * failure of the handler itself is logged and told to the person ("crashed"), unless an answer
 * is decided already: the next handler delivers that one.
 */
export async function handleMessage(options: HandleOptions): Promise<Handled> {
  const work = startWork(options);
  const { log, ids, signal } = work;
  try {
    await pipeline(work);
    return signal.aborted ? "stopped" : "done";
  } catch (error) {
    if (signal.aborted) return "stopped";
    log.error("handler for update {updateId} failed: {error}", {
      ...ids,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    if (work.record.read().stage !== "answered") {
      // Rather than leave the person with a 👀 and nothing else, say so, if Telegram answers.
      const bounded = AbortSignal.timeout(CRASH_REPLY_MS);
      await finish({ ...work, text: CRASH_TEXT, emoji: REACTIONS.failed, signal: bounded })
        .catch(() => {});
    }
    return "crashed";
  }
}

/** How long the reply to a crash may take. */
const CRASH_REPLY_MS = 3000;

async function pipeline(work: Work): Promise<void> {
  const { entry, ids, log, line } = work;
  if (entry.stage === "answered" && entry.answer !== undefined) {
    // Decided by an earlier handler: only sending is left, from where it stopped.
    log.info("update {updateId}: delivering its journaled answer", ids);
    return deliver({ ...work, outgoing: entry.answer });
  }
  if (entry.giveUp) {
    const deaths = entry.deaths ?? entry.dispatches - 1;
    return work.reply(giveUpText(deaths, entry.lastEnd), REACTIONS.failed);
  }
  await using lock = await lockChat(work);
  if (lock === undefined) return;
  using working = whileWorking(work);
  const input = messageInput(work.update.message);
  const got = line.cancel.aborted
    ? "cancelled" as const
    : await getInput(work, input, { signal: working.signal });
  if (work.signal.aborted) return;
  if (line.cancel.aborted) {
    log.info("update {updateId} cancelled before its brain started", ids);
    const at = { stage: "input", what: inputStage(input) } as const;
    return work.reply(cancelledText(at, line.cancelledBy), REACTIONS.failed);
  }
  if (got === "answered" || got === "cancelled") return;
  const text = applyEdit(work, { input, got });
  noteTheWait(work);
  await askBrain(work, { text, attachments: got.attachments, lockWaitedMs: lock.waitedMs });
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

/** From its arrival until the poll process started it: the time it spent behind other messages. */
function noteTheWait(work: Work) {
  const { entry, config, notes } = work;
  const waited = Date.parse(entry.startedAt ?? "") - Date.parse(entry.receivedAt ?? "");
  if (!entry.rerun && waited >= config.waitNoteMs) notes.push(waitNote(waited));
}
