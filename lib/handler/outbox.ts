/**
 * The outbox: how every message ends. Its final reply (the brain's answer, a ⚠️, a 🛑 or 🚫) is
 * written durably into its journal entry (stage `answered`) before anything is sent, then sent part
 * by part, each part recorded as it lands, so that a crash or restart resumes at the next part and
 * the brain never runs again for that message.
 *
 * Sending waits out what is transient in place (the reply client's patience, `telegram.ts`). What
 * can't be delivered (Telegram refuses it: the bot was blocked, the chat is gone; or it kept
 * failing past `COORD_REPLY_PATIENCE_S`) is kept in `$COORD_STATE_DIR/undelivered/` for the person
 * to read, and the message is finished: no retry storm, no second brain run.
 *
 * An answer's files (`Outgoing.files`: what the brain left in `COORD_SEND_DIR`, or a job's from the
 * box) go after its text, with the same guarantees (`outbox_files.ts`). Its reaction goes on the
 * messages steered into it too, whichever way it ended: they end with it.
 *
 * A stop (SIGTERM, a restart) lets a request that is out finish, for up to
 * {@linkcode SEND_GRACE_MS}, and records it: Telegram may have taken it already, and a part cut
 * off there would be sent again after the restart. No part starts after a stop.
 *
 * @module
 */

import type { Api } from "grammy/web";
import { InputFile } from "grammy/web";
import type { Config } from "../shared/config.ts";
import { type MessageRef, type Reaction, reactionChain, setReaction } from "./feedback.ts";
import { removeAttachments } from "../shared/attachments.ts";
import type { EntryRecord } from "./entry_record.ts";
import type { Outgoing, OutgoingFile } from "../shared/journal_entry.ts";
import { removeSendDir } from "../shared/outgoing_files.ts";
import { keepFiles, sendFiles } from "./outbox_files.ts";
import type { Logger } from "../shared/log.ts";
import { planReply, sendPart } from "./reply.ts";
import { apiSignal, classifyFailure, describeError, PatienceError } from "../shared/telegram.ts";

/** How long a delivery may take before it counts as held up. */
export const HELD_UP_MS = 5000;

/** How long a request that is out may still take after a stop (see the module doc). */
export const SEND_GRACE_MS = 3500;

/** What {@linkcode finish} needs. */
export interface FinishOptions {
  /** For the droppable reaction. */
  api: Api;
  /** For the reply: waits out transient failures (see `enablePatience`). Default: `api`. */
  replyApi?: Api;
  config: Config;
  /** The message's entry: the answer is journaled and reported there. */
  record: EntryRecord;
  log: Logger;
  ids: MessageRef;
  /** Our notes above the answer, one per line. Default: none. */
  notes?: readonly string[];
  /** The answer. */
  text: string;
  emoji: Reaction;
  /** Files sent after the answer, in order (`outgoing_files.ts`). Default: none. */
  files?: readonly OutgoingFile[];
  /** The message's reaction chain, when it has one (so the last reaction set is the last meant). */
  react?: (emoji: Reaction) => Promise<void>;
  /**
   * Sets a reaction on another message of the chat: the messages steered into this one end with
   * its reaction. Default: each set on its own (`setReaction`).
   */
  reactOn?: (messageId: number, emoji: Reaction) => Promise<void>;
  /**
   * Aborted when the handler must stop: the reply then stays in the outbox for the next run (a
   * request that is out gets {@linkcode SEND_GRACE_MS} to finish).
   */
  signal?: AbortSignal;
  /** The wall clock, ms since the epoch (for `heldUpSince`). Default: `Date.now`. */
  now?: () => number;
  /** How long a delivery may take before it counts as held up. Default: {@linkcode HELD_UP_MS}. */
  heldUpMs?: number;
}

/** Journals a message's final reply, then delivers it (see the module doc). */
export async function finish(options: FinishOptions): Promise<void> {
  const outgoing: Outgoing = {
    head: (options.notes ?? []).join("\n"),
    body: options.text,
    emoji: options.emoji,
    sent: 0,
    ...(options.files?.length ? { files: [...options.files], filesSent: 0 } : {}),
  };
  // Durable before anything is sent: from here on only sending is left, whatever happens.
  options.record.update({ stage: "answered", answer: outgoing });
  await deliver({ ...options, outgoing });
}

/** Sends a journaled reply from where it stands, then finishes the message. */
export async function deliver(
  options: Omit<FinishOptions, "text" | "emoji" | "notes" | "files"> & { outgoing: Outgoing },
): Promise<void> {
  const { api, replyApi = api, config, record, log, ids, outgoing, signal } = options;
  const { now = Date.now, heldUpMs = HELD_UP_MS } = options;
  const inFlight = graceAfter(signal, SEND_GRACE_MS);
  const plan = planReply(outgoing.head, outgoing.body, {
    maxParts: config.maxReplyParts,
    messageId: ids.messageId,
  });
  const sent = { ...outgoing };
  // A delivery that takes this long is held up, and `/status` says so.
  const heldUp = setTimeout(() => {
    sent.heldUpSince ??= new Date(now()).toISOString();
    record.update({ answer: sent });
  }, heldUpMs);
  try {
    for (let index = sent.sent; index < plan.messages.length; index++) {
      signal?.throwIfAborted();
      await sendPart(replyApi, {
        chatId: ids.chatId,
        replyTo: ids.messageId,
        text: plan.messages[index],
        index,
        signal: inFlight,
        onPlainFallback: (part, description) =>
          log.info("reply part {part} sent as plain text: {description}", { part, description }),
      });
      sent.sent = index + 1;
      record.update({ answer: sent });
    }
    if (plan.document !== undefined && !sent.documentSent) {
      signal?.throwIfAborted();
      await replyApi.sendDocument(
        ids.chatId,
        new InputFile(new TextEncoder().encode(plan.document.text), plan.document.name),
        ids.messageId > 0
          ? { reply_parameters: { message_id: ids.messageId, allow_sending_without_reply: true } }
          : {},
        apiSignal(inFlight),
      );
      sent.documentSent = true;
      record.update({ answer: sent });
    }
    await sendFiles(sent, { ...options, replyApi, stateDir: config.stateDir, inFlight });
  } catch (error) {
    if (signal?.aborted || !undeliverable(error)) throw error;
    keepUndelivered(options, { outgoing: sent, error });
    const unsent = (sent.files ?? []).slice(sent.filesSent ?? 0);
    keepFiles(unsent, { ...options, stateDir: config.stateDir, reason: describeError(error) });
    return close(options, { outgoing: sent, delivered: false });
  } finally {
    clearTimeout(heldUp);
  }
  await close(options, { outgoing: sent, delivered: true });
}

/** Permanent refusals, and transient failures that outlasted the patience. */
function undeliverable(error: unknown): boolean {
  return error instanceof PatienceError || classifyFailure(error).kind === "permanent";
}

function keepUndelivered(
  options: Parameters<typeof deliver>[0],
  failed: { outgoing: Outgoing; error: unknown },
) {
  const { config, log, ids } = options;
  const { outgoing, error } = failed;
  const dir = `${config.stateDir}/undelivered`;
  const path = `${dir}/${ids.updateId}.md`;
  const text = outgoing.head === "" ? outgoing.body : `${outgoing.head}\n${outgoing.body}`;
  try {
    Deno.mkdirSync(dir, { recursive: true });
    Deno.writeTextFileSync(path, text + "\n");
  } catch (writeError) {
    log.error("update {updateId}: cannot keep the undelivered answer in {path}: {error}", {
      ...ids,
      path,
      error: String(writeError),
    });
  }
  log.error("update {updateId}: the answer can't be delivered ({reason}); kept in {path}", {
    ...ids,
    reason: describeError(error),
    path,
  });
}

/** The message is done: files and markers go, the reaction says how it ended, the entry goes. */
async function close(
  options: Parameters<typeof deliver>[0],
  ending: { outgoing: Outgoing; delivered: boolean },
) {
  const { api, config, record, log, ids } = options;
  const { outgoing, delivered } = ending;
  // Before "replied" is recorded: an answered message never leaves its files behind.
  removeAttachments(config.stateDir, ids.updateId);
  removeSendDir(config.stateDir, ids.updateId);
  record.update({ stage: "replied" });
  // A send from the box has no reaction: it answers no message.
  if (delivered && outgoing.emoji !== "") {
    const emoji = outgoing.emoji as Reaction;
    const reactOn = options.reactOn ??
      ((messageId, emoji) => setReaction({ ...ids, messageId }, emoji, { api, log }));
    await Promise.all([
      (options.react ?? reactionChain(ids, { api, log }))(emoji),
      // The messages steered into it end as it does: answered with it (👌), or not (👎).
      ...(record.read().steers ?? []).map((steer) => reactOn(steer.messageId, emoji)),
    ]);
  }
  record.finish();
}

/**
 * A signal that aborts `ms` after `signal` does: a request that is out when the handler is told
 * to stop may still land and be recorded.
 */
function graceAfter(signal: AbortSignal | undefined, ms: number): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  const grace = new AbortController();
  const later = () => {
    const timer = setTimeout(() => grace.abort(signal.reason), ms);
    Deno.unrefTimer(timer);
  };
  if (signal.aborted) later();
  else signal.addEventListener("abort", later, { once: true });
  return grace.signal;
}
