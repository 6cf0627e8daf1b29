/**
 * What reaches a chat's working message from the person, decided in the scheduler and told to its
 * handler over the line: a new message that steers into the working turn (a reply to the message
 * or to its progress message, `/steer …`, or any message with `COORD_BUSY_MODE=steer`), one that
 * interrupts it and goes next (`!…`), one that waits behind it (the progress display says how
 * many), `/stop` and the Stop buttons (interrupt: the conversation keeps what was done), and the
 * person's answers to the brain's asks to use a tool.
 *
 * A steered message is journaled like any other and marked as steered into its host; it ends
 * when its host ends. A steer the handler can't take (a brain that is not the Claude driver, or a
 * turn already over) waits its turn like a plain message instead.
 *
 * @module
 */

import { type BusyMode, decideBusy, messageIdOf } from "./decide.ts";
import type { Held, HeldMessages } from "./held.ts";
import { patched } from "../shared/journal_entry.ts";
import type { Decision, DeskJob, PressAnswer, Report, StopVerdict } from "../shared/line.ts";
import { getLog } from "../shared/log.ts";
import { unmarked } from "../shared/command.ts";

/** Options for {@linkcode Working}: the scheduler's state it works on. */
export interface WorkingOptions {
  /** The scheduler's messages. */
  messages: HeldMessages;
  /** What a plain message does while its chat's brain works. */
  busyMode: BusyMode;
  /** Queues a message in its chat (as the scheduler does for any journaled message). */
  enqueue: (held: Held) => void;
  /** How many of a chat's messages wait for their turn. */
  waitingIn: (chatId: number) => number;
  /** Hands the desk a job. */
  desk: (job: DeskJob) => void;
}

/** An ask's button: `ap:<update id>:<dispatch>:<ask>:<a|A|d>` (see `approvals.ts`). */
const APPROVAL_DATA = /^ap:(\d+):(\d+):(\d+):([aAd])$/;
const DECISIONS: Record<string, Decision> = { a: "allow", A: "always", d: "deny" };
const ANSWERS: Record<Decision, PressAnswer> = {
  allow: "allowed",
  always: "always",
  deny: "denied",
};

/** See the module doc. */
export class Working {
  #options: WorkingOptions;
  /** Steers told to a working handler, awaiting its report: steer update id → host update id. */
  #steering = new Map<number, number>();
  /** Chats told once that their brain can't be steered. */
  #toldUnsteerable = new Set<number>();
  #log = getLog("scheduler");

  constructor(options: WorkingOptions) {
    this.#options = options;
  }

  /**
   * A journaled message arrives in its chat: into the working turn (true: the scheduler leaves it
   * to its host), or to its chat's queue (false), after interrupting the working turn for a `!`.
   */
  arrive(held: Held): boolean {
    if (held.entry.steeredInto !== undefined) return true;
    const host = this.#options.messages.working(held.entry.chatId);
    const choice = decideBusy(held.entry, host?.entry, { busyMode: this.#options.busyMode });
    if (host === undefined || choice === "queue") return false;
    if (choice === "interrupt") {
      host.child!.handler.send({ kind: "interrupt", by: "!" });
      held.entry = patched(held.entry, { urgent: true });
      this.#options.messages.save(held);
      this.#log.info("update {updateId} interrupts update {host} and goes next", {
        updateId: held.entry.updateId,
        host: host.entry.updateId,
      });
      return false;
    }
    const update = held.entry.update as { message: { message_id: number; text: string } };
    this.#steering.set(held.entry.updateId, host.entry.updateId);
    host.child!.handler.send({
      kind: "steer",
      steer: {
        updateId: held.entry.updateId,
        messageId: update.message.message_id,
        text: unmarked(update.message.text),
      },
    });
    return true;
  }

  /** A message was queued: the working message's progress display says how many wait. */
  queued(chatId: number): void {
    this.#options.messages.working(chatId)?.child?.handler.send({
      kind: "queued",
      waiting: this.#options.waitingIn(chatId),
    });
  }

  /**
   * The host's handler said whether a steer went into its turn; or took back one it had taken
   * (the turn ended without it), which then waits its turn like one never taken.
   */
  steered(report: Extract<Report, { kind: "steered" }>): void {
    const held = this.#options.messages.get(report.steerUpdateId);
    const takenBack = !report.taken && held?.entry.steeredInto === report.updateId;
    if (this.#steering.get(report.steerUpdateId) !== report.updateId && !takenBack) return;
    this.#steering.delete(report.steerUpdateId);
    if (held === undefined) return;
    if (takenBack) {
      held.entry = patched(held.entry, { steeredInto: undefined });
      this.#options.messages.save(held);
    }
    if (report.taken) {
      held.entry = patched(held.entry, { steeredInto: report.updateId });
      this.#options.messages.save(held);
      return;
    }
    if (report.reason === "plain" && !this.#toldUnsteerable.has(held.entry.chatId)) {
      this.#toldUnsteerable.add(held.entry.chatId);
      this.#options.desk({ job: "unsteerable", update: held.entry.update });
    }
    this.#options.enqueue(held);
  }

  /**
   * A host's handler ended: steers it never reported on wait their turn, unless its entry lists
   * them (it died between recording one and saying so): those went into its turn, and end with it.
   * (The messages steered into it end when it does: `HeldMessages.finish`.)
   */
  hostEnded(host: Held): void {
    const { messages } = this.#options;
    const { updateId } = host.entry;
    for (const [steerId, hostId] of this.#steering) {
      if (hostId !== updateId) continue;
      this.#steering.delete(steerId);
      const held = messages.get(steerId);
      if (held === undefined) continue;
      if (!host.entry.steers?.some((s) => s.updateId === steerId)) {
        this.#options.enqueue(held);
        continue;
      }
      held.entry = patched(held.entry, { steeredInto: updateId });
      messages.save(held);
      if (messages.get(updateId) === undefined) messages.finish(held);
    }
  }

  /** `/stop` in a chat: its working brain is told to stop its turn. */
  stop(chatId: number): StopVerdict {
    const host = this.#options.messages.working(chatId);
    if (host === undefined) return { kind: "nothing" };
    host.child!.handler.send({ kind: "interrupt", by: "/stop" });
    return { kind: "stopping", messageId: messageIdOf(host.entry) ?? 0 };
  }

  /** A press on a working message's buttons (Stop, or an ask's answer); undefined if not one. */
  press(target: { chatId?: number; data?: string; stopOf?: number }): PressAnswer | undefined {
    const approval = target.data?.match(APPROVAL_DATA);
    const hostId = approval ? Number(approval[1]) : target.stopOf;
    if (hostId === undefined) return undefined;
    const host = this.#options.messages.get(hostId);
    const live = host !== undefined && host.entry.chatId === target.chatId &&
      host.child !== undefined && !host.finished && host.entry.stage !== "answered" &&
      host.entry.stage !== "replied";
    if (approval === null || approval === undefined) {
      if (live) host!.child!.handler.send({ kind: "interrupt", by: "Stop" });
      return live ? "stopping" : "nothing";
    }
    // An ask of an earlier handler of the message (a restart, a death) is no longer asked.
    const dispatch = Number(approval[2]);
    const seq = Number(approval[3]);
    const decision = DECISIONS[approval[4]];
    const asked = host?.entry.dispatches === dispatch &&
      host.entry.asking?.some((a) => a.seq === seq);
    if (!live || !asked) return "stale";
    host!.child!.handler.send({ kind: "approval", seq, decision });
    this.#log.info("update {updateId}: ask {seq} answered from the phone: {decision}", {
      updateId: hostId,
      seq,
      decision,
    });
    return ANSWERS[decision];
  }
}
