/**
 * Unit tests for `lib/loop/launcher.ts`: the chain of launchers read from `ps` output, and the
 * watch that stops the bot when one of them is gone (a fake liveness check, real timers).
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Launcher, parseLaunchers, watchLaunchers } from "../lib/loop/launcher.ts";
import { trackTimers, waitUntil } from "./_helpers.ts";

/** `ps -A -o pid=,ppid=,args=` as it looked under `npx -y deno@2.9.6 task start &` in bash. */
const NPX_TREE = `
    1     0 /sbin/init
  900     1 -bash
14117   900 npm exec deno@2.9.6 task start
14129 14117 sh -c 'deno' task start
14130 14129 deno task start
14135 14130 /root/.npm/_npx/7a40/node_modules/deno/deno run --frozen --no-prompt --allow-env main.ts
14143 14135 /root/.npm/_npx/7a40/node_modules/deno/deno run --quiet handler.ts
`;

Deno.test("parseLaunchers() follows the chain up from the parent while it is npm's, a shell's of deno, or deno task", async (t) => {
  await t.step("npx -y deno@2.9.6 task start", () => {
    assert.deepEqual(parseLaunchers(NPX_TREE, 14130).map((l) => l.pid), [14130, 14129, 14117]);
  });
  await t.step("deno task start from a shell: deno task alone", () => {
    const tree =
      "  900 1 -bash\n 500 900 /home/me/.local/bin/deno task --config=/x/deno.json start\n";
    assert.deepEqual(parseLaunchers(tree, 500), [
      { pid: 500, args: "/home/me/.local/bin/deno task --config=/x/deno.json start" },
    ]);
  });
  await t.step("systemd, a shell, or deno test: none", () => {
    const tree =
      " 700 1 /lib/systemd/systemd --user\n 800 1 -bash\n 810 800 deno test --allow-all tests/\n";
    for (const ppid of [700, 800, 810, 999]) assert.deepEqual(parseLaunchers(tree, ppid), []);
  });
});

Deno.test("watchLaunchers() tells of the first launcher gone, once, and leaves no timer", async (t) => {
  const chain: Launcher[] = [{ pid: 1, args: "deno task start" }, { pid: 2, args: "sh -c deno" }];
  await t.step("one gone: told once, the watch ends", async () => {
    using timers = trackTimers();
    const dead = new Set<number>();
    const told: Launcher[] = [];
    const stop = new AbortController();
    watchLaunchers(chain, {
      signal: stop.signal,
      everyMs: 5,
      alive: (pid) => !dead.has(pid),
      onGone: (launcher) => told.push(launcher),
    });
    assert.equal(timers.pending, 1);
    dead.add(2);
    await waitUntil(() => told.length > 0, { description: "the launcher gone" });
    assert.deepEqual(told, [chain[1]]);
    assert.equal(timers.pending, 0);
  });
  await t.step("the stop ends the watch", () => {
    using timers = trackTimers();
    const stop = new AbortController();
    watchLaunchers(chain, { signal: stop.signal, alive: () => true, onGone: () => {} });
    assert.equal(timers.pending, 1);
    stop.abort();
    assert.equal(timers.pending, 0);
  });
  await t.step("no launchers: no watch", () => {
    using timers = trackTimers();
    watchLaunchers([], { signal: new AbortController().signal, onGone: () => {} });
    assert.equal(timers.pending, 0);
  });
  await t.step("the default check: our own parent is there, a pid that isn't is gone", async () => {
    const stop = new AbortController();
    const told: Launcher[] = [];
    const child = new Deno.Command("sleep", { args: ["60"] }).spawn();
    watchLaunchers([{ pid: Deno.ppid, args: "parent" }, { pid: child.pid, args: "sleep" }], {
      signal: stop.signal,
      everyMs: 5,
      onGone: (launcher) => told.push(launcher),
    });
    child.kill("SIGKILL");
    await child.status;
    await waitUntil(() => told.length > 0, { description: "the dead child seen gone" });
    assert.deepEqual(told.map((l) => l.args), ["sleep"]);
    stop.abort();
  });
});
