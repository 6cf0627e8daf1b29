/**
 * One handler process and the poll process's end of its live line (`shared/line.ts`): started in
 * a process group of its own (`launch.ts` says how), told the token and its role first, then controls on its stdin as
 * they come; its reports are read from its stdout as they come and handed to whoever listens.
 * Its stdin stays open for its whole life: EOF tells it the poll process is gone.
 *
 * @module
 */

import { within } from "../shared/abort.ts";
import { type Control, encodeLine, parseReport, type Report } from "../shared/line.ts";
import { readLines } from "../shared/lines.ts";
import type { HandlerLaunch } from "./launch.ts";

/** Options for {@linkcode HandlerProcess}. */
export interface HandlerProcessOptions {
  /** The handler's role. Required. */
  role: "desk" | "message";
  /** Told each report. Default: none (set {@linkcode HandlerProcess.onReport} later). */
  onReport?: (report: Report) => void;
  /** Told each line that is not a report. Default: ignored. */
  onBadLine?: (line: string) => void;
}

/** How long a handler's last reports may still be read after it exited. */
const REPORT_DRAIN_MS = 1000;

/** A started handler and its line; see the module doc. */
export class HandlerProcess {
  readonly process: Deno.ChildProcess;
  /** Told each report (reassignable: a spare's listener is set when it takes a message). */
  onReport: (report: Report) => void;
  /** Set once the process has exited. */
  exit?: Deno.CommandStatus;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #lastWrite: Promise<unknown> = Promise.resolve();
  #reading: Promise<void>;
  #closed = false;

  constructor(launch: HandlerLaunch, options: HandlerProcessOptions) {
    const { role, onReport = () => {}, onBadLine = () => {} } = options;
    this.onReport = onReport;
    this.process = new Deno.Command(launch.command, {
      args: [...launch.args],
      env: launch.env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
      detached: true,
    }).spawn();
    this.#stdin = this.process.stdin.getWriter();
    this.#reading = this.#read(onBadLine);
    this.process.status.then((status) => this.exit = status);
    this.send({ kind: "hello", token: launch.token, role });
  }

  /** The process id (and its process group's). */
  get pid(): number {
    return this.process.pid;
  }

  /** Resolves when the process has exited and its last reports have been read (or 1 s later). */
  get ended(): Promise<Deno.CommandStatus> {
    return this.process.status.then(async (status) => {
      await within(this.#reading, REPORT_DRAIN_MS);
      return status;
    });
  }

  /** Writes a control on the line; a handler that is gone fails it quietly (its exit says so). */
  send(control: Control): void {
    if (this.#closed) return;
    this.#lastWrite = this.#stdin.write(encodeLine(control)).catch(() => {});
  }

  /** Resolves once the controls written so far are in the handler's pipe. */
  async flushed(): Promise<void> {
    await this.#lastWrite;
  }

  /** Closes the line: the handler reads EOF (a spare, or a desk being replaced, then leaves). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stdin.close().catch(() => {});
  }

  async #read(onBadLine: (line: string) => void) {
    // readLines ends quietly on a broken pipe: the handler's exit is told by its status.
    for await (const line of readLines(this.process.stdout)) {
      const report = parseReport(line);
      if (report === undefined) {
        if (line.trim() !== "") onBadLine(line);
        continue;
      }
      try {
        this.onReport(report);
      } catch {
        // A listener's failure is not the handler's; the listener logs its own.
      }
    }
  }
}
