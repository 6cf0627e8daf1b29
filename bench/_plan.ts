/**
 * How much of each workload a run does: the full plan (a few minutes on 2 cores) and the quick one
 * (CI: the same code paths with small counts, in seconds).
 *
 * @module
 */

/** The sizes of one run. */
export interface Plan {
  name: "full" | "quick";
  /** Runs of each ack-path probe. */
  ackPathRepeats: number;
  /** Idle: messages, each sent after the previous one's 👌. */
  idle: number;
  /** 4 brains busy: messages measured (one at a time), and how long each burner burns, s. */
  busy: { count: number; burnSeconds: number };
  /** Bursts of `size` messages over `chats` chats. */
  burst: { count: number; size: number; chats: number };
  /** Messages sent at once over `chats` chats, instant echo brain, default cap. */
  throughput: { count: number; chats: number };
  /** The bot's total messages before the "after" resource figures (topped up with floods). */
  soakTotal: number;
  /** The stall: how long the slow brain thinks, s, and repetitions. */
  stall: { seconds: number; count: number };
  /** The backlog: see {@linkcode BacklogPlan}. */
  backlog: BacklogPlan;
  /** Deadline for one message or batch to be answered, ms. */
  timeoutMs: number;
}

/**
 * The backlog (issue #11): one chat, a first message whose brain thinks `seconds`, then `count`
 * more messages `gapMs` apart, a `/status` after every `statusEvery` of them and a `/cancel` at the
 * end, all while the first brain still thinks.
 */
export interface BacklogPlan {
  /** How long the first message's brain thinks, s. */
  seconds: number;
  /** Messages sent after it. */
  count: number;
  /** Between two sends, ms: the person's pace. */
  gapMs: number;
  /** A `/status` after every this many messages. */
  statusEvery: number;
}

/** The full run. */
export const FULL: Plan = {
  name: "full",
  ackPathRepeats: 10,
  idle: 200,
  busy: { count: 200, burnSeconds: 5 },
  burst: { count: 4, size: 50, chats: 10 },
  throughput: { count: 500, chats: 20 },
  soakTotal: 2000,
  stall: { seconds: 5, count: 3 },
  backlog: { seconds: 20, count: 20, gapMs: 300, statusEvery: 5 },
  timeoutMs: 120_000,
};

/** The CI run. */
export const QUICK: Plan = {
  name: "quick",
  ackPathRepeats: 1,
  idle: 5,
  busy: { count: 5, burnSeconds: 1 },
  burst: { count: 1, size: 10, chats: 10 },
  throughput: { count: 20, chats: 20 },
  soakTotal: 40,
  stall: { seconds: 1, count: 1 },
  backlog: { seconds: 6, count: 10, gapMs: 300, statusEvery: 2 },
  timeoutMs: 30_000,
};

/** The chats each workload uses (private chats: chat id = user id, all authorized). */
export const CHATS = {
  warmup: 900,
  idle: 1001,
  busy: 1002,
  burners: [1101, 1102, 1103, 1104],
  burst: range(1201, 50),
  throughput: range(1301, 100),
  stallSlow: 1401,
  stall: 1402,
  teardown: [1501, 1502],
  backlog: 1601,
};

/** Every chat of {@linkcode CHATS}. */
export const ALL_CHATS: number[] = Object.values(CHATS).flat();

function range(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => first + i);
}
