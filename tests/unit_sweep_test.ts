/**
 * Unit tests for `lib/shared/sweep.ts` and what uses it: markers, the sweep of escaped processes, a brain
 * attempt's own sweep, and the umask a brain gets back (`lib/shared/process_tree.ts`, `lib/handler/brain.ts`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { callBrain, parseUmask } from "../lib/handler/brain.ts";
import { runTree, withUmask } from "../lib/shared/process_tree.ts";
import { botMarker, RUN_MARKER_ENV, runMarker, sweep } from "../lib/shared/sweep.ts";
import { gone, isAlive, killAll, tempDir, waitUntil } from "./_helpers.ts";

const PATH = Deno.env.get("PATH")!;

/** Starts `setsid sleep 1000` (its own session, out of any group of ours) carrying `env`. */
async function escapee(env: Record<string, string>, dir: string): Promise<number> {
  const pidFile = `${dir}/escapee-${crypto.randomUUID()}`;
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      `setsid bash -c 'echo $$ > "${pidFile}"; exec sleep 1000' </dev/null >/dev/null 2>&1 &`,
    ],
    env: { PATH, ...env },
    clearEnv: true,
  }).spawn();
  await child.status;
  return await waitUntil(() => {
    try {
      const text = Deno.readTextFileSync(pidFile).trim();
      return text === "" ? undefined : Number(text);
    } catch {
      return undefined;
    }
  }, { description: "the escapee's pid" });
}

Deno.test("botMarker() is stable for one state folder and differs between two", () => {
  assert.equal(botMarker("/home/a/.local/state/fc"), botMarker("/home/a/.local/state/fc/"));
  assert.notEqual(botMarker("/home/a/.local/state/fc"), botMarker("/home/a/.local/state/fc2"));
  assert.match(botMarker("/x"), /^[0-9a-f]{16}$/);
  assert.match(runMarker(botMarker("/x")), /^[0-9a-f]{16}\.[0-9a-f-]{36}$/);
});

Deno.test("sweep() kills a setsid escapee with the run's marker and nothing else", async (t) => {
  await using dir = await tempDir();
  const bot = botMarker(dir.path);
  const run = runMarker(bot);
  const other = runMarker(bot);
  const stranger = runMarker(botMarker(`${dir.path}/other-bot`));
  const target = await escapee({ [RUN_MARKER_ENV]: run }, dir.path);
  const sibling = await escapee({ [RUN_MARKER_ENV]: other }, dir.path);
  const foreign = await escapee({ [RUN_MARKER_ENV]: stranger }, dir.path);
  const unmarked = await escapee({ SOMETHING: run }, dir.path);
  try {
    await t.step("one run", async () => {
      assert.deepEqual(await sweep({ run }), [target]);
      await gone(target);
      assert.ok(isAlive(sibling) && isAlive(foreign) && isAlive(unmarked));
    });
    await t.step("every run of one bot", async () => {
      assert.deepEqual(await sweep({ bot }), [sibling]);
      await gone(sibling);
      assert.ok(isAlive(foreign) && isAlive(unmarked));
    });
    await t.step("nothing left: an empty sweep", async () => {
      assert.deepEqual(await sweep({ bot }), []);
    });
  } finally {
    killAll([target, sibling, foreign, unmarked]);
  }
});

Deno.test("sweep() catches what an escapee forks while it is being swept", async () => {
  await using dir = await tempDir();
  const run = runMarker(botMarker(dir.path));
  const list = `${dir.path}/bred`;
  // A fork bomb in slow motion: a new child in a session of its own every 10 ms.
  const breeder = new Deno.Command("setsid", {
    args: [
      "bash",
      "-c",
      `while :; do setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! >> "${list}"; sleep 0.01; done`,
    ],
    env: { PATH, [RUN_MARKER_ENV]: run },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const bred = () => Deno.readTextFileSync(list).trim().split("\n").map(Number);
  try {
    await waitUntil(() => {
      try {
        return bred().length >= 3 ? true : undefined;
      } catch {
        return undefined;
      }
    }, { description: "three children bred" });
    const killed = await sweep({ run });
    assert.ok(killed.includes(breeder.pid));
    assert.deepEqual(await sweep({ run }), [], "nothing marked is left");
    for (const pid of bred()) await gone(pid);
  } finally {
    killAll([breeder.pid, ...bred()]);
    await breeder.status;
  }
});

Deno.test("runTree() gives the child the umask asked for, and still reports a missing command", async (t) => {
  await t.step("umask", async () => {
    const result = await runTree("bash", { args: ["-c", "umask"], env: { PATH }, umask: 0o022 });
    assert.equal(result.stdout.trim(), "0022");
    const own = await runTree("bash", { args: ["-c", "umask"], env: { PATH }, umask: 0o027 });
    assert.equal(own.stdout.trim(), "0027");
    const handedDown = await runTree("bash", {
      args: ["-c", "umask"],
      env: { PATH, COORD_PERSON_UMASK: "0027" },
    });
    assert.equal(handedDown.stdout.trim(), "0027", "the person's umask, from the environment");
  });
  await t.step("a missing command", async () => {
    const result = await runTree("no-such-brain-here", { env: { PATH }, umask: 0o022 });
    assert.equal(result.spawnError, 'command not found: "no-such-brain-here"');
  });
  await t.step("a command's own exit 127 is its own", async () => {
    const result = await runTree("bash", { args: ["-c", "exit 127"], env: { PATH }, umask: 0o022 });
    assert.equal(result.spawnError, undefined);
    assert.equal(result.code, 127);
  });
  await t.step("bad umask", () => {
    assert.throws(() => withUmask("x", { umask: 0o1000 }), RangeError);
    assert.equal(parseUmask("0022"), 0o022);
    assert.equal(parseUmask("777"), 0o777);
    assert.equal(parseUmask("22"), undefined);
    assert.equal(parseUmask(undefined), undefined);
  });
});

Deno.test("callBrain() leaves nothing behind that its attempt started, even out of its group", async (t) => {
  await using dir = await tempDir();
  const env = { PATH, COORD_STATE_DIR: `${dir.path}/state` };
  // The brain starts a helper in a session of its own, then answers or hangs.
  const brain = (then: string) => [
    "bash",
    "-c",
    `setsid bash -c 'echo $$ >> "${dir.path}/helpers"; exec sleep 1000' </dev/null >/dev/null 2>&1 & ${then}`,
  ];
  const helpers = () => {
    try {
      return Deno.readTextFileSync(`${dir.path}/helpers`).trim().split("\n").map(Number);
    } catch {
      return [];
    }
  };
  try {
    await t.step("after an answer", async () => {
      const outcome = await callBrain({
        command: brain("sleep 0.2; echo done"),
        input: "",
        env,
        timeoutMs: 10_000,
      });
      assert.ok(outcome.ok);
      await gone(helpers().at(-1)!);
    });
    await t.step("after a timeout", async () => {
      const outcome = await callBrain({
        command: brain("sleep 1000"),
        input: "",
        env,
        timeoutMs: 500,
        killGraceMs: 100,
      });
      assert.equal(outcome.ok, false);
      await gone(helpers().at(-1)!);
    });
    await t.step("after an abort", async () => {
      const stop = new AbortController();
      const outcome = callBrain({
        command: brain("sleep 1000"),
        input: "",
        env,
        timeoutMs: 10_000,
        killGraceMs: 100,
        signal: stop.signal,
        onSpawn: () => {
          waitUntil(() => (helpers().length >= 3 ? true : undefined), {
            description: "the third helper",
          }).then(() => stop.abort());
        },
      });
      assert.equal((await outcome).ok, false);
      await gone(helpers().at(-1)!);
    });
    await t.step(
      "in the brain's environment, the marker of the bot of its state folder",
      async () => {
        const outcome = await callBrain({
          command: ["bash", "-c", `echo "$${RUN_MARKER_ENV}"`],
          input: "",
          env,
          timeoutMs: 10_000,
        });
        assert.ok(outcome.ok);
        assert.ok(outcome.reply.startsWith(`${botMarker(env.COORD_STATE_DIR)}.`), outcome.reply);
      },
    );
  } finally {
    killAll(helpers());
  }
});
