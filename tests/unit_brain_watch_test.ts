/**
 * Unit tests for `lib/handler/brain_watch.ts`: following a progress file (`followProgressFile()`)
 * and watching a brain (`watchBrain()`: its progress file named in its environment, the file's lines
 * and the Claude CLI's stream shown on the phone, against the Bot API simulator). The display itself
 * (throttle, refresh, the group's message) is `unit_progress_test.ts`'s.
 *
 * @module
 */

import assert from "node:assert/strict";
import { followProgressFile, watchBrain } from "../lib/handler/brain_watch.ts";
import { messageRig, recordingLog, tempDir, trackTimers, waitUntil } from "./_helpers.ts";

const CHAT = 1001;

Deno.test("followProgressFile() hands on each complete line once, and the last ones at stop", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/progress.log`;
  Deno.writeTextFileSync(path, "");
  const lines: string[] = [];
  const stop = followProgressFile(path, (line) => lines.push(line), { pollMs: 20 });
  Deno.writeTextFileSync(path, "first\nsec", { append: true });
  await waitUntil(() => lines.length >= 1 ? true : undefined, { description: "the first line" });
  Deno.writeTextFileSync(path, "ond\n\nthird\n", { append: true });
  stop();
  assert.deepEqual(lines, ["first", "second", "third"]);
});

Deno.test("followProgressFile() waits for a file that is not there yet", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/progress.log`;
  const lines: string[] = [];
  const stop = followProgressFile(path, (line) => lines.push(line), { pollMs: 20 });
  try {
    Deno.writeTextFileSync(path, "made late\n");
    await waitUntil(() => lines.length >= 1, { timeoutMs: 5000, description: "the line" });
  } finally {
    stop();
  }
  assert.deepEqual(lines, ["made late"]);
});

Deno.test("followProgressFile() keeps a character whose bytes are written in two pieces", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/progress.log`;
  const bytes = new TextEncoder().encode("ready\nréponse 😀\n");
  const cut = "ready\nr".length + 1; // inside "é", whose UTF-8 form is two bytes
  Deno.writeFileSync(path, bytes.subarray(0, cut));
  const lines: string[] = [];
  const stop = followProgressFile(path, (line) => lines.push(line), { pollMs: 20 });
  // "ready" handed on means the first piece, half of "é" with it, has been read.
  await waitUntil(() => lines.length >= 1, { timeoutMs: 5000, description: "the first line" });
  Deno.writeFileSync(path, bytes.subarray(cut), { append: true });
  stop();
  assert.deepEqual(lines, ["ready", "réponse 😀"]);
});

/** A watch of a brain for the person's message in a private chat of the simulator. */
async function watchRig(options: { claudeStream: boolean; dir?: string }) {
  const m = await messageRig(CHAT);
  const { log, lines } = recordingLog();
  const env: Record<string, string> = { PATH: "/usr/bin" };
  const watch = watchBrain({
    api: m.api,
    ids: m.ids,
    privateChat: true,
    log,
    minGapMs: 20,
    refreshMs: 60_000,
    firstShowMs: 60_000,
    dir: options.dir ?? `${m.dir.path}/attachments/${m.ids.updateId}`,
    env,
    claudeStream: options.claudeStream,
  });
  return {
    ...m,
    env,
    lines,
    watch,
    /** Waits for a draft on the phone whose text matches `pattern`. */
    draft: (pattern: RegExp) =>
      waitUntil(() => m.sim.drafts(CHAT).find((d) => pattern.test(d.text)), {
        timeoutMs: 5000,
        description: `a draft matching ${pattern}`,
      }),
    async [Symbol.asyncDispose]() {
      await watch.stop();
      await m[Symbol.asyncDispose]();
    },
  };
}

/** One line of the Claude CLI's stream-json output: the assistant calls a tool. */
const TOOL_LINE = JSON.stringify({
  type: "assistant",
  message: { content: [{ type: "tool_use", name: "Bash", input: { command: "ls /srv" } }] },
}) + "\n";

Deno.test("watchBrain() makes the brain's progress file, names it in its environment, and shows its lines", async () => {
  await using r = await watchRig({ claudeStream: false });
  const path = r.env.COORD_PROGRESS_FILE;
  assert.equal(path, `${r.dir.path}/attachments/${r.ids.updateId}/progress.log`);
  assert.equal(Deno.readTextFileSync(path), "", "made empty");
  assert.equal(r.env.PATH, "/usr/bin", "the rest of the environment is kept");
  Deno.writeTextFileSync(path, "reading the logs\n", { append: true });
  const draft = await r.draft(/reading the logs/);
  assert.match(draft.text, /^✍ Working for \d+ s\nreading the logs$/);
});

Deno.test("watchBrain() shows the Claude CLI's tool calls from its stdout, split anywhere", async () => {
  await using r = await watchRig({ claudeStream: true });
  r.watch.onStdout(TOOL_LINE.slice(0, 25));
  r.watch.onStdout(TOOL_LINE.slice(25));
  const draft = await r.draft(/tool call/);
  assert.match(draft.text, /· 1 tool call\n🔧 .*ls \/srv/);
});

Deno.test("watchBrain() of another brain leaves its stdout alone", async () => {
  await using r = await watchRig({ claudeStream: false });
  r.watch.onStdout(TOOL_LINE);
  // The progress file's line comes after the stdout: a draft showing it would show the tool too.
  Deno.writeTextFileSync(r.env.COORD_PROGRESS_FILE, "from the file\n", { append: true });
  const draft = await r.draft(/from the file/);
  assert.doesNotMatch(draft.text, /tool call|🔧/);
});

Deno.test("watchBrain() stop() ends the display and logs how many calls it made", async () => {
  using timers = trackTimers();
  await using r = await watchRig({ claudeStream: false });
  Deno.writeTextFileSync(r.env.COORD_PROGRESS_FILE, "one\n", { append: true });
  await r.draft(/one/);
  await r.watch.stop();
  const made = r.sim.drafts(CHAT).length;
  const line = r.lines.find((l) => /progress call\(s\)/.test(l.message));
  assert.equal(line?.props.calls, made);
  // Nothing is left that could look at the file or show a line later.
  assert.equal(timers.pending, 0, "no timer or interval left after stop()");
  Deno.writeTextFileSync(r.env.COORD_PROGRESS_FILE, "two\n", { append: true });
  assert.equal(r.sim.drafts(CHAT).length, made, "nothing shown after stop()");
});

Deno.test("watchBrain() without a progress file (its folder can't be made) warns, and the brain still runs", async () => {
  await using dir = await tempDir();
  Deno.writeTextFileSync(`${dir.path}/file`, "");
  await using r = await watchRig({ claudeStream: true, dir: `${dir.path}/file/sub` });
  assert.equal(r.env.COORD_PROGRESS_FILE, undefined, "no file named to the brain");
  const warning = r.lines.find((l) => l.level === "warn" && /no progress file/.test(l.message));
  assert.ok(warning, "the missing file is logged");
  r.watch.onStdout(TOOL_LINE);
  await r.draft(/tool call/);
});
