/**
 * The front desk, in a `handler.ts` process of its own: the quick work for every chat at once,
 * whatever the brains are doing. For each job from the poll process (`shared/line.ts`) it
 * acknowledges a message (👀 and typing), answers a command, a Stop press or a late edit, or tells
 * a withdrawn or lost message so; jobs run concurrently and none of them ever waits for a brain.
 * The desk decides nothing and writes no journal: the poll process decided what each job says,
 * and finishes its entry when the desk reports it done.
 *
 * @module
 */

import type { Api } from "grammy/web";
import type { Message, Update } from "grammy/types";
import { isAbortOf, within } from "../shared/abort.ts";
import { parseCommand } from "../shared/command.ts";
import { answerPress, handleCommand } from "./commands.ts";
import type { Config } from "../shared/config.ts";
import { type Control, type DeskJob, jobUpdateId, type Report } from "../shared/line.ts";
import { type MessageRef, REACTIONS, setReaction, showTyping } from "./feedback.ts";
import type { Logger } from "../shared/log.ts";
import { sendReply } from "./reply.ts";
import { lateEditText, LOST_TEXT, UNSTEERABLE_TEXT, WITHDRAWN_TEXT } from "./texts.ts";
import { describeError } from "../shared/telegram.ts";
import { showPrompt } from "./show_prompt.ts";

/** Options for {@linkcode runDesk}. */
export interface DeskOptions {
  /** For the droppable calls (reactions, typing): no retries. */
  api: Api;
  /** For replies: retries 429 and 5xx. */
  replyApi: Api;
  config: Config;
  log: Logger;
  /** Aborted when the desk must stop at once (SIGTERM). */
  signal: AbortSignal;
  /** Sends a report to the poll process. */
  report: (report: Report) => void;
  /** After the jobs end (EOF), how long the jobs under way may still take. Default: 15 000 ms. */
  drainMs?: number;
}

/**
 * Runs jobs from `controls` until they end (the poll process closed our stdin: it replaced us, or
 * it is gone) or `signal` aborts, then lets the jobs under way finish, at most `drainMs` (none on
 * a stop: their jobs stay with the poll process).
 */
export async function runDesk(
  controls: AsyncIterable<Control>,
  options: DeskOptions,
): Promise<void> {
  const { log, report, signal, drainMs = 15_000 } = options;
  const running = new Set<Promise<void>>();
  report({ kind: "ready" });
  const stopped = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
  const reading = (async () => {
    for await (const control of controls) {
      if (control.kind !== "job") {
        log.error("desk: unexpected {kind} control", { kind: control.kind });
        continue;
      }
      const task = runJob(control.job, options).finally(() => running.delete(task));
      running.add(task);
    }
  })();
  // A stop ends the desk at once: the loop over stdin would otherwise wait for its EOF.
  await Promise.race([reading, stopped]);
  if (signal.aborted) return;
  try {
    await within(Promise.all(running), drainMs, { signal });
  } catch (error) {
    if (!isAbortOf(signal, error)) throw error;
  }
}

/** Runs one job; reports it whatever happens, so that a job never comes back for ever. */
async function runJob(job: DeskJob, options: DeskOptions): Promise<void> {
  const { log, report, signal } = options;
  const updateId = jobUpdateId(job);
  let shown: number | undefined;
  try {
    shown = await doJob(job, options) ?? undefined;
  } catch (error) {
    if (signal.aborted) return;
    log.error("desk: {job} job of update {updateId} failed: {error}", {
      job: job.job,
      updateId,
      error: describeError(error),
    });
  }
  if (signal.aborted) return;
  if (job.job !== "ack") return report({ kind: "done", updateId });
  report({ kind: "acked", updateId, ...(shown === undefined ? {} : { shown }) });
}

/** Does one job; an ask's prompt shown resolves to its message id. */
async function doJob(job: DeskJob, options: DeskOptions): Promise<number | void> {
  const { api, replyApi, config, log, signal } = options;
  switch (job.job) {
    case "ack":
      if (job.show !== undefined) {
        const chatId = refOf(job.update).chatId;
        return await showPrompt(chatId, job.show, { api: replyApi, signal });
      }
      return acknowledge(refOf(job.update), options);
    case "command": {
      const update = job.update as Update & { message: Message };
      const command = parseCommand(update.message?.text);
      if (command === undefined) throw new TypeError("Cannot answer this update: not a command");
      const { status, cancel, stop } = job;
      return handleCommand({
        api: replyApi,
        config,
        update,
        command,
        status,
        cancel,
        stop,
        log,
        signal,
      });
    }
    case "press":
      return answerPress({ api, update: job.update as Update, answer: job.answer, log, signal });
    case "unsteerable":
      return replyTo(refOf(job.update), UNSTEERABLE_TEXT, options);
    case "edit":
      if (job.late === undefined) return;
      return replyTo(refOf(job.update), lateEditText(job.late), options);
    case "withdraw": {
      const ref = refOf(job.update);
      // The 👎s with the reply, not after it: a reply that fails leaves none of them on ✍ or 👀.
      const ends = [ref.messageId, ...job.steered ?? []].map((messageId) =>
        setReaction({ ...ref, messageId }, REACTIONS.failed, { api, log })
      );
      await Promise.all([replyTo(ref, WITHDRAWN_TEXT, options), ...ends]);
      return;
    }
    case "lost":
      return replyTo(job, LOST_TEXT, options);
  }
}

/** The 👀 and the typing action, at once; resolves when the reaction's call has ended. */
async function acknowledge(ref: MessageRef, options: DeskOptions) {
  const { api, log } = options;
  // The 👀 first: its request is the one the person waits for; typing follows on its heels.
  const reacted = setReaction(ref, REACTIONS.received, { api, log });
  void showTyping(ref, { api, log });
  await reacted;
}

async function replyTo(ref: MessageRef, text: string, options: DeskOptions): Promise<void> {
  const { replyApi, signal } = options;
  await sendReply(replyApi, {
    chatId: ref.chatId,
    replyTo: ref.messageId,
    text,
    formatted: false,
    signal,
  });
}

/** The message an update is about (its message, or the message an edit changed). */
function refOf(value: unknown): MessageRef {
  const update = value as Update;
  const message = (update.message ?? update.edited_message)!;
  return { updateId: update.update_id, chatId: message.chat.id, messageId: message.message_id };
}
