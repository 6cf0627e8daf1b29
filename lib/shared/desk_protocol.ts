/**
 * What the poll loop and the front desk say to each other: one JSON object a line, jobs on the
 * desk's stdin, reports on its stdout.
 *
 * The desk is a `handler.ts` process that does the quick work for every chat at once: the 👀 of
 * each message, the commands, the edits, the withdrawals. Each job is about one journaled update;
 * the loop keeps a job until the desk reports it done, and hands it to the next desk if this one
 * dies first.
 *
 * @module
 */

/** A job for the desk. */
export type DeskJob =
  /** Acknowledge a message (👀 and typing); report `acked` when the reaction call has ended. */
  | { job: "ack"; update: unknown }
  /** Answer a command or an edit, then finish its journal entry; report `done`. */
  | { job: "answer"; update: unknown }
  /** Tell a waiting message it was withdrawn by /cancel, then finish its entry; report `done`. */
  | { job: "withdraw"; update: unknown };

/** A report from the desk. */
export type DeskReport =
  /** The desk has loaded everything and reads jobs. */
  | { ready: true }
  /** The 👀 of this update is out (or its call failed): its handler may set ✍ from now on. */
  | { acked: number }
  /** This update's answer or withdraw job is finished. */
  | { done: number }
  /** A /cancel asks to withdraw this waiting message; the loop decides whether it still can. */
  | { withdraw: number };

/** Environment variable that makes `handler.ts` the desk. */
export const DESK_ROLE_ENV = "COORD_HANDLER_ROLE";

/** The environment, on top of a handler's own, that makes `handler.ts` the desk. */
export const DESK_ENV: Readonly<Record<string, string>> = { [DESK_ROLE_ENV]: "desk" };

/** The update id of a job's update (jobs are only made for journaled updates, which have one). */
export function jobUpdateId(job: DeskJob): number {
  return (job.update as { update_id: number }).update_id;
}

/** A job's key: one job of each kind per update at a time. */
export function jobKey(job: DeskJob): string {
  return `${job.job}:${jobUpdateId(job)}`;
}

/** Parses one report line; `undefined` for anything else (logged by the caller). */
export function parseDeskReport(line: string): DeskReport | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const report = value as Record<string, unknown>;
  if (report.ready === true) return { ready: true };
  for (const kind of ["acked", "done", "withdraw"] as const) {
    const id = report[kind];
    if (typeof id === "number" && Number.isSafeInteger(id)) {
      return { [kind]: id } as DeskReport;
    }
  }
  return undefined;
}

/** Parses one job line; throws `TypeError` when it is not a job. */
export function parseDeskJob(line: string): DeskJob {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new TypeError(`Cannot parse a desk job: invalid JSON (${line.length} characters)`);
  }
  const job = value as Partial<DeskJob> | null;
  const id = (job?.update as { update_id?: unknown } | undefined)?.update_id;
  if (
    typeof job !== "object" || job === null ||
    !(job.job === "ack" || job.job === "answer" || job.job === "withdraw") ||
    typeof id !== "number" || !Number.isSafeInteger(id)
  ) {
    throw new TypeError("Cannot parse a desk job: expected {job, update} with an update_id");
  }
  return job as DeskJob;
}
