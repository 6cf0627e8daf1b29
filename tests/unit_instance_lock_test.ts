/**
 * Unit tests for `lib/loop/instance_lock.ts`: the state folder's instance lock, taken twice in one
 * process (flock excludes two open files of one process too) and by a child process.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  INSTANCE_LOCK_FILE,
  instanceInUseLine,
  takeInstanceLock,
} from "../lib/loop/instance_lock.ts";
import { tempDir } from "./_helpers.ts";

Deno.test("takeInstanceLock() lets one holder in, tells a second who holds it, and lets go when the holder closes", async () => {
  await using dir = await tempDir();
  const first = takeInstanceLock(dir.path, { pid: 4242 });
  assert.equal(first.taken, true);
  assert.equal(Deno.readTextFileSync(`${dir.path}/${INSTANCE_LOCK_FILE}`), "4242\n");
  assert.equal(Deno.statSync(`${dir.path}/${INSTANCE_LOCK_FILE}`).mode! & 0o777, 0o600);

  const second = takeInstanceLock(dir.path, { pid: 5353 });
  assert.deepEqual(second, { taken: false, holder: 4242 });
  assert.equal(Deno.readTextFileSync(`${dir.path}/${INSTANCE_LOCK_FILE}`), "4242\n", "untouched");

  if (first.taken) first.file.close();
  const third = takeInstanceLock(dir.path, { pid: 6464 });
  assert.equal(third.taken, true);
  assert.equal(Deno.readTextFileSync(`${dir.path}/${INSTANCE_LOCK_FILE}`), "6464\n");
  if (third.taken) third.file.close();
});

Deno.test("takeInstanceLock() is refused while another process holds the lock, and free once it has died", async () => {
  await using dir = await tempDir();
  const holder = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { takeInstanceLock } from ${
        JSON.stringify(import.meta.resolve("../lib/loop/instance_lock.ts"))
      };
       const lock = takeInstanceLock(${JSON.stringify(dir.path)});
       console.log(lock.taken ? "held" : "refused");
       await new Promise((resolve) => setTimeout(resolve, 60_000));`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
  assert.equal((await reader.read()).value?.trim(), "held");
  const refused = takeInstanceLock(dir.path);
  assert.deepEqual(refused, { taken: false, holder: holder.pid });
  holder.kill("SIGKILL");
  await holder.status;
  await reader.cancel();
  const taken = takeInstanceLock(dir.path);
  assert.equal(taken.taken, true, "a SIGKILLed holder leaves no stale lock");
  if (taken.taken) taken.file.close();
});

Deno.test("instanceInUseLine() names the running pid and the state folder, or says it doesn't know the pid", () => {
  assert.equal(
    instanceInUseLine("/s", 77),
    'Cannot start: forge-coordinator pid 77 already runs with the state folder "/s" (COORD_STATE_DIR); stop it first, or give this one a state folder of its own',
  );
  assert.match(
    instanceInUseLine("/s", undefined),
    /^Cannot start: another forge-coordinator already runs/,
  );
});
