/**
 * The scheduler's side of the front desk: every update that does not take a turn (a command, an
 * edit, a Stop press) is decided here, from the messages the scheduler holds, and the desk is
 * given a job that says what to answer. A cancel, a Stop press or an edit that concerns a working
 * message is told to its handler over the line; a waiting message is withdrawn or edited here.
 * The desk decides nothing: it words and sends (`lib/handler/desk.ts`).
 *
 * @module
 */

import { within } from "../shared/abort.ts";
import type { ChatQueues } from "./chat_queues.ts";
import { decideCancel, messageIdOf } from "./decide.ts";
import { boxView, type Held, type HeldMessages, viewOf } from "./held.ts";
import type { Working } from "./working.ts";
import { patched } from "../shared/journal_entry.ts";
import type { DeskJob, Report, StatusView } from "../shared/line.ts";
import { getLog } from "../shared/log.ts";
import { parseCommand } from "../shared/command.ts";
import { isRecord } from "../shared/update.ts";
import { stopTarget } from "../shared/update_route.ts";
import { promptShown, promptToShow } from "./spool_entry.ts";

/** What the scheduler needs of the desk. */
export interface SchedulerDesk {
  /** Hands the desk a job; never blocks (jobs wait in memory while no desk is ready). */
  send(job: DeskJob): void;
  /** Resolves once the jobs so far are handed to the desk process. */
  flushed?(): Promise<void>;
}

/** Options for {@linkcode DeskWork}: the scheduler's state it works on. */
export interface DeskWorkOptions {
  desk: SchedulerDesk;
  /** What reaches working messages (`/stop`, the buttons on them). */
  working: Working;
  /** The scheduler's messages (an edit or a withdrawal changes one). */
  messages: HeldMessages;
  queues: ChatQueues;
  /** Where the bot stands, for `/status` (the chat's messages are read from `messages`). */
  bot: () => Omit<StatusView, keyof ReturnType<typeof viewOf>>;
}

/** Desk updates, decided and handed to the desk; see the module doc. */
export class DeskWork {
  #options: DeskWorkOptions;
  /** Edits told to a working handler, by the edit's update id: the message each edits. */
  #editsOut = new Map<number, number>();
  #log = getLog("scheduler");

  constructor(options: DeskWorkOptions) {
    this.#options = options;
  }

  /** Has the desk acknowledge a message (👀); it may start once the desk says so, or late. */
  ack(held: Held): void {
    this.#options.queues.awaitAck(held.entry.updateId);
    this.#options.desk.send({ job: "ack", update: held.entry.update });
  }

  /**
   * Acknowledges a message that waits again (at start) or a job from the box: an ask's prompt is
   * shown instead of a 👀, once (`spool_entry.ts`); a send needs neither.
   */
  acknowledge(held: Held): void {
    if (!held.turn || held.entry.withdrawn) return;
    if (held.entry.spool === undefined) return this.ack(held);
    const show = promptToShow(held.entry);
    if (show === undefined) return;
    this.#options.queues.awaitAck(held.entry.updateId);
    this.#options.desk.send({ job: "ack", update: held.entry.update, show });
  }

  /**
   * The desk's 👀 is out, or an ask's prompt shown (that message is its reply target from now);
   * true when the message waited for it to start.
   */
  acked(report: Extract<Report, { kind: "acked" }>): boolean {
    const held = this.#options.messages.get(report.updateId);
    const shown = held && promptShown(held.entry, report.shown);
    if (held !== undefined && shown !== undefined) {
      held.entry = patched(held.entry, shown);
      this.#options.messages.save(held);
    }
    return this.#options.queues.acked(report.updateId);
  }

  /** Has the desk tell the person a message was lost in a disk failure. */
  lost(ids: { updateId: number; chatId: number; messageId: number }): void {
    this.#options.desk.send({ job: "lost", ...ids });
  }

  /** Resolves once the desk's jobs so far are in its pipe, or after `ms`. */
  async flushed(ms: number): Promise<void> {
    await within(this.#options.desk.flushed?.() ?? Promise.resolve(), ms);
  }

  /** Decides a desk update (once) and gives the desk its job. */
  take(held: Held): void {
    if (held.released) return;
    held.released = true;
    const update = held.entry.update;
    if (held.entry.withdrawn) return this.#send(this.#withdrawJob(held));
    const kinds = isRecord(update) ? update : {};
    if (stopTarget(update) !== undefined || "callback_query" in kinds) return this.#press(held);
    if ("stopped_message_generation" in kinds) return this.#press(held);
    if ("edited_message" in kinds) return this.#edit(held);
    const message = kinds.message as { text?: string } | undefined;
    const command = parseCommand(message?.text);
    if (command === "status") {
      const all = this.#options.messages.all();
      const status = {
        ...this.#options.bot(),
        ...viewOf(all, held.entry.chatId),
        box: boxView(all),
      };
      return this.#send({ job: "command", update, status });
    }
    if (command === "cancel") return this.#cancel(held);
    if (command === "stop") {
      return this.#send({
        job: "command",
        update,
        stop: this.#options.working.stop(held.entry.chatId),
      });
    }
    this.#send({ job: "command", update });
  }

  /**
   * The desk finished the job of an update: a command, an edit, a press or a withdrawn message is
   * done (a note about a message that goes on, like "can't be steered", finishes nothing).
   */
  done(updateId: number): void {
    const held = this.#options.messages.get(updateId);
    if (held !== undefined && (!held.turn || held.entry.withdrawn)) {
      this.#options.messages.finish(held);
    }
  }

  /** A handler said whether it used an edit: the edit is answered (a note if it came too late). */
  editReported(report: Extract<Report, { kind: "edit" }>): void {
    if (this.#editsOut.get(report.editUpdateId) !== report.updateId) return;
    this.#editsOut.delete(report.editUpdateId);
    this.#editAnswered(report.editUpdateId, report.taken ? undefined : "working");
  }

  /** A message's handler ended: its edits it never answered came too late for it. */
  handlerEnded(updateId: number): void {
    for (const [editId, target] of this.#editsOut) {
      if (target !== updateId) continue;
      this.#editsOut.delete(editId);
      this.#editAnswered(editId, "working");
    }
  }

  #cancel(held: Held) {
    const { chatId, update } = held.entry;
    // A send from the box is no message of the person's: nothing of theirs to cancel.
    const candidates = this.#options.messages.chatMessages(chatId)
      .filter((h) => h.entry.spool?.kind !== "send")
      .map((h) => ({ entry: h.entry, running: h.child !== undefined }));
    const replyTo = (update as { message?: { reply_to_message?: { message_id?: number } } })
      .message?.reply_to_message?.message_id;
    const decision = decideCancel(candidates, replyTo);
    const target = decision.target === undefined
      ? undefined
      : this.#options.messages.get(decision.target);
    if (target !== undefined && decision.target !== undefined) {
      if (decision.action === "withdraw") this.#withdraw(target);
      else target.child?.handler.send({ kind: "cancel", by: "/cancel" });
      this.#log.info("/cancel: update {target} {action}", {
        target: decision.target,
        action: decision.action === "withdraw" ? "withdrawn before it started" : "told to stop",
      });
    }
    this.#send({ job: "command", update, cancel: decision.verdict });
  }

  #withdraw(target: Held) {
    const { queues } = this.#options;
    queues.remove(target.entry.updateId);
    target.entry = patched(target.entry, { withdrawn: true });
    this.#options.messages.save(target);
    target.released = true;
    this.#send(this.#withdrawJob(target));
  }

  /** The withdrawn message's reply, and 👎 on the messages steered into it (a parked turn's). */
  #withdrawJob(target: Held): DeskJob {
    const steered = this.#options.messages.steeredInto(target.entry.updateId)
      .map((h) => messageIdOf(h.entry))
      .filter((id) => id !== undefined);
    const job: DeskJob = { job: "withdraw", update: target.entry.update };
    return steered.length === 0 ? job : { ...job, steered };
  }

  #press(held: Held) {
    const { update } = held.entry;
    const u = update as {
      callback_query?: { data?: string; message?: { chat?: { id?: number } } };
      stopped_message_generation?: { chat?: { id?: number } };
    };
    const answer = this.#options.working.press({
      chatId: u.callback_query?.message?.chat?.id ?? u.stopped_message_generation?.chat?.id,
      data: u.callback_query?.data,
      stopOf: stopTarget(update),
    }) ?? "nothing";
    this.#send({ job: "press", update, answer });
  }

  #edit(held: Held) {
    const { chatId, updateId, update } = held.entry;
    const edited =
      (update as { edited_message: { message_id: number; text?: string; caption?: string } })
        .edited_message;
    const original = this.#options.messages.chatMessages(chatId).find((h) =>
      messageIdOf(h.entry) === edited.message_id
    );
    const edit = { editUpdateId: updateId, text: edited.text ?? edited.caption ?? "" };
    if (original === undefined || original.entry.stage === "answered") {
      return this.#editAnswered(updateId, "answered");
    }
    if (original.child === undefined) {
      // It still waits: its handler will be started with the new text.
      if ((original.entry.edit?.editUpdateId ?? -1) < updateId) {
        original.entry = patched(original.entry, { edit });
        this.#options.messages.save(original);
      }
      this.#log.info("edit {updateId} left for update {original}: it still waited", {
        updateId,
        original: original.entry.updateId,
      });
      return this.#editAnswered(updateId, undefined);
    }
    if (original.entry.stage === "brain") return this.#editAnswered(updateId, "working");
    // Its handler runs, its brain not yet: the handler takes it or says it came too late.
    this.#editsOut.set(updateId, original.entry.updateId);
    original.child.handler.send({ kind: "edit", edit });
  }

  #editAnswered(editUpdateId: number, late: "working" | "answered" | undefined) {
    const held = this.#options.messages.get(editUpdateId);
    if (held === undefined) return;
    if (late !== undefined) {
      this.#log.info("edit {updateId} came too late: the brain was {standing}", {
        updateId: editUpdateId,
        standing: late === "working" ? "working on it" : "done with it",
      });
    }
    this.#send({ job: "edit", update: held.entry.update, late });
  }

  #send(job: DeskJob) {
    this.#options.desk.send(job);
  }
}
