/**
 * Unit tests for `lib/loop/handler_process.ts`: the poll process's end of a handler's line, with
 * small real `bash` scripts standing in for the handler: told hello first, controls written in
 * order, reports read and handed on, what is not a report told, and `ended` only once the last
 * reports are read. The handler's end is `unit_line_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { HandlerProcess, type HandlerProcessOptions } from "../lib/loop/handler_process.ts";
import type { Control, Report } from "../lib/shared/line.ts";
import { isAlive, killAll, tempDir, waitUntil, withDeadline } from "./_helpers.ts";

const TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

/**
 * A handler running `script` in bash, with only PATH and `STUB_DIR` in its environment; on
 * dispose its line is closed and its whole process group killed and awaited.
 */
function handler(
  script: string,
  dir: string,
  options: Partial<HandlerProcessOptions> = {},
): HandlerProcess & AsyncDisposable {
  const h = new HandlerProcess({
    command: "bash",
    args: ["-c", script],
    env: { PATH: Deno.env.get("PATH")!, STUB_DIR: dir },
    token: TOKEN,
  }, { role: "message", ...options });
  return Object.assign(h, {
    async [Symbol.asyncDispose]() {
      h.close();
      try {
        Deno.kill(-h.pid, "SIGKILL");
      } catch {
        // The group is gone already.
      }
      await withDeadline(h.process.status, "the handler to exit");
    },
  });
}

/** The controls a script copied from its stdin into `<dir>/got`, each parsed. */
function got(dir: string): Control[] {
  try {
    return Deno.readTextFileSync(`${dir}/got`).split("\n").filter(Boolean)
      .map((line) => JSON.parse(line));
  } catch {
    return [];
  }
}

/** Copies every line of stdin into `$STUB_DIR/got`, then exits 0 at EOF. */
const COPIES = `while IFS= read -r line; do printf '%s\\n' "$line" >> "$STUB_DIR/got"; done`;

Deno.test("HandlerProcess tells the handler hello first, with the token and its role, then each control in order", async () => {
  await using dir = await tempDir();
  await using h = handler(COPIES, dir.path, { role: "desk" });
  const controls: Control[] = [
    { kind: "job", job: { job: "ack", update: { update_id: 1 } } },
    { kind: "cancel", by: "/cancel" },
    { kind: "edit", edit: { editUpdateId: 3, text: "a\nb" } },
  ];
  for (const control of controls) h.send(control);
  await h.flushed();
  h.close();
  assert.equal((await withDeadline(h.ended, "the handler to end at EOF")).code, 0);
  assert.deepEqual(got(dir.path), [{ kind: "hello", token: TOKEN, role: "desk" }, ...controls]);
});

Deno.test("HandlerProcess starts the handler in a process group of its own, with only the environment given", async () => {
  await using dir = await tempDir();
  await using h = handler(
    `ps -o pgid= -p $$ > "$STUB_DIR/pgid"; env > "$STUB_DIR/env"; ${COPIES}`,
    dir.path,
  );
  const pgid = await waitUntil(() => {
    try {
      return Number(Deno.readTextFileSync(`${dir.path}/pgid`).trim()) || undefined;
    } catch {
      return undefined;
    }
  }, { description: "the handler's process group" });
  assert.equal(pgid, h.pid, "its own group: a signal to it reaches what it starts");
  h.close();
  await withDeadline(h.ended, "the handler to end");
  const env = Deno.readTextFileSync(`${dir.path}/env`);
  assert.ok(!env.includes(TOKEN.split(":")[1]), "the token is not in its environment");
  assert.ok(!/^HOME=/m.test(env), "nothing of the poll process's own environment");
});

Deno.test("HandlerProcess reads each report and hands it to onReport, which can be set later", async () => {
  await using dir = await tempDir();
  const early: Report[] = [];
  await using h = handler(
    `read -r hello; echo '{"kind":"ready"}'; read -r go; ` +
      `echo '{"kind":"patch","updateId":7,"patch":{"stage":"brain"}}'; ` +
      `echo '{"kind":"finished","updateId":7}'`,
    dir.path,
    { onReport: (report) => early.push(report) },
  );
  await waitUntil(() => early.length === 1, { timeoutMs: 10_000, description: "ready" });
  assert.deepEqual(early, [{ kind: "ready" }]);
  const later: Report[] = [];
  h.onReport = (report) => later.push(report); // a spare's listener, set when it takes a message
  h.send({ kind: "cancel", by: "Stop" });
  await withDeadline(h.ended, "the handler to end");
  assert.deepEqual(later, [
    { kind: "patch", updateId: 7, patch: { stage: "brain" } },
    { kind: "finished", updateId: 7 },
  ]);
  assert.equal(early.length, 1);
});

Deno.test("HandlerProcess tells each line that is not a report (not blank ones), and a listener that throws stops nothing", async () => {
  await using dir = await tempDir();
  const bad: string[] = [];
  const reports: Report[] = [];
  await using h = handler(
    `echo 'Warning: a library speaks'; echo; echo '{"kind":"acked","updateId":"x"}'; ` +
      `echo '{"kind":"acked","updateId":1}'; echo '{"kind":"acked","updateId":2}'`,
    dir.path,
    {
      onBadLine: (line) => bad.push(line),
      onReport(report) {
        reports.push(report);
        throw new Error("the listener failed");
      },
    },
  );
  await withDeadline(h.ended, "the handler to end");
  assert.deepEqual(bad, ["Warning: a library speaks", '{"kind":"acked","updateId":"x"}']);
  assert.deepEqual(reports, [{ kind: "acked", updateId: 1 }, { kind: "acked", updateId: 2 }]);
});

Deno.test("HandlerProcess.ended waits for the last reports, written after the handler exited", async () => {
  await using dir = await tempDir();
  const reports: Report[] = [];
  new Deno.Command("mkfifo", { args: [`${dir.path}/fifo`] }).outputSync();
  // Its child keeps stdout open and reports after the handler itself has exited.
  await using h = handler(
    `(read -r go < "$STUB_DIR/fifo"; echo '{"kind":"finished","updateId":7}') & exit 0`,
    dir.path,
    { onReport: (report) => reports.push(report) },
  );
  const status = await withDeadline(h.process.status, "the handler to exit");
  assert.equal(status.code, 0);
  let ended = false;
  const ending = h.ended.then(() => ended = true);
  // The report comes only now, after the exit.
  Deno.writeTextFileSync(`${dir.path}/fifo`, "go\n");
  await withDeadline(ending, "ended");
  assert.equal(ended, true);
  assert.deepEqual(reports, [{ kind: "finished", updateId: 7 }], "read before ended resolved");
  assert.equal(h.exit?.code, 0, "exit is set");
});

Deno.test("HandlerProcess.ended waits no longer than a moment for a stdout held open by what the handler left", async () => {
  await using dir = await tempDir();
  await using h = handler(`sleep 30 & echo $! > "$STUB_DIR/gc"; exit 0`, dir.path);
  const grandchild = await waitUntil(() => {
    try {
      return Number(Deno.readTextFileSync(`${dir.path}/gc`).trim()) || undefined;
    } catch {
      return undefined;
    }
  }, { description: "the grandchild" });
  try {
    await withDeadline(h.process.status, "the handler to exit");
    const started = performance.now();
    await withDeadline(h.ended, "ended, though its stdout is still open", 5000);
    const waited = performance.now() - started;
    assert.ok(waited < 3000, `waited ${waited} ms`);
    assert.equal(isAlive(grandchild), true, "its stdout was still open");
  } finally {
    killAll([grandchild]);
  }
});

Deno.test("HandlerProcess.close() gives the handler EOF; controls after it, or to a handler that is gone, are dropped quietly", async () => {
  await using dir = await tempDir();
  await using h = handler(COPIES, dir.path);
  h.close();
  h.send({ kind: "cancel", by: "/cancel" });
  h.close();
  assert.equal((await withDeadline(h.ended, "the handler to end at EOF")).code, 0);
  assert.deepEqual(got(dir.path).map((c) => c.kind), ["hello"]);

  await using gone = handler("exit 4", dir.path);
  assert.equal((await withDeadline(gone.ended, "the handler to exit")).code, 4);
  gone.send({ kind: "cancel", by: "/cancel" });
  await gone.flushed(); // a write to a broken pipe fails quietly
});
