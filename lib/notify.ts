/**
 * Telling systemd how the bot is: `READY=1`, `STATUS=…`, `WATCHDOG=1` and `STOPPING=1` over
 * `$NOTIFY_SOCKET`, through the `systemd-notify` helper.
 *
 * Why the helper rather than a socket of our own: Deno 2.9 can send to a unix datagram socket only
 * with `--unstable-net`, an unstable flag whose behaviour may change under us; `systemd-notify`
 * needs no flag and is wherever systemd is. It runs as a child of ours, so the unit needs
 * `NotifyAccess=all`. A start costs a few milliseconds, so watchdog pings are sent at most once per
 * `minIntervalMs` (far more often than any sane `WatchdogSec=` needs), never awaited by the loop, and
 * one after the other, so that they arrive in the order they were sent. Watchdog pings start with
 * `READY=1`, as systemd's watchdog does. Without `$NOTIFY_SOCKET` (run by hand, in tests) every
 * method does nothing.
 *
 * @module
 */

import { getLog } from "./log.ts";

/** Options for {@linkcode SystemdNotifier}. */
export interface NotifierOptions {
  /** `$NOTIFY_SOCKET`; when undefined, nothing is sent. */
  socket?: string;
  /** The helper. Default: "systemd-notify". */
  command?: string;
  /** Fewest milliseconds between two watchdog pings. Default: 1000. */
  minIntervalMs?: number;
  /** The clock. Default: `performance.now`. */
  now?: () => number;
}

/** Sends notifications to systemd; see the module doc. */
export class SystemdNotifier {
  #socket?: string;
  #command: string;
  #minIntervalMs: number;
  #now: () => number;
  #lastPing = -Infinity;
  #queue: Promise<void> = Promise.resolve();
  #ready = false;
  #broken = false;
  #log = getLog("notify");

  constructor(options: NotifierOptions = {}) {
    const {
      socket,
      command = "systemd-notify",
      minIntervalMs = 1000,
      now = () => performance.now(),
    } = options;
    this.#socket = socket;
    this.#command = command;
    this.#minIntervalMs = minIntervalMs;
    this.#now = now;
  }

  /** True when there is a socket to notify. */
  get enabled(): boolean {
    return this.#socket !== undefined && !this.#broken;
  }

  /** Start-up is done: configuration checked, first `getUpdates` answered. */
  ready(status: string): void {
    this.#ready = true;
    this.#lastPing = this.#now();
    this.#send(["READY=1", `STATUS=${status}`]);
  }

  /** The poll loop came round: a watchdog ping (rate-limited) with the current status. */
  alive(status: string): void {
    if (!this.#ready) return;
    const now = this.#now();
    if (now - this.#lastPing < this.#minIntervalMs) return;
    this.#lastPing = now;
    this.#send(["WATCHDOG=1", `STATUS=${status}`]);
  }

  /** The teardown has begun. */
  stopping(status: string): void {
    this.#send(["STOPPING=1", `STATUS=${status}`]);
  }

  /** Waits for the notifications under way (at exit). */
  async flush(): Promise<void> {
    await this.#queue;
  }

  #send(assignments: string[]) {
    if (!this.enabled) return;
    this.#queue = this.#queue.then(() => this.#run(assignments));
  }

  async #run(assignments: string[]): Promise<void> {
    if (this.#broken) return;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(this.#command, {
        args: ["--no-block", ...assignments],
        env: { NOTIFY_SOCKET: this.#socket!, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
        clearEnv: true,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
    } catch (error) {
      // Without the helper there is no way to reach systemd: say so once, then stay quiet.
      this.#broken = true;
      this.#log.error("cannot run {command} to notify systemd: {error}", {
        command: this.#command,
        error: String(error),
      });
      return;
    }
    const status = await child.status;
    if (!status.success) {
      this.#log.warn("{command} failed (exit status {code})", {
        command: this.#command,
        code: status.code,
      });
    }
  }
}
