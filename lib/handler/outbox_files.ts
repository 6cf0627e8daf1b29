/**
 * The outbox's files: what an answer sends after its text (`Outgoing.files`, journaled with the
 * answer before anything is sent), one by one, in order, each recorded as it lands
 * (`filesSent`), so that a restart goes on with the next and sends none twice.
 *
 * A photo goes with `sendPhoto`; one Telegram refuses as a photo (its dimensions, its format) goes
 * again as a document. A file Telegram refuses for good, and the files left when a delivery
 * outlasted its patience, are kept in `undelivered/<update_id>/` and logged; a file that can't be
 * read (gone from the box, say) is logged and skipped.
 *
 * @module
 */

import type { Api } from "grammy/web";
import { InputFile } from "grammy/web";
import type { EntryRecord } from "./entry_record.ts";
import type { MessageRef } from "./feedback.ts";
import type { Outgoing, OutgoingFile } from "../shared/journal_entry.ts";
import type { Logger } from "../shared/log.ts";
import { keptDir, pathExists } from "../shared/outgoing_files.ts";
import {
  apiSignal,
  classifyFailure,
  describeError,
  isBadRequest,
  PatienceError,
} from "../shared/telegram.ts";

/** Options for {@linkcode sendFiles}. */
export interface SendFilesOptions {
  /** The client that waits out transient failures (`enablePatience`). Required. */
  replyApi: Api;
  /** The message's entry: each file sent is recorded there. Required. */
  record: EntryRecord;
  ids: MessageRef;
  stateDir: string;
  log: Logger;
  /** Aborted when the handler must stop: no file starts after it. */
  signal?: AbortSignal;
  /** Aborted a grace period after `signal`: a file under way may still land (`outbox.ts`). */
  inFlight?: AbortSignal;
}

/**
 * Sends the files of `sent` not yet sent, updating `sent.filesSent` and recording it after each.
 * Throws what is neither a permanent refusal nor the end of the patience (a stop, mostly): the
 * files left are then sent by the next handler.
 */
export async function sendFiles(sent: Outgoing, options: SendFilesOptions): Promise<void> {
  const { record, log, ids, signal } = options;
  const files = sent.files ?? [];
  for (let index = sent.filesSent ?? 0; index < files.length; index++) {
    signal?.throwIfAborted();
    const file = files[index];
    try {
      await sendFile(file, options);
    } catch (error) {
      if (signal?.aborted) throw error;
      if (error instanceof Unreadable) {
        // Another try would read no better: never a reason to keep the message from finishing.
        log.error("update {updateId}: {name} can't be read ({error}); not sent", {
          ...ids,
          name: file.name,
          error: String(error.cause),
        });
      } else if (error instanceof PatienceError) {
        keepFiles(files.slice(index), { ...options, reason: describeError(error) });
        index = files.length;
      } else if (classifyFailure(error).kind === "permanent") {
        keepFiles([file], { ...options, reason: describeError(error) });
      } else {
        throw error;
      }
    }
    sent.filesSent = Math.min(index + 1, files.length);
    record.update({ answer: sent });
  }
}

/** Sends one file: a photo as a photo (as a document when Telegram won't take it as one). */
async function sendFile(file: OutgoingFile, options: SendFilesOptions): Promise<void> {
  const { replyApi, ids, inFlight } = options;
  const bytes = await Deno.readFile(file.path).catch((cause) => {
    throw new Unreadable(file.path, { cause });
  });
  const other = ids.messageId > 0
    ? { reply_parameters: { message_id: ids.messageId, allow_sending_without_reply: true } }
    : {};
  if (file.kind === "photo") {
    try {
      await replyApi.sendPhoto(
        ids.chatId,
        new InputFile(bytes, file.name),
        other,
        apiSignal(inFlight),
      );
      return;
    } catch (error) {
      if (!isBadRequest(error, /PHOTO|IMAGE|DIMENSIONS|file must be/i)) throw error;
      options.log.info("update {updateId}: {name} sent as a document: {error}", {
        ...ids,
        name: file.name,
        error: describeError(error),
      });
    }
  }
  await replyApi.sendDocument(
    ids.chatId,
    new InputFile(bytes, file.name),
    other,
    apiSignal(inFlight),
  );
}

/** A file of the answer that can't be read (gone from the box, its mode, an I/O error). */
class Unreadable extends Error {
  override name = "Unreadable";
}

/**
 * Keeps files that did not reach the phone in `undelivered/<update_id>/`, and logs it; a file
 * that can't be moved is logged where it is.
 */
export function keepFiles(
  files: readonly OutgoingFile[],
  options: Pick<SendFilesOptions, "stateDir" | "ids" | "log"> & { reason: string },
): void {
  const { stateDir, ids, log, reason } = options;
  const dir = keptDir(stateDir, ids.updateId);
  for (const file of files) {
    const to = `${dir}/${file.path.split("/").at(-1)}`;
    try {
      Deno.mkdirSync(dir, { recursive: true });
      Deno.renameSync(file.path, to);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound && !pathExists(file.path)) continue;
      log.error("update {updateId}: cannot keep {path} in {dir}: {error}", {
        ...ids,
        path: file.path,
        dir,
        error: String(error),
      });
      continue;
    }
    log.error("update {updateId}: {name} can't be delivered ({reason}); kept in {to}", {
      ...ids,
      name: file.name,
      reason,
      to,
    });
  }
}
