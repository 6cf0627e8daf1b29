/**
 * Telling systemd how the bot is: `READY=1`, `STATUS=…`, `WATCHDOG=1` and `STOPPING=1` over
 * `$NOTIFY_SOCKET`, through the `systemd-notify` helper.
 *
 * Why the helper rather than a socket of our own: Deno 2.9 can send to a unix datagram socket only
 * with `--unstable-net`, an unstable flag whose behaviour may change under us; `systemd-notify`
 * needs no flag and is wherever systemd is. It runs as a child of ours, so the unit needs
 * `NotifyAccess=all` (`main` and `exec` admit only the main process and `Exec*=` commands).
 *
 * The helper runs without `--no-block`: it then waits (`BARRIER=1`) until systemd has read the
 * message, so systemd can still tell which unit the sender belongs to. With `--no-block` the helper
 * may exit first, and systemd drops a message it cannot attribute, even under `NotifyAccess=all`.
 * Messages are sent one after the other, in order, never awaited by the loop.
 *
 * The watchdog is pinged on a timer at half of `$WATCHDOG_USEC` (as `sd_watchdog_enabled(3)`
 * advises), not once per turn of the loop, but only while the loop's heartbeat ({@linkcode alive})
 * is fresh: a loop that stops coming round stops the pings within `maxBeatAgeMs`. Without
 * `$NOTIFY_SOCKET` (run by hand, in tests) every method does nothing; without `$WATCHDOG_USEC`
 * no pings are sent.
 *
 * `STATUS=` (what `systemctl status` shows) goes with every message, and also by itself whenever
 * what it says changes: the status is looked at once a second after `READY=1`, so that
 * `systemctl status` is never more than a second behind `/status`, and a status that changes
 * often costs at most one helper a second.
 *
 * @module
 */

import { getLog } from "../shared/log.ts";

/** Options for {@linkcode SystemdNotifier}. */
export interface NotifierOptions {
  /** `$NOTIFY_SOCKET`; when undefined, nothing is sent. */
  socket?: string;
  /** `$PATH`, where `systemd-notify` is looked for. Default: `/usr/bin:/bin`. */
  path?: string;
  /** `$WATCHDOG_USEC`; when undefined (or not a positive number), no watchdog pings are sent. */
  watchdogUsec?: string;
  /**
   * The oldest a heartbeat may be for the timer to ping, in ms; never more than the watchdog
   * interval. Default: the watchdog interval.
   */
  maxBeatAgeMs?: number;
  /**
   * What the status says now, looked at each `statusEveryMs` after {@linkcode ready}: sent when it
   * differs from what was last sent. Default: none (the status given to `ready` and `alive`).
   */
  status?: () => string;
  /** How often the status is looked at. Default: 1000 ms. */
  statusEveryMs?: number;
  /** The helper. Default: "systemd-notify". */
  command?: string;
  /** The clock. Default: `performance.now`. */
  now?: () => number;
}

/** Sends notifications to systemd; see the module doc. */
export class SystemdNotifier {
  #socket?: string;
  #path: string;
  #command: string;
  #now: () => number;
  #watchdogMs?: number;
  #maxBeatAgeMs: number;
  #lastBeat = -Infinity;
  #status = "";
  #statusOf?: () => string;
  #statusEveryMs: number;
  #sentStatus?: string;
  #timer?: ReturnType<typeof setInterval>;
  #statusTimer?: ReturnType<typeof setInterval>;
  #ticks = 0;
  #queue: Promise<void> = Promise.resolve();
  #broken = false;
  #log = getLog("notify");

  constructor(options: NotifierOptions = {}) {
    const { socket, watchdogUsec, maxBeatAgeMs, command = "systemd-notify", now } = options;
    this.#path = options.path ?? "/usr/bin:/bin";
    this.#statusOf = options.status;
    this.#statusEveryMs = options.statusEveryMs ?? 1000;
    this.#socket = socket;
    this.#command = command;
    this.#now = now ?? (() => performance.now());
    const usec = Number(watchdogUsec);
    if (watchdogUsec !== undefined && Number.isFinite(usec) && usec > 0) {
      this.#watchdogMs = usec / 1000;
    }
    this.#maxBeatAgeMs = Math.min(maxBeatAgeMs ?? Infinity, this.#watchdogMs ?? Infinity);
  }

  /** True when there is a socket to notify. */
  get enabled(): boolean {
    return this.#socket !== undefined && !this.#broken;
  }

  /** How many times the watchdog timer has fired (for tests: "it fired, and did not ping"). */
  get ticks(): number {
    return this.#ticks;
  }

  /**
   * Start-up is done (the bot is ready to poll, whether or not Telegram answers yet): `READY=1`,
   * and the watchdog timer and the status watch start.
   */
  ready(status?: string): void {
    this.#lastBeat = this.#now();
    if (status !== undefined) this.#status = status;
    this.#send(["READY=1", `STATUS=${this.#current()}`]);
    if (!this.enabled) return;
    if (this.#watchdogMs !== undefined && this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), this.#watchdogMs / 2);
    }
    if (this.#statusOf !== undefined && this.#statusTimer === undefined) {
      this.#statusTimer = setInterval(() => this.#watchStatus(), this.#statusEveryMs);
    }
  }

  /** The poll loop came round: its heartbeat (and the status, if given). Sends nothing itself. */
  alive(status?: string): void {
    this.#lastBeat = this.#now();
    if (status !== undefined) this.#status = status;
  }

  /** The teardown has begun: no more pings, no more status changes. */
  stopping(status: string): void {
    this.#stopTimer();
    this.#status = status;
    this.#statusOf = undefined;
    this.#send(["STOPPING=1", `STATUS=${status}`]);
  }

  /** Waits for the notifications under way (at exit), and stops the timer. */
  async flush(): Promise<void> {
    this.#stopTimer();
    await this.#queue;
  }

  #tick() {
    this.#ticks++;
    // A loop that hasn't come round lately may be stuck: let systemd's watchdog decide.
    if (this.#now() - this.#lastBeat > this.#maxBeatAgeMs) return;
    this.#send(["WATCHDOG=1", `STATUS=${this.#current()}`]);
  }

  #watchStatus() {
    const status = this.#current();
    if (status !== this.#sentStatus) this.#send([`STATUS=${status}`]);
  }

  #current(): string {
    return this.#statusOf?.() ?? this.#status;
  }

  #stopTimer() {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#statusTimer !== undefined) clearInterval(this.#statusTimer);
    this.#timer = undefined;
    this.#statusTimer = undefined;
  }

  #send(assignments: string[]) {
    if (!this.enabled) return;
    const status = assignments.find((a) => a.startsWith("STATUS="));
    if (status !== undefined) this.#sentStatus = status.slice("STATUS=".length);
    this.#queue = this.#queue.then(() => this.#run(assignments));
  }

  async #run(assignments: string[]): Promise<void> {
    if (this.#broken) return;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(this.#command, {
        // No --no-block: see the module doc.
        args: assignments,
        env: { NOTIFY_SOCKET: this.#socket!, PATH: this.#path },
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
