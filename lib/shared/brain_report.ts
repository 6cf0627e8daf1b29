/**
 * The brain check's result (`lib/loop/brain_check.ts`), kept in the state folder for `/status`:
 * the poll process writes it once, when its check at start ends; the desk reads it. A file of its
 * own rather than a field of the heartbeat, which only the loop writes, on its turns: the check
 * ends in the background, and `/status` should say so at once, not at the next turn.
 *
 * @module
 */

import { writeFileAtomic } from "./atomic_write.ts";

/** What the check found (see `BrainCheck`), and which run of the bot found it. */
export interface BrainReport {
  /** When the poll process that checked started (ISO 8601), as its heartbeat says. */
  startedAt: string;
  /** True: the brain can work; false: it can't; absent: couldn't tell. */
  ok?: boolean;
  /** One sentence for the person. */
  note: string;
}

/** The file's path in the state folder. */
export function brainReportPath(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/brain-check.json`;
}

/** Writes the report, replacing the last run's whole. Throws when it can't be written. */
export function writeBrainReport(stateDir: string, report: BrainReport): void {
  writeFileAtomic(brainReportPath(stateDir), JSON.stringify(report) + "\n");
}

/** Reads the report; undefined when there is none or it can't be read. */
export function readBrainReport(stateDir: string): BrainReport | undefined {
  try {
    const parsed = JSON.parse(Deno.readTextFileSync(brainReportPath(stateDir)));
    if (typeof parsed?.startedAt !== "string" || typeof parsed.note !== "string") return undefined;
    const ok = typeof parsed.ok === "boolean" ? parsed.ok : undefined;
    return { startedAt: parsed.startedAt, note: parsed.note, ...(ok === undefined ? {} : { ok }) };
  } catch {
    return undefined;
  }
}
