/**
 * Unit tests for the live line between the poll process and its handlers: the protocol of
 * `lib/shared/line.ts` (encoding, parsing controls and reports) and a handler's end of it,
 * `HandlerLine` of `lib/handler/line.ts` (controls read in order, a cancel and edits heard while
 * the message is worked on, reports out), on a stream fed by hand; `writeReport()` in a real
 * process whose stdout is closed. The poll process's end is `unit_handler_process_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type Control,
  type DeskJob,
  encodeLine,
  jobUpdateId,
  parseControl,
  parseReport,
  type Report,
} from "../lib/shared/line.ts";
import type { JournalEntry } from "../lib/shared/journal_entry.ts";
import { projectPath, testLine, waitUntil, withDeadline } from "./_helpers.ts";

const ENTRY: JournalEntry = {
  updateId: 7,
  chatId: 1001,
  update: { update_id: 7, message: { message_id: 3, text: "héllo 😀\nsecond line" } },
  stage: "started",
  dispatches: 1,
  receivedAt: "2025-01-01T00:00:00.000Z",
};

const CONTROLS: Control[] = [
  { kind: "hello", token: "123:abc", role: "desk" },
  { kind: "start", entry: ENTRY },
  { kind: "job", job: { job: "ack", update: ENTRY.update } },
  { kind: "cancel", by: "Stop" },
  { kind: "edit", edit: { editUpdateId: 9, text: "new\ntext" } },
];

const REPORTS: Report[] = [
  { kind: "ready" },
  { kind: "patch", updateId: 7, patch: { stage: "brain", brainRun: "r1" } },
  { kind: "finished", updateId: 7 },
  { kind: "edit", updateId: 7, editUpdateId: 9, taken: false },
  { kind: "acked", updateId: 7 },
  { kind: "done", updateId: 7 },
];

/** The text of an encoded line. */
function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

Deno.test("encodeLine() makes one JSON line, whatever newlines the values hold, that parses back", async (t) => {
  for (const control of CONTROLS) {
    await t.step(`control ${control.kind}`, () => {
      const line = text(encodeLine(control));
      assert.ok(line.endsWith("\n") && line.indexOf("\n") === line.length - 1, line);
      assert.deepEqual(parseControl(line.slice(0, -1)), control);
    });
  }
  for (const report of REPORTS) {
    await t.step(`report ${report.kind}`, () => {
      const line = text(encodeLine(report));
      assert.equal(line.indexOf("\n"), line.length - 1);
      assert.deepEqual(parseReport(line.slice(0, -1)), report);
    });
  }
});

Deno.test("parseControl() throws TypeError, naming what is wrong, for a line that is not a control", async (t) => {
  const cases: [string, RegExp][] = [
    ["not json", /invalid JSON \(8 characters\)/],
    ["[]", /expected a JSON object/],
    ["null", /expected a JSON object/],
    ['"hello"', /expected a JSON object/],
    ['{"kind":"ready"}', /unknown kind "ready"/],
    ['{"token":"123:abc"}', /unknown kind "undefined"/],
  ];
  for (const [line, message] of cases) {
    await t.step(line, () => {
      assert.throws(() => parseControl(line), (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /^Cannot parse a control: /);
        assert.match(error.message, message);
        return true;
      });
    });
  }
  await t.step("the message never holds the line (it may hold the token)", () => {
    assert.throws(() => parseControl('{"kind":"hello","token":"123:abc"'), (error: Error) => {
      assert.ok(!error.message.includes("123:abc"), error.message);
      return true;
    });
  });
});

Deno.test("parseReport() gives undefined for a line that is not a report", async (t) => {
  const lines = [
    "",
    "Debug: something a library printed",
    "[1]",
    '{"kind":"hello","token":"x","role":"desk"}',
    '{"kind":"finished"}',
    '{"kind":"patch","updateId":"7","patch":{}}',
    '{"kind":"acked","updateId":1.5}',
  ];
  for (const line of lines) {
    await t.step(JSON.stringify(line), () => assert.equal(parseReport(line), undefined));
  }
});

Deno.test("jobUpdateId() is the update's id, or a lost message's", () => {
  const jobs: [DeskJob, number][] = [
    [{ job: "ack", update: { update_id: 5 } }, 5],
    [{ job: "press", update: { update_id: 6 }, answer: "stopping" }, 6],
    [{ job: "lost", updateId: 7, chatId: 1, messageId: 2 }, 7],
  ];
  for (const [job, id] of jobs) assert.equal(jobUpdateId(job), id);
});

Deno.test("HandlerLine.next() reads the controls in order, skips blank and bad lines (telling them), and ends at EOF", async () => {
  const bad: TypeError[] = [];
  const t = testLine({ onBadLine: (error) => bad.push(error) });
  // Split across chunks, a character too: a line is read whole.
  const hello = text(encodeLine(CONTROLS[0]));
  t.write(hello.slice(0, 10));
  t.write(hello.slice(10) + "\n   \nnot a control\n");
  t.send(CONTROLS[1]);
  const bytes = encodeLine(CONTROLS[4]);
  t.write(text(bytes.subarray(0, bytes.length - 4)));
  t.write(text(bytes.subarray(bytes.length - 4)));
  t.close();
  assert.deepEqual(await t.line.next(), CONTROLS[0]);
  assert.deepEqual(await t.line.next(), CONTROLS[1]);
  assert.deepEqual(await t.line.next(), CONTROLS[4]);
  assert.equal(await t.line.next(), undefined, "EOF");
  assert.equal(await t.line.next(), undefined, "and again");
  assert.equal(bad.length, 1, "the blank line is skipped quietly");
  assert.match(bad[0].message, /Cannot parse a control: invalid JSON/);
});

Deno.test("HandlerLine.controls() yields what comes after the lines already read, until EOF", async () => {
  const t = testLine();
  for (const control of CONTROLS) t.send(control);
  t.close();
  assert.deepEqual(await t.line.next(), CONTROLS[0], "the hello, read first");
  const rest: Control[] = [];
  for await (const control of t.line.controls()) rest.push(control);
  assert.deepEqual(rest, CONTROLS.slice(1));
});

Deno.test("HandlerLine.listen() hears a cancel, the first one's sender kept, and resolves at EOF", async () => {
  const t = testLine();
  const listening = t.line.listen(7);
  assert.equal(t.line.cancel.aborted, false);
  t.send({ kind: "cancel", by: "Stop" });
  t.send({ kind: "cancel", by: "/cancel" });
  // Read in order: once this edit is reported too late, both cancels have been heard.
  t.line.takeEdit();
  t.send({ kind: "edit", edit: { editUpdateId: 8, text: "x" } });
  await waitUntil(() => t.reports.length === 1, { timeoutMs: 5000, description: "the edit" });
  assert.equal(t.line.cancel.aborted, true);
  assert.equal(t.line.cancelledBy, "Stop", "the first cancel is the one told");
  assert.match((t.line.cancel.reason as Error).message, /cancelled by Stop/);
  let ended = false;
  listening.then(() => ended = true);
  t.close();
  await withDeadline(listening, "listen() to end at EOF");
  assert.equal(ended, true);
});

Deno.test("HandlerLine keeps the latest edit until takeEdit(), reporting the ones it covers as taken", async () => {
  const t = testLine();
  const listening = t.line.listen(7);
  const edit = (n: number) => ({ kind: "edit", edit: { editUpdateId: n, text: `v${n}` } }) as const;
  t.send(edit(10));
  t.send(edit(12));
  t.send(edit(11)); // came late, older than the one held: covered by it
  await waitUntil(() => t.reports.length === 2, { timeoutMs: 5000, description: "two reports" });
  assert.deepEqual(t.reports, [
    { kind: "edit", updateId: 7, editUpdateId: 10, taken: true },
    { kind: "edit", updateId: 7, editUpdateId: 11, taken: true },
  ]);
  assert.deepEqual(t.line.takeEdit(), { editUpdateId: 12, text: "v12" });
  assert.deepEqual(t.reports.at(-1), { kind: "edit", updateId: 7, editUpdateId: 12, taken: true });
  assert.equal(t.line.takeEdit(), undefined, "taken once");
  t.close();
  await listening;
});

Deno.test("HandlerLine after takeEdit() (the brain is starting): every edit is reported too late at once", async () => {
  const t = testLine();
  const listening = t.line.listen(7);
  assert.equal(t.line.takeEdit(), undefined, "none came");
  assert.deepEqual(t.reports, [], "nothing to report");
  t.send({ kind: "edit", edit: { editUpdateId: 20, text: "late" } });
  await waitUntil(() => t.reports.length === 1, { timeoutMs: 5000, description: "the report" });
  assert.deepEqual(t.reports, [{ kind: "edit", updateId: 7, editUpdateId: 20, taken: false }]);
  assert.equal(t.line.takeEdit(), undefined, "a late edit is not kept");
  t.close();
  await listening;
});

Deno.test("HandlerLine.report() sends a report through the function it was given", () => {
  const t = testLine();
  t.line.report({ kind: "finished", updateId: 7 });
  assert.deepEqual(t.reports, [{ kind: "finished", updateId: 7 }]);
  t.close();
});

/** A process that writes the reports it is told on its stdin with `writeReport()`, then exits. */
function reporter(): Deno.ChildProcess {
  const script = `
    import { writeReport } from "${projectPath("lib/handler/line.ts")}";
    const n = Number(new TextDecoder().decode(await new Response(Deno.stdin.readable).arrayBuffer()));
    writeReport({ kind: "patch", updateId: 7, patch: { lastEnd: "x".repeat(n) } });
    writeReport({ kind: "finished", updateId: 7 });
  `;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Tells a {@linkcode reporter} how long a report to write, and ends its stdin. */
async function tell(child: Deno.ChildProcess, n: number) {
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(String(n)));
  await writer.close();
}

Deno.test("writeReport() writes a report whole, one line, however long", async () => {
  const child = reporter();
  // Longer than a pipe holds: written in several writes, read as one line.
  await tell(child, 200_000);
  const { code, stdout, stderr } = await withDeadline(child.output(), "the reporter");
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const lines = new TextDecoder().decode(stdout).split("\n");
  assert.equal(lines.length, 3, "two lines and the last newline");
  const patch = parseReport(lines[0]);
  assert.equal(patch?.kind === "patch" && patch.patch.lastEnd?.length, 200_000);
  assert.deepEqual(parseReport(lines[1]), { kind: "finished", updateId: 7 });
});

Deno.test("writeReport() to a poll process that is gone (a broken pipe) is quiet: nobody is left to tell", async () => {
  const child = reporter();
  await child.stdout.cancel(); // the reading end closed: the pipe is broken
  await tell(child, 10);
  const stderr = new TextDecoder().decode(
    await withDeadline(new Response(child.stderr).arrayBuffer(), "stderr"),
  );
  const status = await withDeadline(child.status, "the reporter to end");
  assert.equal(status.code, 0, stderr);
  assert.equal(stderr, "", "no error thrown");
});
