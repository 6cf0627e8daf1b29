/**
 * Run by `unit_process_tree_test.ts` in a process that inherited extra descriptors on purpose (as
 * a bot started by a leaky shell would): starts `/bin/sleep` through `runTree()` and directly with
 * `Deno.Command`, and prints, as JSON, the descriptors each has once it runs. The first argument
 * is the PATH the wrapper sees. Needs --allow-all (it reads /proc).
 *
 * @module
 */

import { runTree } from "../../lib/shared/process_tree.ts";

const PATH = Deno.args[0] ?? "/usr/bin:/bin";

/** The descriptors of `pid`, once it runs `sleep` (the wrapper has exec'd into it). */
async function fdsOnceSleeping(pid: number): Promise<string[]> {
  for (let i = 0; i < 500; i++) {
    const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0")[0];
    if (cmdline.endsWith("sleep")) {
      return [...Deno.readDirSync(`/proc/${pid}/fd`)].map((e) => e.name).sort((a, b) =>
        Number(a) - Number(b)
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`pid ${pid} never ran sleep`);
}

const stop = new AbortController();
const { promise: spawned, resolve } = Promise.withResolvers<number>();
const run = runTree("/bin/sleep", {
  args: ["30"],
  env: { PATH },
  signal: stop.signal,
  onSpawn: resolve,
});
const wrapped = await fdsOnceSleeping(await spawned);
stop.abort();
await run;

const plain = new Deno.Command("/bin/sleep", { args: ["30"], stdout: "null", stderr: "null" })
  .spawn();
const direct = await fdsOnceSleeping(plain.pid);
plain.kill("SIGKILL");
await plain.status;

console.log(JSON.stringify({ wrapped, direct }));
