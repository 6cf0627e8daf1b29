/**
 * One turn of the Claude Code CLI as a live process: `claude -p --input-format stream-json
 * --output-format stream-json --verbose`, the person's message written as the first user line on
 * its stdin, which stays open while the turn runs, and its stdout read line by line
 * (`claude_protocol.ts`).
 *
 * The turn ends at the CLI's `result` line, not at its exit: the CLI does not exit while its stdin
 * is open, and even with stdin closed it lingers while an MCP server or a background task of its
 * is alive. So {@linkcode ClaudeTurn.ended} resolves at the result (or at an exit without one),
 * and {@linkcode ClaudeTurn.finish} then closes stdin, gives the CLI `lingerMs` to exit by itself,
 * and ends its whole process group (and the caller's `afterExit` sweep) if it hasn't. The turn's
 * time limit runs until the result only. A CLI whose result left out a user line that was sent
 * into the turn is ended at once instead: it holds that line as a turn of its own, which it would
 * run (and bill) after the answer, while the caller has the message wait its turn.
 *
 * While the turn runs, the CLI's control requests are answered at once (by default every tool
 * that asks for permission is refused: nobody is asked, and the turn goes on), and the caller may
 * {@linkcode ClaudeTurn.send} more user lines into it or {@linkcode ClaudeTurn.interrupt} it.
 *
 * @module
 */

import { within } from "../shared/abort.ts";
import { LineSplitter } from "../shared/lines.ts";
import {
  type RunTreeResult,
  startTree,
  type StartTreeOptions,
  type TreeRun,
} from "../shared/process_tree.ts";
import {
  type ControlRequest,
  controlRequestLine,
  type ControlResponse,
  controlResponseLine,
  type InitLine,
  type Json,
  parseCliLine,
  userLine,
} from "./claude_protocol.ts";
import { type TurnEnd, TurnTranscript } from "./claude_transcript.ts";

export type { TurnEnd };

/** The answer to one of the CLI's control requests: a success payload, or an error. */
export type ControlAnswer = { response: Json } | { error: string };

/** What the model is told when a tool that asks for permission is refused. */
export const REFUSAL =
  "Refused: this bot runs without approvals, so nobody can allow a tool that asks for " +
  "permission. Carry on without it, and say what you would have needed.";

/** The default answer to the CLI's control requests: asks are refused, the rest unsupported. */
export function refuseAsks(request: ControlRequest): Promise<ControlAnswer> {
  if (request.subtype === "can_use_tool") {
    return Promise.resolve({ response: { behavior: "deny", message: REFUSAL } });
  }
  return Promise.resolve({ error: `Unsupported control request: ${request.subtype}` });
}

/** Options for {@linkcode ClaudeTurn}. */
export interface ClaudeTurnOptions extends Omit<StartTreeOptions, "args" | "timeoutMs"> {
  /** The person's message: the turn's first user line. Required. */
  message: string;
  /** The turn's limit in ms, until its result (the linger after it doesn't count). Default: none. */
  timeoutMs?: number;
  /** How long the CLI may take to exit by itself once stdin is closed after the result. Default: 3000. */
  lingerMs?: number;
  /** Answers the CLI's control requests (`can_use_tool`, …). Default: {@linkcode refuseAsks}. */
  onControlRequest?: (request: ControlRequest) => Promise<ControlAnswer>;
}

/** One turn of the CLI (see the module doc). */
export class ClaudeTurn {
  #tree: TreeRun;
  #lines = new LineSplitter();
  #transcript = new TurnTranscript();
  #over = false;
  #ended = Promise.withResolvers<TurnEnd>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The time limit left, in ms, and when it was last counted from (`performance.now()`). */
  #left = Infinity;
  #countedFrom = 0;
  #holds = 0;
  #timedOut = false;
  #requests = 0;
  #pending = new Map<string, (response: ControlResponse | undefined) => void>();
  #lingerMs: number;
  #onControlRequest: (request: ControlRequest) => Promise<ControlAnswer>;
  #finished: Promise<RunTreeResult> | undefined;
  /** The uuids of the user lines sent into the turn (its first line's not included). */
  #sent = new Set<string>();
  /** What the turn's result said it consumed, once it came. */
  #consumed?: readonly string[];

  /** Starts `command` (the CLI with its stream-json flags) and writes the message as its first line. */
  constructor(command: readonly string[], options: ClaudeTurnOptions) {
    const { message, timeoutMs, lingerMs = 3000, onControlRequest = refuseAsks, ...tree } = options;
    this.#lingerMs = lingerMs;
    this.#onControlRequest = onControlRequest;
    // The tree gets no time limit of its own: the turn's runs until the result only.
    this.#tree = startTree(command[0], {
      ...tree,
      args: command.slice(1),
      onStdout: (text) => {
        options.onStdout?.(text);
        for (const line of this.#lines.push(text)) this.#read(line);
      },
    });
    void this.#tree.write(userLine(message, crypto.randomUUID()));
    if (timeoutMs !== undefined) {
      this.#left = timeoutMs;
      this.#runClock();
    }
    void this.#tree.result.then((exit) => {
      const last = this.#lines.end();
      if (last !== undefined) this.#read(last);
      this.#end({ exit: this.#timedOut ? { ...exit, timedOut: true } : exit });
    });
  }

  /** The CLI's pid (its process group), once started. */
  get pid(): number | undefined {
    return this.#tree.pid;
  }

  /** What the CLI's `system/init` said (its version, `capabilities`), once it came. */
  get init(): InitLine | undefined {
    return this.#transcript.init;
  }

  /** Resolves at the turn's result line, or when the CLI ends without one. Never rejects. */
  get ended(): Promise<TurnEnd> {
    return this.#ended.promise;
  }

  /**
   * Stops the turn's time limit while the brain waits for the person (an ask to use a tool); the
   * returned function lets it run on with what was left. Holds may overlap.
   */
  holdClock(): () => void {
    if (this.#holds++ === 0 && this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#left -= performance.now() - this.#countedFrom;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#holds === 0 && !this.#over && this.#left !== Infinity) this.#runClock();
    };
  }

  #runClock() {
    this.#countedFrom = performance.now();
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.#tree.end();
    }, Math.max(0, this.#left));
  }

  /**
   * Writes `text` into the running turn as a user line under `uuid`; false once the turn is over.
   * Written is not yet taken in: the result's `consumed` says (see `userLine`).
   */
  send(text: string, uuid: string): Promise<boolean> {
    if (this.#over) return Promise.resolve(false);
    this.#sent.add(uuid);
    return this.#tree.write(userLine(text, uuid, { steer: true }));
  }

  /**
   * Asks the CLI to interrupt the running turn (its result then follows). Resolves with the CLI's
   * answer to the request, or undefined when the turn ended first.
   */
  interrupt(): Promise<ControlResponse | undefined> {
    if (this.#over) return Promise.resolve(undefined);
    const id = `interrupt-${++this.#requests}`;
    const answered = new Promise<ControlResponse | undefined>((resolve) => {
      this.#pending.set(id, resolve);
    });
    void this.#tree.write(controlRequestLine(id, { subtype: "interrupt" })).then((written) => {
      if (!written) this.#settle(id, undefined);
    });
    return answered;
  }

  /**
   * After the result: closes stdin, lets the CLI exit by itself within `lingerMs`, else ends its
   * process group; ends it at once when the result left out a line sent into the turn (see the
   * module doc). Resolves, with how it ended, once it is gone. Idempotent.
   */
  finish(): Promise<RunTreeResult> {
    this.#finished ??= (async () => {
      // At once, and before stdin closes: the CLI starts on the line it holds as soon as the
      // turn is over (the stand-in of the tests, at the latest when its input ends).
      if (this.#leftOut()) this.#tree.end();
      // Not awaited: a CLI that stopped reading could hold the close up.
      void this.#tree.closeInput();
      if (!(await within(this.#tree.result, this.#lingerMs)).settled) this.#tree.end();
      return await this.#tree.result;
    })();
    return this.#finished;
  }

  /** A line sent into the turn that its result says it did not consume. */
  #leftOut(): boolean {
    const consumed = this.#consumed;
    return consumed !== undefined && [...this.#sent].some((uuid) => !consumed.includes(uuid));
  }

  #read(text: string): void {
    const line = parseCliLine(text);
    if (line === undefined) return;
    if (line.type === "control_request") return void this.#answer(line.request);
    if (line.type === "control_response") {
      return this.#settle(line.response.requestId, line.response);
    }
    const result = this.#transcript.take(line);
    // A later result (of a line the CLI held) is not this turn's.
    if (result === undefined || this.#over) return;
    this.#consumed = result.consumed;
    this.#end({ result });
  }

  /** Answers the CLI's request at once; never throws (an answer that fails is an error answer). */
  async #answer(request: ControlRequest): Promise<void> {
    let line: string;
    try {
      line = controlResponseLine(request.requestId, await this.#onControlRequest(request));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      line = controlResponseLine(request.requestId, { error: message });
    }
    await this.#tree.write(line);
  }

  #settle(id: string, response: ControlResponse | undefined): void {
    this.#pending.get(id)?.(response);
    this.#pending.delete(id);
  }

  /** The turn is over: its end is told once; what waits for an answer is told there is none. */
  #end(how: Pick<TurnEnd, "result" | "exit">): void {
    if (this.#over) return;
    this.#over = true;
    clearTimeout(this.#timer);
    for (const id of [...this.#pending.keys()]) this.#settle(id, undefined);
    this.#ended.resolve(this.#transcript.end(how));
  }
}
