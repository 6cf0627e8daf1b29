/**
 * A handler's end of the live line (`shared/line.ts`): the controls the poll process writes on our
 * stdin, read one at a time until the start (the token, then the message or the desk's jobs), then
 * listened to while the message is worked on (a cancel, an edit); reports go out on stdout.
 *
 * @module
 */

import {
  type CancelledBy,
  type Control,
  type Edit,
  encodeLine,
  parseControl,
  type Report,
} from "../shared/line.ts";

/** The controls about a working brain (`turn_link.ts` takes them). */
export type TurnControl = Extract<Control, { kind: "steer" | "interrupt" | "approval" | "queued" }>;
import { readLines } from "../shared/lines.ts";

/** Options for {@linkcode HandlerLine}. */
export interface HandlerLineOptions {
  /** Sends one report to the poll process. Default: {@linkcode writeReport} (stdout). */
  report?: (report: Report) => void;
  /** Told about a line that is not a control (it is skipped). Default: ignored. */
  onBadLine?: (error: TypeError) => void;
}

/** The controls of one handler's stdin; see the module doc. */
export class HandlerLine {
  #lines: AsyncIterator<string>;
  #report: (report: Report) => void;
  #onBadLine: (error: TypeError) => void;
  #cancel = new AbortController();
  #cancelledBy: CancelledBy = "/cancel";
  #edit?: Edit;
  #editsClosed = false;
  #updateId?: number;
  #turn?: (control: TurnControl) => void;
  /** Controls for the working brain that came before anyone took them. */
  #early: TurnControl[] = [];

  constructor(stream: ReadableStream<Uint8Array>, options: HandlerLineOptions = {}) {
    this.#lines = readLines(stream)[Symbol.asyncIterator]();
    this.#report = options.report ?? writeReport;
    this.#onBadLine = options.onBadLine ?? (() => {});
  }

  /** The next control, or `undefined` at EOF (the poll process closed the line, or is gone). */
  async next(): Promise<Control | undefined> {
    while (true) {
      const { value, done } = await this.#lines.next();
      if (done) return undefined;
      if (value.trim() === "") continue;
      try {
        return parseControl(value);
      } catch (error) {
        this.#onBadLine(error as TypeError);
      }
    }
  }

  /** The controls left, as they come (the desk's jobs). */
  async *controls(): AsyncGenerator<Control> {
    for (let control = await this.next(); control !== undefined; control = await this.next()) {
      yield control;
    }
  }

  /**
   * Listens to the controls for message `updateId` while it is worked on; resolves at EOF. A
   * cancel aborts {@linkcode cancel}; an edit is kept until {@linkcode takeEdit}, and one that
   * comes after is reported too late at once.
   */
  async listen(updateId: number): Promise<void> {
    this.#updateId = updateId;
    for await (const control of this.controls()) {
      if (control.kind === "cancel") this.cancelFor(control.by);
      else if (control.kind === "edit") this.#takeIn(control.edit);
      else if (control.kind !== "hello" && control.kind !== "start" && control.kind !== "job") {
        if (this.#turn === undefined) this.#early.push(control);
        else this.#turn(control);
      }
    }
  }

  /** Stops the message's work outright (a cancel, or a stop of a brain that can't be interrupted). */
  cancelFor(by: CancelledBy): void {
    if (this.#cancel.signal.aborted) return;
    this.#cancelledBy = by;
    this.#cancel.abort(new Error(`cancelled by ${by}`));
  }

  /** Hands the controls about the working brain to `take` (those that came already first). */
  onTurnControl(take: (control: TurnControl) => void): void {
    this.#turn = take;
    for (const control of this.#early.splice(0)) take(control);
  }

  /** Aborted when the person cancels the message (by `/cancel` or a Stop press). */
  get cancel(): AbortSignal {
    return this.#cancel.signal;
  }

  /** Who cancelled the message (meaningful once {@linkcode cancel} is aborted). */
  get cancelledBy(): CancelledBy {
    return this.#cancelledBy;
  }

  /**
   * The latest edit that came over the line, and from now on every edit is too late (its brain
   * is about to start). Each edit is reported: the one returned and those it replaced as taken.
   */
  takeEdit(): Edit | undefined {
    this.#editsClosed = true;
    const edit = this.#edit;
    this.#edit = undefined;
    if (edit !== undefined) this.#reportEdit(edit, true);
    return edit;
  }

  /** Sends a report to the poll process. */
  report(report: Report): void {
    this.#report(report);
  }

  #takeIn(edit: Edit) {
    if (this.#editsClosed) return this.#reportEdit(edit, false);
    const older = this.#edit;
    if (older !== undefined && older.editUpdateId > edit.editUpdateId) {
      return this.#reportEdit(edit, true);
    }
    // The person's later edit covers the earlier one: it needs no note of its own.
    if (older !== undefined) this.#reportEdit(older, true);
    this.#edit = edit;
  }

  #reportEdit(edit: Edit, taken: boolean) {
    if (this.#updateId === undefined) return;
    this.#report({
      kind: "edit",
      updateId: this.#updateId,
      editUpdateId: edit.editUpdateId,
      taken,
    });
  }
}

/**
 * Writes one report line to stdout, whole (the poll process reads lines). A broken pipe means the
 * poll process is gone: the report has nobody to go to, and our stdin's EOF stops us.
 */
export function writeReport(report: Report): void {
  const bytes = encodeLine(report);
  let written = 0;
  try {
    while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}
