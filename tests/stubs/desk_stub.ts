/**
 * A stand-in for `handler.ts` in the desk role, for the `DeskLink` tests: reads its hello, then
 * job controls on stdin (`shared/line.ts`), and answers each with its report on stdout (`acked`
 * for an ack, `done` otherwise). Run with `--allow-read --allow-write --allow-env`.
 *
 * Driven by files named in its environment:
 * - `STUB_DESK_LOG`: it appends one line per event, `<pid> <event> [<kind> <update id>]`, where
 *   event is `start` (with the role its hello gave, and the token's length), `ready`, `job`
 *   (with `early` when it came before the ready report) or `eof`.
 * - `STUB_DESK_CONTROL`: JSON read at start and at each job, every field optional:
 *   `{"holdReady": true}` waits (polling the file, logging `hold` the first 3 times) before
 *   reporting ready;
 *   `{"silent": true}` never reports a job; `{"silentPids": [123]}` keeps only pid 123 quiet;
 *   `{"dieOn": [5]}` exits with status 3, without reporting, when it gets a job of update 5;
 *   `{"dieAfter": 2}` exits with status 3 on its 2nd job, without reporting it;
 *   `{"ignoreTerm": true}` (read at start) ignores SIGTERM.
 *
 * At EOF it exits (having reported every job it was going to report).
 *
 * @module
 */

import type { Control, DeskJob, Report } from "../../lib/shared/line.ts";

/** What a test tells the stub through its control file (see above). */
export interface StubControl {
  holdReady?: boolean;
  silent?: boolean;
  silentPids?: number[];
  dieOn?: number[];
  dieAfter?: number;
  ignoreTerm?: boolean;
}

const logPath = Deno.env.get("STUB_DESK_LOG")!;
const controlPath = Deno.env.get("STUB_DESK_CONTROL")!;
const encoder = new TextEncoder();

function control(): StubControl {
  try {
    return JSON.parse(Deno.readTextFileSync(controlPath)) as StubControl;
  } catch {
    return {};
  }
}

function log(line: string) {
  Deno.writeTextFileSync(logPath, `${Deno.pid} ${line}\n`, { append: true });
}

function report(value: Report) {
  const bytes = encoder.encode(JSON.stringify(value) + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

if (control().ignoreTerm) Deno.addSignalListener("SIGTERM", () => log("sigterm ignored"));

/** The lines of stdin, as they come. */
async function* stdinLines(): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
    }
  }
}

const lines = stdinLines();
// The first line is the hello: the role, and the token (never in the environment).
const first = await lines.next();
const hello = (first.done ? {} : JSON.parse(first.value)) as Partial<
  Extract<Control, { kind: "hello" }>
>;
log(`start ${hello.kind === "hello" ? hello.role : "none"} ${hello.token?.length ?? 0}`);

let ready = false;
// Jobs are read from the start: a job written before the ready report is logged as "early".
const reading = (async () => {
  let jobs = 0;
  for await (const line of lines) {
    const { job } = JSON.parse(line) as { job: DeskJob };
    const id = (job as { update: { update_id: number } }).update.update_id;
    jobs++;
    log(`job ${job.job} ${id}${ready ? "" : " early"}`);
    const now = control();
    if (now.dieOn?.includes(id) || jobs === now.dieAfter) Deno.exit(3);
    if (!now.silent && !now.silentPids?.includes(Deno.pid)) {
      report(job.job === "ack" ? { kind: "acked", updateId: id } : { kind: "done", updateId: id });
    }
  }
  log("eof");
})();

for (let round = 1; control().holdReady; round++) {
  // The first rounds are logged: by the second, a job already written has been read (as "early").
  if (round <= 3) log("hold");
  await new Promise((resolve) => setTimeout(resolve, 10));
}
ready = true;
log("ready");
report({ kind: "ready" });
await reading;
Deno.exit(0);
