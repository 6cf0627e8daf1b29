/**
 * Unit tests for `lib/handler/park.ts`: `park()` records the wait first, tells the person once (across
 * a second park of the same message), and a note that can't be sent leaves the message parked. Against
 * the Bot API simulator, with a real journal in a temp dir.
 *
 * (`/cancel` of a parked message is not this module's: the note only says that `/cancel` drops it;
 * withdrawing a waiting message is `commands.ts`'s, tested in `unit_commands_test.ts`.)
 *
 * @module
 */

import assert from "node:assert/strict";
import { park } from "../lib/handler/park.ts";
import { parkedText } from "../lib/handler/texts.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import { entryRecord } from "../lib/handler/entry_record.ts";
import type { Report } from "../lib/shared/line.ts";
import { messageRig, observeCalls, recordingLog } from "./_helpers.ts";

const CHAT = 1001;
const NOW = Date.parse("2025-03-01T12:00:00.000Z");
const UNTIL = NOW + 2 * 3600_000;
const REASON = "Claude's usage limit is reached";

/** A simulator with the person's message, journaled as its brain ran; released on dispose. */
async function rig() {
  const m = await messageRig(CHAT, {
    patch: { stage: "brain", attempt: 1, brainRun: "run-1" },
  });
  const { sim, journal, ids, api: replyApi } = m;
  const seen = observeCalls(replyApi, () => journal.read(ids.updateId));
  const { log, lines } = recordingLog();
  const reports: Report[] = [];
  /** Parks the message as its handler would, with the entry as the handler holds it. */
  const parkIt = (until = UNTIL) => {
    const entry = journal.read(ids.updateId)!;
    const report = (r: Report) => reports.push(r);
    return park({
      replyApi,
      ids,
      record: entryRecord(entry, { journal, log, report }),
      entry,
      until,
      reason: REASON,
      log,
      now: () => NOW,
    });
  };
  return {
    reports,
    sim,
    journal,
    ids,
    seen,
    lines,
    parkIt,
    entry: () => journal.read(ids.updateId),
    notes: () => sim.botMessages(CHAT),
    [Symbol.asyncDispose]: () => m[Symbol.asyncDispose](),
  };
}

Deno.test("park() puts the message back to waiting with parkedUntil, before it tells the person", async () => {
  await using r = await rig();
  await r.parkIt();
  const [atNote] = r.seen.map((s) => s.seen as JournalEntry | undefined);
  assert.equal(atNote?.parkedUntil, new Date(UNTIL).toISOString(), "recorded before the note");
  assert.equal(atNote?.stage, "received");
  const entry = r.entry();
  assert.equal(entry?.stage, "received", "it waits again");
  assert.equal(entry?.parkedUntil, "2025-03-01T14:00:00.000Z");
  assert.equal(entry?.parkedMs, 2 * 3600_000, "the wait as announced: 2 h");
  // Its marker stays until the brain's processes are gone: askBrain clears it then.
  assert.equal(entry?.brainRun, "run-1", "the brain's marker, for a sweep should the handler die");
  assert.equal(entry?.parkNotified, true);
  assert.deepEqual(r.reports.map((report) => report.kind === "patch" && report.patch), [
    {
      stage: "received",
      parkedUntil: "2025-03-01T14:00:00.000Z",
      parkedMs: 2 * 3600_000,
    },
    { parkNotified: true },
  ], "the poll process is told it waits, and that the person knows");
});

Deno.test("park() tells the person once, in plain text, as a reply: the reason, the time and that /cancel drops it", async () => {
  await using r = await rig();
  await r.parkIt();
  const [note] = r.notes();
  assert.equal(note.text, parkedText(REASON, { until: UNTIL, now: NOW }));
  assert.match(note.text, /^⏳ Claude's usage limit is reached; .* in 2 h.*\/cancel drops it\.$/);
  assert.equal(note.reply_to, r.ids.messageId);
  assert.equal(note.parse_mode, undefined, "plain text: the reason is not Markdown");
});

Deno.test("park() of a message parked before (told already) records the new time and says nothing", async () => {
  await using r = await rig();
  await r.parkIt();
  // Its time came, its brain ran and hit the limit again.
  r.journal.update(r.ids.updateId, { stage: "brain", parkedUntil: undefined });
  await r.parkIt(UNTIL + 3600_000);
  assert.equal(r.notes().length, 1, "one note for the message, not one per park");
  assert.equal(r.entry()?.parkedUntil, new Date(UNTIL + 3600_000).toISOString());
  assert.equal(r.entry()?.stage, "received");
});

Deno.test("park() whose note fails: still parked, not marked told, logged, never thrown; the next park tells", async () => {
  await using r = await rig();
  r.sim.injectFault({ method: "sendMessage", fault: { kind: "forbidden" } });
  await r.parkIt();
  assert.equal(r.entry()?.parkedUntil, new Date(UNTIL).toISOString(), "it waits all the same");
  assert.equal(r.entry()?.parkNotified, undefined, "the person was not told");
  const warning = r.lines.find((l) => l.level === "warn" && /not told it waits/.test(l.message));
  assert.ok(warning, "the failed note is logged");
  assert.match(String(warning.props.error), /403 Forbidden: bot was blocked/);

  await r.parkIt();
  assert.equal(r.notes().length, 1, "told at the next park");
  assert.equal(r.entry()?.parkNotified, true);
});
