/**
 * One message's work in its handler, as every step of the pipeline (`handle.ts`) sees it: who it
 * is, its journal entry, how it replies and reacts, and the line to the poll process (a cancel, an
 * edit, the reports).
 *
 * @module
 */

import type { Api } from "grammy/web";
import type { Message, Update } from "grammy/types";
import type { Config } from "../shared/config.ts";
import { type EntryRecord, entryRecord } from "./entry_record.ts";
import { type MessageRef, type Reaction, reactionChain, showTyping } from "./feedback.ts";
import { TurnLink } from "./turn_link.ts";
import type { Journal } from "../shared/journal.ts";
import type { JournalEntry, OutgoingFile } from "../shared/journal_entry.ts";
import type { HandlerLine } from "./line.ts";
import type { Logger } from "../shared/log.ts";
import { finish } from "./outbox.ts";
import { RERUN_NOTE } from "./texts.ts";

/** How often the typing action is renewed while the message is worked on (Telegram shows it ~5 s). */
export const TYPING_EVERY_MS = 4000;

/** Options for `handleMessage`: what the handler process gives a message. */
export interface HandleOptions {
  /** For the droppable calls (reactions, typing, progress): no retries, short timeouts. */
  api: Api;
  /** For the calls that must land (replies, files): waits out what is transient. Default: `api`. */
  replyApi?: Api;
  config: Config;
  /** The message's journal entry, as the poll process handed it over (its update inside). */
  entry: JournalEntry;
  /** The line to the poll process: cancels and edits come in, reports go out. */
  line: HandlerLine;
  /** The bot's environment (without the token); the brain gets it. */
  env: Readonly<Record<string, string>>;
  log: Logger;
  /** Aborted when the handler must stop (SIGTERM, or the poll process is gone). */
  signal: AbortSignal;
  /** The journal the entry is kept in. Default: none (reports only). */
  journal?: Journal;
  /** The wall clock, ms since the epoch, for the times the journal records. Default: `Date.now`. */
  now?: () => number;
  /** How often "typing…" is renewed during the work. Default: {@linkcode TYPING_EVERY_MS}. */
  typingEveryMs?: number;
}

/** One message's work: see the module doc. */
export interface Work extends HandleOptions {
  replyApi: Api;
  update: Update & { message: Message };
  ids: MessageRef;
  record: EntryRecord;
  /** The message's reactions, in order. */
  react: (emoji: Reaction) => Promise<void>;
  /** A reaction on another message of the chat (one steered into this one); never throws. */
  reactOn: (messageId: number, emoji: Reaction) => Promise<void>;
  /** What reaches the working brain over the line: steers, interrupts, answers to its asks. */
  turns: TurnLink;
  /** Our notes above its final reply (re-run, wait, resume). */
  notes: string[];
  /** Its final reply (see `finish`), and the files it sends after it: the one way it ends. */
  reply: (text: string, emoji: Reaction, files?: readonly OutgoingFile[]) => Promise<void>;
}

/** Sets a message's work up from what the handler was given. */
export function startWork(options: HandleOptions): Work {
  const { api, entry, log, journal, line } = options;
  const update = entry.update as Update & { message: Message };
  // A send from the box answers no message: its message id is 0 (no reply link, no reaction).
  const ids: MessageRef = {
    updateId: entry.updateId,
    chatId: entry.chatId,
    messageId: update.message?.message_id ?? 0,
  };
  const record = entryRecord(entry, { journal, log, report: (r) => line.report(r) });
  const react = reactionChain(ids, { api, log });
  const notes: string[] = entry.rerun ? [RERUN_NOTE] : [];
  const replyApi = options.replyApi ?? api;
  // Each message's reactions in a chain of its own: a steer's 👌 never lands before its ✍.
  const chains = new Map<number, (emoji: Reaction) => Promise<void>>();
  const reactOn = (messageId: number, emoji: Reaction) => {
    let chain = chains.get(messageId);
    if (chain === undefined) {
      chains.set(messageId, chain = reactionChain({ ...ids, messageId }, { api, log }));
    }
    return chain(emoji);
  };
  const turns = new TurnLink({
    line,
    record,
    steerable: options.config.brainKind === "claude",
    react: (messageId, emoji) => void reactOn(messageId, emoji),
  });
  return {
    ...options,
    replyApi,
    update,
    ids,
    record,
    react,
    reactOn,
    turns,
    notes,
    reply: (text, emoji, files) =>
      finish({ ...options, replyApi, ids, record, notes, text, emoji, react, reactOn, files }),
  };
}

/**
 * While a message is worked on: "typing…" renewed; `signal` aborts when the person cancels it or
 * the handler must stop. Dispose of it when the work is done.
 */
export function whileWorking(work: Work): Disposable & { signal: AbortSignal } {
  const { api, ids, log, typingEveryMs = TYPING_EVERY_MS } = work;
  void showTyping(ids, { api, log });
  const typing = setInterval(() => void showTyping(ids, { api, log }), typingEveryMs);
  return {
    signal: AbortSignal.any([work.signal, work.line.cancel]),
    [Symbol.dispose]: () => clearInterval(typing),
  };
}
