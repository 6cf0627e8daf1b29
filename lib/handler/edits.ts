/**
 * Edits of messages: an edit that comes while its message still waits for the chat's turn changes
 * what the brain gets; a later one is answered with a short note.
 *
 * The desk leaves a marker, `<state dir>/edits/<original update_id>.json`, rather than change the
 * original's journal entry: that entry has one writer, the original's own handler. That handler
 * records `turnAt` in its entry when it takes its turn, and only then takes the marker
 * (`applyEdit`, `input.ts`); the desk writes the marker first, then reads the entry. So either the
 * desk sees the message still waiting (and the original will find the marker), or it sees it too
 * late and withdraws the marker itself. Taking and withdrawing are one rename or one unlink of
 * the same name: exactly one of the two wins, and the person hears of every edit that was not
 * used.
 *
 * @module
 */

import type { Api } from "grammy/web";
import type { Message, Update } from "grammy/types";
import { writeFileAtomic } from "../shared/atomic_write.ts";
import type { Config } from "../shared/config.ts";
import type { Journal } from "../shared/journal.ts";
import type { JournalEntry } from "../shared/journal_entry.ts";
import { entryRecord } from "../shared/journal_record.ts";
import type { Logger } from "../shared/log.ts";
import { sendReply } from "./reply.ts";
import { lateEditText } from "./texts.ts";

/** An edit left for a waiting message. */
export interface Edit {
  /** The edit's own update id (a later edit wins). */
  editUpdateId: number;
  /** The new text, or the new caption ("" when the caption was removed). */
  text: string;
}

/** The edit markers of a state folder. */
export class EditBox {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = `${stateDir}/edits`;
  }

  /** Leaves an edit for a message, unless a later edit of it is there already. */
  leave(updateId: number, edit: Edit): void {
    Deno.mkdirSync(this.dir, { recursive: true });
    const present = this.#read(this.#path(updateId));
    if (present !== undefined && present.editUpdateId > edit.editUpdateId) return;
    writeFileAtomic(this.#path(updateId), JSON.stringify(edit) + "\n");
  }

  /** Takes a message's edit, if any: from then on it can't be withdrawn. Never throws. */
  take(updateId: number): Edit | undefined {
    const taken = `${this.#path(updateId)}.taken-${Deno.pid}`;
    try {
      Deno.renameSync(this.#path(updateId), taken);
    } catch {
      return undefined;
    }
    const edit = this.#read(taken);
    this.#remove(taken);
    return edit;
  }

  /** Withdraws a message's edit; true when it was still there (not taken). Never throws. */
  withdraw(updateId: number): boolean {
    return this.#remove(this.#path(updateId));
  }

  /** Forgets a message's edit (the message is finished). Never throws. */
  clear(updateId: number): void {
    this.#remove(this.#path(updateId));
  }

  #path(updateId: number): string {
    return `${this.dir}/${updateId}.json`;
  }

  #read(path: string): Edit | undefined {
    try {
      const edit = JSON.parse(Deno.readTextFileSync(path)) as Partial<Edit>;
      return typeof edit?.editUpdateId === "number" && typeof edit.text === "string"
        ? { editUpdateId: edit.editUpdateId, text: edit.text }
        : undefined;
    } catch {
      return undefined;
    }
  }

  #remove(path: string): boolean {
    try {
      Deno.removeSync(path);
      return true;
    } catch {
      return false;
    }
  }
}

/** Where an edited message stands, as its edit sees it. */
export type EditStanding = "waiting" | "working" | "answered";

/** Tells whether an edit can still reach the brain, from the original's journal entry. */
export function editStanding(entry: JournalEntry | undefined): EditStanding {
  if (entry === undefined || entry.stage === "replied") return "answered";
  if (entry.stage !== "brain" && entry.turnAt === undefined) {
    return "waiting";
  }
  return "working";
}

/** Options for {@linkcode originalEntry}: which message was edited. */
export interface OriginalEntryOptions {
  /** The chat of the edited message. Required. */
  chatId: number;
  /** The edited message's `message_id`. Required. */
  messageId: number;
}

/** The original message's journal entry of an edit, if it is still in the journal. */
export function originalEntry(
  entries: readonly JournalEntry[],
  options: OriginalEntryOptions,
): JournalEntry | undefined {
  const { chatId, messageId } = options;
  return entries.find((e) => {
    const message = (e.update as { message?: { message_id?: unknown } })?.message;
    return e.chatId === chatId && message?.message_id === messageId;
  });
}

/** Options for {@linkcode handleEdit}. */
export interface EditOptions {
  /** For the note (retries 429 and 5xx). */
  api: Api;
  config: Config;
  update: Update & { edited_message: Message };
  journal?: Journal;
  log: Logger;
  signal: AbortSignal;
}

/**
 * Handles an edit, at once and without the chat's turn: leaves it for its message if that still
 * waits (quietly: the edit has no message of its own to react to), or says it came too late.
 */
export async function handleEdit(options: EditOptions): Promise<void> {
  const { api, config, update, journal, log, signal } = options;
  const edited = update.edited_message;
  const ids = { updateId: update.update_id, chatId: edited.chat.id, messageId: edited.message_id };
  const finish = () => entryRecord(journal, update.update_id, { log }).finish();
  if (journal?.read(update.update_id)?.giveUp) {
    log.warn("edit {updateId} of message {messageId} given up on (its handlers kept dying)", ids);
    finish();
    return;
  }
  const entries = () => journal?.list() ?? [];
  const original = originalEntry(entries(), ids);
  let standing = editStanding(original);
  if (original !== undefined && standing === "waiting") {
    const edits = new EditBox(config.stateDir);
    edits.leave(original.updateId, {
      editUpdateId: update.update_id,
      text: edited.text ?? edited.caption ?? "",
    });
    // Read again now that the marker is down (see the module doc).
    standing = editStanding(journal?.read(original.updateId));
    if (standing === "waiting" || !edits.withdraw(original.updateId)) {
      log.info(
        "edit {updateId} left for update {original} (message {messageId}): it still waited",
        {
          ...ids,
          original: original.updateId,
        },
      );
      finish();
      return;
    }
  }
  log.info("edit {updateId} of message {messageId} ignored: the brain was {standing}", {
    ...ids,
    standing: standing === "working" ? "working on it" : "done with it",
  });
  await sendReply(api, {
    chatId: ids.chatId,
    replyTo: ids.messageId,
    text: lateEditText(standing === "working" ? "working" : "answered"),
    formatted: false,
    signal,
  });
  finish();
}
