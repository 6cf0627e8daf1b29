/**
 * The working brain's end of the line (`line.ts`): what the person sends while a message is
 * worked on reaches its brain here.
 *
 * - A steer (a message for the working turn): while a Claude turn runs it goes in as a user line,
 *   and the answer covers both; before the turn (the message's input is still fetched, which may
 *   end it without a brain) and after it, or for a brain that can't take one (not the Claude
 *   driver), it is reported not taken and waits its turn. Each steer taken is recorded in the
 *   message's entry, in order, so that a retry or a re-run takes them in again (each attempt's
 *   input is the message with them: {@linkcode TurnLink.withSteers}), and its message gets ✍.
 *   A steer written as the turn was ending may come too late for it: when the turn's result lists
 *   the user lines it consumed and the steer is not among them, it is taken back (out of the entry,
 *   reported not taken) and waits its turn rather than go unanswered.
 * - An interrupt (`/stop`, a Stop button, a `!`): a running Claude turn is interrupted through the
 *   CLI's `interrupt` request (its conversation keeps what was done, and what it had is the
 *   answer); anything else is stopped outright, like `/cancel`.
 * - The person's answer to an ask to use a tool (`approvals.ts`), and how many messages wait
 *   behind this one (for the progress display).
 *
 * @module
 */

import type { ClaudeTurn } from "./claude_turn.ts";
import type { EntryRecord } from "./entry_record.ts";
import type { Reaction } from "./feedback.ts";
import type { HandlerLine, TurnControl } from "./line.ts";
import type { CancelledBy, Decision, InterruptedBy, Steer } from "../shared/line.ts";

/** Options for {@linkcode TurnLink}. */
export interface TurnLinkOptions {
  /** The message's line (reports go out on it; a stop that can't interrupt cancels on it). */
  line: HandlerLine;
  /** The message's entry: the steers taken are recorded there. */
  record: EntryRecord;
  /** The brain is the Claude driver: its turns can be steered and interrupted. */
  steerable: boolean;
  /** Sets a reaction on a message of the chat (✍ on a steer taken). */
  react: (messageId: number, emoji: Reaction) => void;
}

/** See the module doc. */
export class TurnLink {
  #options: TurnLinkOptions;
  #stage: "before" | "brain" | "after" = "before";
  #turn?: ClaudeTurn;
  #interruptedBy?: InterruptedBy;
  #answers = new Map<number, PromiseWithResolvers<Decision>>();
  /** The steers written into each running turn, by the uuid of their line. */
  #sent = new Map<ClaudeTurn, Map<string, Steer>>();
  #asks = 0;
  /** Told how many messages wait behind this one, and what the brain waits to be allowed (the
   * progress display, once it is up). */
  onShow: (shown: { waiting?: number; asking?: string }) => void = () => {};

  constructor(options: TurnLinkOptions) {
    this.#options = options;
    options.line.onTurnControl((control) => this.#take(control));
  }

  /** What interrupted the turn, if something did. */
  get interruptedBy(): InterruptedBy | undefined {
    return this.#interruptedBy;
  }

  /** The steers taken so far, in order (a re-run's and those that came before the brain). */
  get steers(): readonly Steer[] {
    return this.#options.record.read().steers ?? [];
  }

  /** The message's text with the messages steered into it so far, in order. */
  withSteers(text: string): string {
    return [text, ...this.steers.map((s) => s.text)].join("\n\n");
  }

  /** The brain starts: from now on a steer goes into its turn. */
  brainStarts(): void {
    this.#stage = "brain";
  }

  /** A Claude turn has started (each attempt): steers and interrupts go to it. */
  onTurn(turn: ClaudeTurn): void {
    this.#turn = turn;
    const sent = new Map<string, Steer>();
    this.#sent.set(turn, sent);
    void turn.ended.then((end) => {
      this.#sent.delete(turn);
      // Older CLIs don't say what they consumed: what was written counts as taken in.
      const consumed = end.result?.consumed;
      if (consumed === undefined) return;
      const late = [...sent].filter(([uuid]) => !consumed.includes(uuid));
      for (const [uuid] of late) sent.delete(uuid);
      this.#takeBack(late.map(([, steer]) => steer));
    });
    if (this.#interruptedBy !== undefined) void turn.interrupt();
  }

  /** The brain is done: a steer now is too late. */
  brainEnded(): void {
    this.#stage = "after";
    this.#turn = undefined;
  }

  /** The number of the next ask to use a tool. */
  nextAsk(): number {
    return ++this.#asks;
  }

  /** Waits for the person's answer to ask `seq` (see `approvals.ts`). */
  answer(seq: number): Promise<Decision> {
    let waiting = this.#answers.get(seq);
    if (waiting === undefined) this.#answers.set(seq, waiting = Promise.withResolvers());
    return waiting.promise;
  }

  /** Shows (or clears) that the brain waits for the person, in the entry and on the phone. */
  asking(seq: number, tool: string | undefined): void {
    const others = (this.#options.record.read().asking ?? []).filter((a) => a.seq !== seq);
    const asking = tool === undefined ? others : [...others, { seq, tool }];
    this.#options.record.update({ asking: asking.length === 0 ? undefined : asking });
    this.onShow({ asking: asking.at(-1)?.tool });
  }

  #take(control: TurnControl): void {
    switch (control.kind) {
      case "steer":
        return void this.#steer(control.steer);
      case "interrupt":
        return this.#interrupt(control.by);
      case "approval":
        if (!this.#options.record.read().asking?.some((a) => a.seq === control.seq)) return;
        this.#answers.get(control.seq)?.resolve(control.decision) ??
          this.#answers.set(control.seq, resolved(control.decision));
        return;
      case "queued":
        return this.onShow({ waiting: control.waiting });
    }
  }

  async #steer(steer: Steer): Promise<void> {
    const { line, record, steerable } = this.#options;
    const report = (taken: boolean, reason?: "plain" | "late") =>
      line.report({
        kind: "steered",
        updateId: record.read().updateId,
        steerUpdateId: steer.updateId,
        taken,
        ...(reason === undefined ? {} : { reason }),
      });
    if (!steerable) return report(false, "plain");
    // Only a turn that runs takes it: before (a download, a transcription, which may end the
    // message without a brain) and after, it waits its turn; between two attempts too.
    const turn = this.#turn;
    const sent = turn && this.#sent.get(turn);
    if (this.#stage !== "brain" || turn === undefined || sent === undefined) {
      return report(false, "late");
    }
    const uuid = crypto.randomUUID();
    // Known as sent before the write ends: the result may come first.
    sent.set(uuid, steer);
    const written = await turn.send(steer.text, uuid);
    // Taken back meanwhile: the result came without it, and said so.
    if (sent.get(uuid) !== steer) return;
    if (!written) {
      sent.delete(uuid);
      return report(false, "late");
    }
    record.update({ steers: [...this.steers, steer] });
    this.#options.react(steer.messageId, "✍");
    report(true);
  }

  /** Steers the turn did not take in after all: out of the entry, and reported not taken. */
  #takeBack(late: Steer[]): void {
    if (late.length === 0) return;
    const { line, record } = this.#options;
    const ids = new Set(late.map((steer) => steer.updateId));
    const kept = this.steers.filter((s) => !ids.has(s.updateId));
    record.update({ steers: kept.length === 0 ? undefined : kept });
    for (const steer of late) {
      line.report({
        kind: "steered",
        updateId: record.read().updateId,
        steerUpdateId: steer.updateId,
        taken: false,
        reason: "late",
      });
    }
  }

  #interrupt(by: InterruptedBy) {
    const { line, steerable } = this.#options;
    if (!steerable || this.#stage !== "brain") return line.cancelFor(by as CancelledBy);
    this.#interruptedBy ??= by;
    void this.#turn?.interrupt();
  }
}

function resolved(decision: Decision): PromiseWithResolvers<Decision> {
  const settled = Promise.withResolvers<Decision>();
  settled.resolve(decision);
  return settled;
}
