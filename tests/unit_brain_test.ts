/**
 * Unit tests for `lib/handler/brain.ts`: `callBrain()` with real bash brains, `describeFailure()` and
 * `tail()`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { callBrain } from "../lib/handler/brain.ts";
import { type BrainFailure, describeFailure, tail } from "../lib/handler/brain_failure.ts";
import type { RunTreeResult } from "../lib/shared/process_tree.ts";
import { probeCgroup } from "../lib/shared/cgroup.ts";
import { gone, tempDir, waitUntil } from "./_helpers.ts";

const ENV = { PATH: Deno.env.get("PATH")! };

/** A brain running `script` in bash. */
function brain(script: string): string[] {
  return ["bash", "-c", script];
}

/** Lines in a file a brain appends to, one per attempt. */
function attemptsIn(path: string): number {
  try {
    return Deno.readTextFileSync(path).split("\n").filter((l) => l !== "").length;
  } catch {
    return 0;
  }
}

/** A run-tree result with `fields` on top of a clean exit that printed nothing. */
function result(fields: Partial<RunTreeResult>): RunTreeResult {
  return {
    code: 0,
    signal: null,
    stdout: "",
    stderr: "",
    timedOut: false,
    aborted: false,
    ...fields,
  };
}

Deno.test("callBrain() returns the first attempt's answer, trimmed", async () => {
  const attempts: number[] = [];
  const outcome = await callBrain({
    command: brain(`read -r text; echo; echo "you said: $text"; echo`),
    input: "hello\n",
    env: ENV,
    timeoutMs: 20_000,
    maxAttempts: 3,
    onAttempt: (n) => attempts.push(n),
    onFailure: () => assert.fail("no attempt should fail"),
  });
  assert.deepEqual(outcome, { ok: true, reply: "you said: hello", attempts: 1 });
  assert.deepEqual(attempts, [1]);
});

Deno.test("callBrain() retries a failing brain up to maxAttempts", async () => {
  await using dir = await tempDir();
  const log = `${dir.path}/attempts`;
  const attempts: number[] = [];
  const failures: [number, BrainFailure][] = [];
  const outcome = await callBrain({
    command: brain(`echo x >> "${log}"; echo "boom $(wc -l < "${log}")" >&2; exit 2`),
    input: "",
    env: ENV,
    timeoutMs: 20_000,
    maxAttempts: 3,
    onAttempt: (n) => attempts.push(n),
    onFailure: (n, failure) => failures.push([n, failure]),
  });
  assert.equal(attemptsIn(log), 3);
  assert.deepEqual(attempts, [1, 2, 3]);
  assert.deepEqual(failures, [
    [1, { reason: "exited with status 2", detail: "boom 1" }],
    [2, { reason: "exited with status 2", detail: "boom 2" }],
    [3, { reason: "exited with status 2", detail: "boom 3" }],
  ]);
  assert.deepEqual(outcome, {
    ok: false,
    failure: { reason: "exited with status 2", detail: "boom 3" },
    attempts: 3,
    aborted: false,
  });
});

Deno.test("callBrain() asks a function input again before each attempt", async () => {
  await using dir = await tempDir();
  const log = `${dir.path}/inputs`;
  // The message grows while it is worked on: a steer comes during the first attempt.
  let text = "deploy";
  const outcome = await callBrain({
    command: brain(
      `cat >> "${log}"; echo >> "${log}"; [ "$(wc -l < "${log}")" -ge 2 ] && cat "${log}"`,
    ),
    input: () => text,
    env: ENV,
    timeoutMs: 20_000,
    maxAttempts: 3,
    onFailure: () => text = "deploy\n\nand use staging",
  });
  assert.deepEqual(Deno.readTextFileSync(log).split("\n").filter((l) => l !== ""), [
    "deploy",
    "deploy",
    "and use staging",
  ]);
  assert.equal(outcome.attempts, 2);
});

Deno.test("callBrain() stops retrying once an attempt answers", async () => {
  await using dir = await tempDir();
  const log = `${dir.path}/attempts`;
  const outcome = await callBrain({
    command: brain(`echo x >> "${log}"; [ "$(wc -l < "${log}")" -ge 2 ] && echo answer`),
    input: "",
    env: ENV,
    timeoutMs: 20_000,
    maxAttempts: 5,
  });
  assert.deepEqual(outcome, { ok: true, reply: "answer", attempts: 2 });
  assert.equal(attemptsIn(log), 2);
});

Deno.test("callBrain() counts an exit 0 without output as a failure", async (t) => {
  for (const [name, script] of [["nothing", "exit 0"], ["only whitespace", "printf ' \\n\\n '"]]) {
    await t.step(name, async () => {
      const outcome = await callBrain({
        command: brain(script),
        input: "",
        env: ENV,
        timeoutMs: 20_000,
      });
      assert.equal(outcome.ok, false);
      assert.equal(!outcome.ok && outcome.failure.reason, "printed nothing");
    });
  }
});

Deno.test("callBrain() gives up an attempt at its time limit", async () => {
  const outcome = await callBrain({
    command: brain("sleep 100"),
    input: "",
    env: ENV,
    timeoutMs: 500,
    killGraceMs: 200,
  });
  assert.equal(outcome.ok, false);
  assert.equal(outcome.attempts, 1);
  assert.equal(!outcome.ok && outcome.aborted, false);
  assert.equal(!outcome.ok && outcome.failure.reason, "timed out after 0.5 s");
});

Deno.test("callBrain() stops at once when the brain can't start", async () => {
  const attempts: number[] = [];
  const outcome = await callBrain({
    command: ["/nonexistent/brain-coord-test", "-p"],
    input: "",
    env: ENV,
    timeoutMs: 20_000,
    maxAttempts: 3,
    onAttempt: (n) => attempts.push(n),
  });
  assert.equal(outcome.ok, false);
  assert.equal(outcome.attempts, 1);
  assert.deepEqual(attempts, [1]);
  assert.match(!outcome.ok ? outcome.failure.reason : "", /command not found/);
});

Deno.test("callBrain() stops when the signal aborts", async (t) => {
  await t.step("before the first attempt", async () => {
    const outcome = await callBrain({
      command: brain("echo never"),
      input: "",
      env: ENV,
      timeoutMs: 20_000,
      signal: AbortSignal.abort(),
    });
    assert.equal(outcome.ok, false);
    assert.equal(outcome.attempts, 0);
    assert.equal(!outcome.ok && outcome.aborted, true);
  });

  await t.step("during an attempt, without retrying", async () => {
    await using dir = await tempDir();
    const started = `${dir.path}/started`;
    const controller = new AbortController();
    const failures: number[] = [];
    const calling = callBrain({
      command: brain(`echo x >> "${started}"; sleep 100`),
      input: "",
      env: ENV,
      timeoutMs: 60_000,
      maxAttempts: 3,
      signal: controller.signal,
      killGraceMs: 200,
      onFailure: (n) => failures.push(n),
    });
    await waitUntil(() => attemptsIn(started) > 0 || undefined, { description: "the attempt" });
    controller.abort();
    const outcome = await calling;
    assert.equal(outcome.ok, false);
    assert.equal(!outcome.ok && outcome.aborted, true);
    assert.equal(outcome.attempts, 1);
    assert.equal(attemptsIn(started), 1);
    assert.deepEqual(failures, []);
  });
});

Deno.test("describeFailure() names what went wrong", async (t) => {
  const cases: [string, Partial<RunTreeResult>, string][] = [
    [
      "a spawn error",
      { code: undefined, spawnError: 'command not found: "x"' },
      'command not found: "x"',
    ],
    ["a timeout", { code: 143, signal: "SIGTERM", timedOut: true }, "timed out after 300 s"],
    ["an abort", { code: 143, signal: "SIGTERM", aborted: true }, "was stopped"],
    ["a signal", { code: 137, signal: "SIGKILL" }, "was killed by SIGKILL"],
    ["an exit status", { code: 1 }, "exited with status 1"],
    ["no output", { code: 0 }, "printed nothing"],
  ];
  for (const [name, fields, reason] of cases) {
    await t.step(name, () => {
      assert.equal(describeFailure(result(fields), 300_000).reason, reason);
    });
  }

  await t.step("a timeout in fractions of a second", () => {
    assert.equal(describeFailure(result({ timedOut: true }), 1500).reason, "timed out after 1.5 s");
  });
});

Deno.test("describeFailure() takes the detail from stderr, else stdout", () => {
  const both = result({ code: 1, stdout: "out", stderr: "  err line\n" });
  assert.equal(describeFailure(both, 1000).detail, "err line");
  const blankErr = result({ code: 1, stdout: "out line\n", stderr: " \n " });
  assert.equal(describeFailure(blankErr, 1000).detail, "out line");
  assert.equal(describeFailure(result({ code: 1 }), 1000).detail, "");
});

Deno.test("describeFailure() keeps only the end of a long output", () => {
  const stderr = Array.from({ length: 50 }, (_, i) => `line ${i}`).join("\n");
  const { detail } = describeFailure(result({ code: 1, stderr }), 1000);
  assert.equal(detail, Array.from({ length: 8 }, (_, i) => `line ${42 + i}`).join("\n"));

  const huge = describeFailure(result({ code: 1, stderr: "x".repeat(5000) }), 1000).detail;
  assert.equal(huge.length, 600);
  assert.ok(huge.startsWith("…"));
});

Deno.test("tail() keeps the last non-empty lines, trimmed and bounded", async (t) => {
  await t.step("lines", () => {
    assert.equal(tail("\n a\n\nb\n  \nc\nd \n\n", { lines: 3, chars: 100 }), "b\nc\nd");
  });

  await t.step("characters", () => {
    assert.equal(tail("abcdefghij", { lines: 5, chars: 4 }), "…hij");
    assert.equal(tail("abcd", { lines: 5, chars: 4 }), "abcd");
  });

  await t.step("nothing", () => {
    assert.equal(tail(" \n \n", { lines: 5, chars: 100 }), "");
  });
});

Deno.test("callBrain() ends an answer over the bot's 1 MiB with a line saying where and why it was cut", async () => {
  const outcome = await callBrain({
    command: brain("head -c 1200000 /dev/zero | tr '\\0' a"),
    input: "",
    env: ENV,
    timeoutMs: 30_000,
  });
  assert.ok(outcome.ok);
  const [answer, note] = outcome.reply.split("\n\n");
  assert.equal(answer, "a".repeat(1024 * 1024));
  assert.equal(
    note,
    "✂️ Cut here: the brain's answer was longer than the 1 MiB the bot keeps; the last 151,424 bytes were dropped.",
  );
  const whole = await callBrain({
    command: brain("echo short"),
    input: "",
    env: ENV,
    timeoutMs: 10_000,
  });
  assert.deepEqual(whole.ok && whole.reply, "short", "an answer that fits says nothing");
});

Deno.test("callBrain() runs each attempt in a cgroup of its own when COORD_CGROUP is set, and ends it", async (t) => {
  const probe = await probeCgroup();
  if (!probe.ok) {
    console.log(`callBrain() cgroup test: skipped, no cgroup v2 delegation here (${probe.reason})`);
    return;
  }
  await using dir = await tempDir();
  const escaped = `${dir.path}/escaped`;
  const script =
    `cat /proc/self/cgroup >"${dir.path}/cgroup"; printenv COORD_CGROUP >"${dir.path}/env";
    setsid env -i /bin/sh -c 'sleep 1000 </dev/null >/dev/null 2>&1 & echo $! >"$1"' sh "${escaped}"
    until [ -s "${escaped}" ]; do sleep 0.01; done; echo answered`;
  const outcome = await callBrain({
    command: brain(script),
    input: "",
    env: { ...ENV, COORD_CGROUP: probe.dir },
    timeoutMs: 10_000,
  });
  assert.deepEqual(outcome.ok && outcome.reply, "answered");
  await t.step("it ran in a cgroup named after its marker, under the bot's", () => {
    const line = Deno.readTextFileSync(`${dir.path}/cgroup`).split("\n").find((l) =>
      l.startsWith("0::")
    );
    assert.match(line ?? "", /^0::.*\/forge-brain-[0-9a-f]{16}\.[0-9a-f-]{36}$/);
    assert.equal(
      Deno.readTextFileSync(`${dir.path}/env`),
      "",
      "the brain is not told the variable",
    );
  });
  await t.step(
    "what it left behind with env -i and setsid is gone, and so is its cgroup",
    async () => {
      const pid = Number(Deno.readTextFileSync(escaped).trim());
      await gone(pid, 3000);
      const line = Deno.readTextFileSync(`${dir.path}/cgroup`).split("\n").find((l) =>
        l.startsWith("0::")
      )!;
      const name = line.slice(line.lastIndexOf("/") + 1);
      assert.throws(() => Deno.statSync(`${probe.dir}/${name}`), Deno.errors.NotFound, "removed");
    },
  );
});
