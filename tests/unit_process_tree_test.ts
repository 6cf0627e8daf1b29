/**
 * Unit tests for `lib/shared/process_tree.ts`: `runTree()`, `startTree()` and `stopGroups()` with
 * real processes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { killGroup, runTree, startTree, stopGroups } from "../lib/shared/process_tree.ts";
import { gone, killAll, projectPath, tempDir, waitUntil } from "./_helpers.ts";

const PATH = Deno.env.get("PATH")!;

/** Runs a bash script with only PATH in its environment. */
function bash(script: string, options: Parameters<typeof runTree>[1] = {}) {
  return runTree("bash", { args: ["-c", script], env: { PATH }, ...options });
}

/** The pids listed, one a line, in `path`, once there are `count` of them. */
function readPids(path: string, count: number): Promise<number[]> {
  return waitUntil(() => {
    try {
      const pids = Deno.readTextFileSync(path).split("\n").filter((l) => l !== "").map(Number);
      return pids.length >= count ? pids : undefined;
    } catch {
      return undefined;
    }
  }, { description: `${count} pids in ${path}` });
}

Deno.test("runTree() captures stdout, stderr and the exit code", async () => {
  const result = await bash("echo out; echo err >&2; exit 7");
  assert.deepEqual(result, {
    code: 7,
    signal: null,
    stdout: "out\n",
    stderr: "err\n",
    timedOut: false,
    aborted: false,
  });
});

Deno.test("runTree() writes the input to stdin and closes it", async (t) => {
  await t.step("a string", async () => {
    const result = await runTree("cat", { env: { PATH }, input: "line one\nline two ✓" });
    assert.equal(result.stdout, "line one\nline two ✓");
    assert.equal(result.code, 0);
  });

  await t.step("bytes", async () => {
    const result = await runTree("cat", { env: { PATH }, input: new Uint8Array([104, 105]) });
    assert.equal(result.stdout, "hi");
  });

  await t.step("no input: stdin is closed at once", async () => {
    const result = await runTree("cat", { env: { PATH }, timeoutMs: 20_000 });
    assert.equal(result.stdout, "");
    assert.equal(result.timedOut, false);
  });
});

Deno.test("runTree() gives the child exactly the environment passed", async (t) => {
  await t.step("some variables", async () => {
    const result = await runTree("/usr/bin/env", { env: { ONLY: "this", ALSO: "that one" } });
    assert.deepEqual(result.stdout.split("\n").filter((l) => l !== "").sort(), [
      "ALSO=that one",
      "ONLY=this",
    ]);
  });

  await t.step("none by default", async () => {
    const result = await runTree("/usr/bin/env");
    assert.equal(result.stdout, "");
  });
});

Deno.test("runTree() runs in the working directory given", async () => {
  await using dir = await tempDir();
  const result = await runTree("/bin/pwd", { cwd: dir.path });
  assert.equal(result.stdout.trim(), Deno.realPathSync(dir.path));
});

Deno.test("runTree() kills the whole process tree at the timeout", async () => {
  await using dir = await tempDir();
  const pids = `${dir.path}/pids`;
  let sleeps: number[] = [];
  try {
    const result = await bash(
      `sleep 100 & echo $! >> "${pids}"; sleep 100 & echo $! >> "${pids}"; wait`,
      { timeoutMs: 2000, killGraceMs: 500 },
    );
    sleeps = await readPids(pids, 2);
    assert.equal(result.timedOut, true);
    assert.equal(result.aborted, false);
    assert.equal(result.signal, "SIGTERM");
    assert.equal(result.code, 143);
    for (const pid of sleeps) await gone(pid);
  } finally {
    killAll(sleeps);
  }
});

Deno.test("runTree() kills a child that ignores SIGTERM after the grace period", async () => {
  await using dir = await tempDir();
  const pids = `${dir.path}/pids`;
  const controller = new AbortController();
  let children: number[] = [];
  try {
    const running = bash(`trap '' TERM; sleep 100 & echo $! >> "${pids}"; wait; wait`, {
      signal: controller.signal,
      killGraceMs: 300,
    });
    // Stopped only once the trap is surely set.
    children = await readPids(pids, 1);
    controller.abort();
    const result = await running;
    assert.equal(result.aborted, true);
    assert.equal(result.signal, "SIGKILL");
    await gone(children[0]);
  } finally {
    killAll(children);
  }
});

Deno.test("runTree() kills the tree when the signal aborts", async (t) => {
  await t.step("while it runs", async () => {
    await using dir = await tempDir();
    const pids = `${dir.path}/pids`;
    const controller = new AbortController();
    let children: number[] = [];
    try {
      const running = bash(`sleep 100 & echo $! >> "${pids}"; wait`, {
        signal: controller.signal,
        killGraceMs: 500,
      });
      children = await readPids(pids, 1);
      controller.abort();
      const result = await running;
      assert.equal(result.aborted, true);
      assert.equal(result.timedOut, false);
      await gone(children[0]);
    } finally {
      killAll(children);
    }
  });

  await t.step("before it starts", async () => {
    const result = await bash("sleep 100", { signal: AbortSignal.abort(), killGraceMs: 500 });
    assert.equal(result.aborted, true);
    assert.notEqual(result.code, 0);
  });
});

Deno.test("runTree() reports a command that can't start instead of throwing", async (t) => {
  await t.step("not found", async () => {
    const result = await runTree("no-such-command-coord-test", { env: { PATH } });
    assert.equal(result.code, undefined);
    assert.match(result.spawnError ?? "", /command not found/);
    assert.match(result.spawnError ?? "", /no-such-command-coord-test/);
  });

  await t.step("not executable", async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/plain.txt`;
    Deno.writeTextFileSync(path, "#!/bin/sh\n");
    const result = await runTree(path);
    assert.ok(result.spawnError !== undefined);
    assert.equal(result.code, undefined);
  });
});

Deno.test("runTree() truncates output beyond maxOutputBytes without blocking the child", async () => {
  const result = await bash("head -c 3000000 /dev/zero | tr '\\0' a; echo done >&2", {
    maxOutputBytes: 1000,
    timeoutMs: 30_000,
  });
  assert.equal(result.timedOut, false);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, "a".repeat(1000));
  assert.equal(result.stdoutDropped, 3_000_000 - 1000, "what was dropped is counted");
  assert.equal(result.stderr, "done\n");
  const small = await bash("echo fits", { maxOutputBytes: 1000 });
  assert.equal(small.stdoutDropped, undefined, "nothing dropped, nothing said");
});

Deno.test("runTree() gives the child stdin, stdout and stderr only, whatever descriptors the bot inherited", async (t) => {
  /** Runs the probe in a process that inherited descriptors 7 and 13 from a leaky shell. */
  const probe = async (path: string) => {
    const script = 'exec 7</dev/null 13</dev/null; exec "$0" run --allow-all --quiet "$1" "$2"';
    const out = await new Deno.Command("bash", {
      args: ["-c", script, Deno.execPath(), projectPath("tests/stubs/fd_probe.ts"), path],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.equal(out.code, 0);
    return JSON.parse(new TextDecoder().decode(out.stdout)) as {
      wrapped: string[];
      direct: string[];
    };
  };
  await t.step("with bash on the PATH: every one above 2 is closed", async () => {
    const { wrapped, direct } = await probe(PATH);
    assert.ok(direct.includes("7") && direct.includes("13"), `the leak is real: ${direct}`);
    assert.deepEqual(wrapped, ["0", "1", "2"]);
  });
  await t.step(
    "without bash (/bin/sh alone): 3 to 9 are closed, 10 and above are not",
    async () => {
      const { wrapped } = await probe("/nonexistent");
      assert.deepEqual(wrapped.filter((fd) => Number(fd) < 10), ["0", "1", "2"]);
      assert.ok(wrapped.includes("13"), `dash can't name 13: ${wrapped}`);
    },
  );
});

Deno.test("killGroup() never signals a pid of 1 or less, nor one that is not a whole number", async () => {
  // A stopped process in a group of its own: a kill(-1, SIGCONT) would reach it and wake it.
  const child = new Deno.Command("sleep", { args: ["30"], detached: true, stdout: "null" }).spawn();
  try {
    Deno.kill(child.pid, "SIGSTOP");
    const state = () => Deno.readTextFileSync(`/proc/${child.pid}/stat`).split(") ")[1][0];
    await waitUntil(() => state() === "T", { description: "the child stopped" });
    for (const pid of [1, 0, -1, -child.pid, 1.5, Number.NaN]) {
      assert.equal(killGroup(pid, "SIGCONT"), false, `pid ${pid}`);
    }
    assert.equal(state(), "T", "nothing woke it");
    assert.equal(killGroup(child.pid, "SIGCONT"), true, "its own group is signalled");
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});

Deno.test("stopGroups() ends every group: SIGTERM, then SIGKILL to the members and leaders that stay", async () => {
  await using dir = await tempDir();
  const spawn = (script: string) =>
    new Deno.Command("bash", {
      args: ["-c", script],
      env: { PATH },
      clearEnv: true,
      detached: true,
      stdin: "null",
    }).spawn();
  // One leader goes on SIGTERM but leaves a member that ignores it; one ignores it itself.
  const polite = spawn(
    `(trap '' TERM; sleep 100) & echo $! > "${dir.path}/member"; wait`,
  );
  const stubborn = spawn(
    `trap '' TERM; echo $$ > "${dir.path}/trapped"; sleep 100 & wait; wait`,
  );
  let member: number[] = [];
  try {
    member = await readPids(`${dir.path}/member`, 1);
    await readPids(`${dir.path}/trapped`, 1);
    const late = await stopGroups([polite, stubborn], 300);
    assert.deepEqual(late, [stubborn.pid], "only the leader that ignored SIGTERM was late");
    assert.equal((await polite.status).signal, "SIGTERM");
    assert.equal((await stubborn.status).signal, "SIGKILL");
    await gone(member[0]);
  } finally {
    killAll([...member, polite.pid, stubborn.pid]);
  }
});

Deno.test("startTree() keeps stdin open for the caller's writes, in order, until closed", async () => {
  const seen: string[] = [];
  const run = startTree("bash", {
    args: ["-c", `while read -r line; do echo "got $line"; done; echo "eof"`],
    env: { PATH },
    onStdout: (text) => seen.push(text),
  });
  assert.equal(await run.write("one\n"), true);
  // The child answers while its stdin is still open: nothing waits for the end of the input.
  await waitUntil(() => seen.join("").includes("got one") ? true : undefined, {
    description: "the first line answered",
  });
  await Promise.all([run.write("two\n"), run.write("three\n")]);
  await run.closeInput();
  assert.equal(await run.write("late\n"), false, "nothing is written after the close");
  const result = await run.result;
  assert.equal(result.stdout, "got one\ngot two\ngot three\neof\n");
  assert.equal(result.code, 0);
  assert.equal(result.ended, undefined);
});

Deno.test("startTree().end() stops the whole group at once, and the result says so", async () => {
  await using dir = await tempDir();
  const pids = `${dir.path}/pids`;
  let children: number[] = [];
  try {
    const run = startTree("bash", {
      args: ["-c", `sleep 100 & echo $! >> "${pids}"; wait`],
      env: { PATH },
      timeoutMs: 60_000,
      killGraceMs: 300,
    });
    children = await readPids(pids, 1);
    run.end();
    const result = await run.result;
    assert.equal(result.ended, true);
    assert.equal(result.timedOut, false);
    assert.equal(result.aborted, false);
    assert.equal(result.signal, "SIGTERM");
    await gone(children[0]);
    assert.equal(await run.write("x"), false, "a gone child's stdin takes nothing");
  } finally {
    killAll(children);
  }
});

Deno.test("startTree() of a command that can't start reports it", async () => {
  // It starts through the wrapper shell (`exec_wrapper.ts`), which says so when its exec fails.
  const run = startTree("no-such-command-coord-test", { env: { PATH } });
  await run.closeInput();
  assert.equal((await run.result).spawnError, 'command not found: "no-such-command-coord-test"');
});
