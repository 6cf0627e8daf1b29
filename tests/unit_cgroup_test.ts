/**
 * Unit tests for `lib/shared/cgroup.ts`: naming a brain attempt's cgroup, and, where this machine
 * lets us make cgroups (cgroup v2, delegated or as root), ending them: a bot's own leftovers and
 * an attempt's, through the sweep as the poll process calls it. Each test that needs a cgroup
 * prints why it was skipped when there is none.
 *
 * @module
 */

import assert from "node:assert/strict";
import { attemptCgroup, killBotCgroups, killCgroups, probeCgroup } from "../lib/shared/cgroup.ts";
import { sweep } from "../lib/shared/sweep.ts";
import { isAlive, killAll, waitUntil } from "./_helpers.ts";

const BOT = "0123456789abcdef";

Deno.test("attemptCgroup() names a brain attempt's cgroup after its marker, under the bot's", () => {
  const run = `${BOT}.4f1c2b7e-9a3d-4c5e-8b21-6d0e9f3a7c58`;
  assert.equal(
    attemptCgroup("/sys/fs/cgroup/a.service/", run),
    `/sys/fs/cgroup/a.service/forge-brain-${run}`,
  );
  for (const bad of ["../x", `${BOT}./..`, "", `${BOT}.a b`, `${BOT}`]) {
    assert.throws(() => attemptCgroup("/sys/fs/cgroup", bad), TypeError, bad);
  }
});

Deno.test("killCgroups() skips a cgroup that is not there", async () => {
  await killCgroups([`/sys/fs/cgroup/forge-brain-${BOT}.no-such-run`]);
  await killCgroups([]);
});

/**
 * A cgroup named `name` under `base` holding a `sleep` with an empty environment (no marker); the
 * sleep's process, which the test awaits.
 */
async function cgroupWithSleeper(base: string, name: string): Promise<Deno.ChildProcess> {
  const dir = `${base}/${name}`;
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", 'mkdir "$1" && echo $$ >"$1/cgroup.procs" && exec env -i sleep 1000', "sh", dir],
    stdin: "null",
    stdout: "null",
  }).spawn();
  await waitUntil(() => Deno.readTextFileSync(`/proc/${child.pid}/cmdline`).startsWith("sleep"), {
    description: `a sleep in ${dir}`,
  });
  return child;
}

Deno.test("killBotCgroups() ends every cgroup this bot's brains left, and no other bot's", async () => {
  const probe = await probeCgroup();
  if (!probe.ok) {
    console.log(`killBotCgroups() test: skipped, no cgroup v2 delegation here (${probe.reason})`);
    return;
  }
  const other = "fedcba9876543210";
  const mine = [
    await cgroupWithSleeper(probe.dir, `forge-brain-${BOT}.1111-aaaa`),
    await cgroupWithSleeper(probe.dir, `forge-brain-${BOT}.2222-bbbb`),
  ];
  const theirs = await cgroupWithSleeper(probe.dir, `forge-brain-${other}.3333-cccc`);
  const all = [...mine, theirs];
  try {
    assert.equal(await killBotCgroups(probe.dir, { bot: BOT }), 2);
    for (const child of mine) assert.equal((await child.status).signal, "SIGKILL");
    assert.equal(isAlive(theirs.pid), true, "another bot's brain is left alone");
    const removed = `${probe.dir}/forge-brain-${BOT}.1111-aaaa`;
    assert.throws(() => Deno.statSync(removed), Deno.errors.NotFound);
    assert.equal(await killBotCgroups(probe.dir, { bot: BOT }), 0, "nothing left");
  } finally {
    killAll(all.map((c) => c.pid));
    await Promise.all(all.map((c) => c.status));
    await killBotCgroups(probe.dir, { bot: other }).catch(() => {});
    await killBotCgroups(probe.dir, { bot: BOT }).catch(() => {});
  }
});

Deno.test("sweep() with the bot's cgroup ends an attempt's cgroup, which holds what the marker can't find", async () => {
  const probe = await probeCgroup();
  if (!probe.ok) {
    console.log(`sweep() cgroup test: skipped, no cgroup v2 delegation here (${probe.reason})`);
    return;
  }
  const run = `${BOT}.4444-dddd`;
  const child = await cgroupWithSleeper(probe.dir, `forge-brain-${run}`);
  try {
    assert.deepEqual(await sweep({ run }), [], "no marker: the sweep alone finds nothing");
    assert.equal(isAlive(child.pid), true);
    await sweep({ run }, { cgroup: probe.dir });
    assert.equal((await child.status).signal, "SIGKILL");
    assert.throws(() => Deno.statSync(`${probe.dir}/forge-brain-${run}`), Deno.errors.NotFound);
  } finally {
    killAll([child.pid]);
    await child.status;
    await killBotCgroups(probe.dir, { bot: BOT }).catch(() => {});
  }
});
