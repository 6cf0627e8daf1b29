/**
 * A stand-in for `handler.ts` in the desk role, for the `DeskLink` tests: reads job lines on
 * stdin and answers each with its report on stdout (`acked` for an ack, `done` otherwise). Run
 * with `--allow-read --allow-write --allow-env`.
 *
 * Driven by files named in its environment:
 * - `STUB_DESK_LOG`: it appends one line per event, `<pid> <event> [<kind> <update id>]`, where
 *   event is `start` (with the role it was given), `ready`, `job` (with `early` when it came
 *   before the ready report) or `eof`.
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

/** What a test tells the stub through its control file (see above). */
export interface Control {
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

function control(): Control {
  try {
    return JSON.parse(Deno.readTextFileSync(controlPath)) as Control;
  } catch {
    return {};
  }
}

function log(line: string) {
  Deno.writeTextFileSync(logPath, `${Deno.pid} ${line}\n`, { append: true });
}

function report(value: unknown) {
  const bytes = encoder.encode(JSON.stringify(value) + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

log(`start ${Deno.env.get("COORD_HANDLER_ROLE") ?? "none"}`);
if (control().ignoreTerm) Deno.addSignalListener("SIGTERM", () => log("sigterm ignored"));

let ready = false;
// Jobs are read from the start: a job written before the ready report is logged as "early".
const reading = (async () => {
  let jobs = 0;
  let buffered = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      const job = JSON.parse(line) as { job: string; update: { update_id: number } };
      const id = job.update.update_id;
      jobs++;
      log(`job ${job.job} ${id}${ready ? "" : " early"}`);
      const now = control();
      if (now.dieOn?.includes(id) || jobs === now.dieAfter) Deno.exit(3);
      if (!now.silent && !now.silentPids?.includes(Deno.pid)) {
        report(job.job === "ack" ? { acked: id } : { done: id });
      }
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
report({ ready: true });
await reading;
Deno.exit(0);
