/**
 * One message's work in its handler, as every step of the pipeline (`handle.ts`) sees it: who it
 * is, its journal entry, how it replies and reacts, and whether the person cancelled it.
 *
 * @module
 */

import type { Api } from "grammy/web";
import type { Message, Update } from "grammy/types";
import { CancelBox } from "./cancel.ts";
import { EditBox } from "./edits.ts";
import type { Config } from "../shared/config.ts";
import { type MessageRef, type Reaction, reactionChain, showTyping } from "./feedback.ts";
import type { Journal } from "../shared/journal.ts";
import type { JournalEntry } from "../shared/journal_entry.ts";
import { type EntryRecord, entryRecord } from "../shared/journal_record.ts";
import type { Logger } from "../shared/log.ts";
import { finish } from "./outbox.ts";
import { RERUN_NOTE } from "./texts.ts";

/** How often the typing action is renewed while the message is worked on (Telegram shows it ~5 s). */
export const TYPING_EVERY_MS = 4000;

/** How often the cancel marker is looked at. */
export const CANCEL_POLL_MS = 250;

/** Options for `handleMessage`: what the handler process gives a message. */
export interface HandleOptions {
  /** For the droppable calls (reactions, typing, progress): no retries, short timeouts. */
  api: Api;
  /** For the calls that must land (replies, files): waits out what is transient. Default: `api`. */
  replyApi?: Api;
  config: Config;
  update: Update & { message: Message };
  /** The bot's environment; the brain gets it without the token variables. */
  env: Readonly<Record<string, string>>;
  log: Logger;
  /** Aborted when the handler must stop (SIGTERM, or the poll process is gone). */
  signal: AbortSignal;
  /** The journal the poll loop recorded the message in. Default: none (nothing recorded). */
  journal?: Journal;
  /** The wall clock, ms since the epoch, for the times the journal records. Default: `Date.now`. */
  now?: () => number;
  /** How often "typing…" is renewed during the work. Default: {@linkcode TYPING_EVERY_MS}. */
  typingEveryMs?: number;
}

/** One message's work: see the module doc. */
export interface Work extends HandleOptions {
  replyApi: Api;
  ids: MessageRef;
  record: EntryRecord;
  /** The entry as it was when the handler started. */
  entry?: JournalEntry;
  cancels: CancelBox;
  edits: EditBox;
  /** The message's reactions, in order. */
  react: (emoji: Reaction) => Promise<void>;
  /** Our notes above its final reply (re-run, wait, resume). */
  notes: string[];
  /** Its final reply (see `finish`): the one way it ends. */
  reply: (text: string, emoji: Reaction) => Promise<void>;
}

/** Sets a message's work up from what the handler was given. */
export function startWork(options: HandleOptions): Work {
  const { api, config, update, log, journal } = options;
  const message = update.message;
  const ids: MessageRef = {
    updateId: update.update_id,
    chatId: message.chat.id,
    messageId: message.message_id,
  };
  const record = entryRecord(journal, ids.updateId, { log });
  const entry = record.read();
  const react = reactionChain(ids, { api, log });
  const notes: string[] = entry?.rerun ? [RERUN_NOTE] : [];
  const replyApi = options.replyApi ?? api;
  return {
    ...options,
    replyApi,
    ids,
    record,
    entry,
    cancels: new CancelBox(config.stateDir),
    edits: new EditBox(config.stateDir),
    react,
    notes,
    reply: (text, emoji) => finish({ ...options, replyApi, ids, notes, text, emoji, react }),
  };
}

/**
 * While a message is worked on: "typing…" renewed, and the cancel marker watched; `cancel` aborts
 * when the person cancels it (by /cancel or Stop), `signal` also when the handler must stop.
 * Dispose of it when the work is done.
 */
export function whileWorking(
  work: Work,
): Disposable & { cancel: AbortSignal; signal: AbortSignal; checkCancel: () => boolean } {
  const { api, ids, log, cancels, typingEveryMs = TYPING_EVERY_MS } = work;
  const cancel = new AbortController();
  const check = () => {
    if (!cancel.signal.aborted && cancels.requested(ids.updateId)) {
      cancel.abort(new Error(`cancelled by ${cancels.by(ids.updateId)}`));
    }
    return cancel.signal.aborted;
  };
  const watch = setInterval(check, CANCEL_POLL_MS);
  void showTyping(ids, { api, log });
  const typing = setInterval(() => void showTyping(ids, { api, log }), typingEveryMs);
  return {
    cancel: cancel.signal,
    signal: AbortSignal.any([work.signal, cancel.signal]),
    checkCancel: check,
    [Symbol.dispose]: () => {
      clearInterval(watch);
      clearInterval(typing);
    },
  };
}
