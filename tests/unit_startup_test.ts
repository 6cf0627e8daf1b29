/**
 * Unit tests for `lib/loop/startup.ts`: the poll process's housekeeping before its first poll, in
 * a temp state folder: private state and the folders the bot needs (`prepareState`), and the files
 * of messages finished while the bot was down (`tidyAttachments`). Each test restores the
 * process's umask (`umaskKept`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { prepareState, tidyAttachments } from "../lib/loop/startup.ts";
import type { Config } from "../lib/shared/config.ts";
import { Journal } from "../lib/shared/journal.ts";
import { getLog } from "../lib/shared/log.ts";
import { isDiskFault, PERSON_UMASK_ENV } from "../lib/shared/private.ts";
import { captureLog, modeOf, tempDir, umaskKept } from "./_helpers.ts";

const log = getLog("test");

/** The settings start-up reads: the state folder, the brains' working folder, the lock folder. */
function config(
  stateDir: string,
  brainWorkdir = `${stateDir}/brain`,
  lockDir = `${stateDir}/lock`,
): Config {
  return { stateDir, brainWorkdir, lockDir } as Config;
}

Deno.test("prepareState() makes the state private: umask 077, a 0700 state folder even if it was wider, the brains' folder", async () => {
  using _ = umaskKept(0o022);
  await using dir = await tempDir();
  const state = `${dir.path}/state`;
  Deno.mkdirSync(state, { mode: 0o755 });
  assert.equal(prepareState(config(state, `${dir.path}/work/brain`)), undefined);
  assert.equal(modeOf(state), 0o700, "the state folder");
  // 0700 by the umask 077 as much as by its own mode: it is private either way.
  assert.equal(modeOf(`${dir.path}/work/brain`), 0o700, "the brains' folder, with its parents");
  assert.equal(Deno.umask(0o022), 0o077, "this process's umask, which handlers inherit");
  assert.equal(Deno.env.get(PERSON_UMASK_ENV), "0022", "the person's, for brains");

  await using fresh = await tempDir();
  assert.equal(prepareState(config(`${fresh.path}/a/state`)), undefined, "a state folder to make");
  assert.equal(modeOf(`${fresh.path}/a/state`), 0o700);
  assert.equal(modeOf(`${fresh.path}/a/state/brain`), 0o700);
});

Deno.test("prepareState() returns the configuration error for a folder it can't make", async (t) => {
  using _ = umaskKept(0o022);
  await using dir = await tempDir();
  Deno.writeTextFileSync(`${dir.path}/file`, "");
  await t.step("the state folder", () => {
    const state = `${dir.path}/file/state`;
    const fault = prepareState(config(state, `${dir.path}/brain`));
    const line = `Cannot create COORD_STATE_DIR "${state}": `;
    assert.ok(fault?.line.startsWith(line) && fault.line.length > line.length, fault?.line);
    assert.equal(fault?.temporary, false, "a setting to fix, not the disk failing");
  });
  await t.step("the brains' folder", () => {
    const work = `${dir.path}/file/brain`;
    const fault = prepareState(config(`${dir.path}/state`, work));
    const line = `Cannot create COORD_BRAIN_WORKDIR "${work}": `;
    assert.ok(fault?.line.startsWith(line) && fault.line.length > line.length, fault?.line);
    assert.equal(fault?.temporary, false, "a setting to fix, not the disk failing");
  });
  await t.step("the brains' folder in the state folder, as by default: both named", () => {
    const state = `${dir.path}/state-ro`;
    Deno.mkdirSync(state, { mode: 0o700 });
    Deno.writeTextFileSync(`${state}/brain`, "");
    const fault = prepareState(config(state, `${state}/brain/work`));
    const line =
      `Cannot create COORD_BRAIN_WORKDIR "${state}/brain/work" in COORD_STATE_DIR "${state}": `;
    assert.ok(fault?.line.startsWith(line) && fault.line.length > line.length, fault?.line);
    const slashed = prepareState(config(`${state}/`, `${state}/brain/work`));
    assert.match(slashed?.line ?? "", / in COORD_STATE_DIR /, "written with a trailing slash");
  });
  await t.step("the lock folder", () => {
    const lock = `${dir.path}/file/lock`;
    const fault = prepareState(config(`${dir.path}/state`, undefined, lock));
    const line = `Cannot create COORD_LOCK_DIR "${lock}" (mode 0700): `;
    assert.ok(fault?.line.startsWith(line) && fault.line.length > line.length, fault?.line);
    assert.equal(fault?.temporary, false, "a setting to fix, not the disk failing");
  });
});

Deno.test("prepareState() makes a missing lock folder 0700, and narrows one of ours to 0700", async () => {
  using _ = umaskKept(0o022);
  await using dir = await tempDir();
  const missing = `${dir.path}/run/locks`;
  assert.equal(prepareState(config(`${dir.path}/state`, undefined, missing)), undefined);
  assert.equal(modeOf(missing), 0o700);
  const wide = `${dir.path}/wide`;
  Deno.mkdirSync(wide, { mode: 0o755 });
  Deno.chmodSync(wide, 0o755);
  assert.equal(prepareState(config(`${dir.path}/state`, undefined, wide)), undefined);
  assert.equal(modeOf(wide), 0o700, "a handler would refuse it otherwise");
});

Deno.test("isDiskFault() tells the disk failing (I/O, full, over quota, read-only) from a setting that is wrong", () => {
  for (const code of ["EIO", "ENOSPC", "EDQUOT", "EROFS"]) {
    assert.equal(isDiskFault(Object.assign(new Error(code), { code })), true, code);
  }
  for (const code of ["EACCES", "ENOTDIR", "ENOENT", undefined]) {
    assert.equal(isDiskFault(Object.assign(new Error("x"), { code })), false, String(code));
  }
  assert.equal(isDiskFault(undefined), false);
  assert.equal(isDiskFault("EROFS"), false, "a string is no error");
});

Deno.test({
  name:
    "prepareState() on a read-only disk: a 0700 state folder starts (the journal retries), one to make is a disk fault",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    using _ = umaskKept(0o022);
    await using dir = await tempDir();
    const mount = `${dir.path}/ro`;
    Deno.mkdirSync(mount);
    await run("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mount]);
    try {
      Deno.mkdirSync(`${mount}/state`, { mode: 0o700 });
      Deno.mkdirSync(`${mount}/work`, { mode: 0o700 });
      Deno.mkdirSync(`${mount}/locks`, { mode: 0o700 });
      await run("mount", ["-o", "remount,ro", mount]);
      const ready = config(`${mount}/state`, `${mount}/work`, `${mount}/locks`);
      assert.equal(prepareState(ready), undefined, "nothing to write: no chmod of a 0700 folder");
      const fault = prepareState(config(`${mount}/other`, `${mount}/work`, `${mount}/locks`));
      assert.match(
        fault?.line ?? "",
        /^Cannot create COORD_STATE_DIR ".*": .*Read-only file system/,
      );
      assert.equal(fault?.temporary, true, "exit 75, restarted later");
    } finally {
      await run("umount", [mount]);
    }
  },
});

async function run(command: string, args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command(command, { args, stderr: "piped" }).output();
  assert.equal(code, 0, `${command} ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
}

/** A state folder whose journal holds `unfinished`, with attachment folders named `folders`. */
async function stateWith(unfinished: number[], folders: string[]) {
  const dir = await tempDir();
  const journal = new Journal(`${dir.path}/journal`, { durable: false });
  journal.open();
  for (const updateId of unfinished) {
    journal.record({ update_id: updateId }, { updateId, chatId: 1 });
  }
  for (const name of folders) {
    Deno.mkdirSync(`${dir.path}/attachments/${name}`, { recursive: true });
    Deno.writeTextFileSync(`${dir.path}/attachments/${name}/photo.jpg`, "jpeg");
  }
  return {
    journal,
    config: config(dir.path),
    /** The attachment folders left, sorted. */
    left: () => [...Deno.readDirSync(`${dir.path}/attachments`)].map((e) => e.name).sort(),
    [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose](),
  };
}

Deno.test("tidyAttachments() removes the files of finished messages, keeps the unfinished ones', and says which", async () => {
  await using captured = await captureLog();
  await using s = await stateWith([4, 9], ["3", "4", "5", "9", "stray"]);
  tidyAttachments(s.config, { journal: s.journal, log });
  assert.deepEqual(s.left(), ["4", "9"]);
  assert.equal(captured.lines.length, 1, captured.lines.join(""));
  assert.match(captured.lines[0], /removed the attachments of 2 finished message\(s\): 3, 5/);
});

Deno.test("tidyAttachments() says nothing when there is nothing to tidy", async () => {
  await using captured = await captureLog();
  await using none = await stateWith([1], []);
  tidyAttachments(none.config, { journal: none.journal, log });
  await using kept = await stateWith([1], ["1"]);
  tidyAttachments(kept.config, { journal: kept.journal, log });
  assert.deepEqual(kept.left(), ["1"]);
  assert.deepEqual(captured.lines, []);
});

Deno.test("tidyAttachments() removes nothing when it can't read the journal, and says so", async () => {
  await using captured = await captureLog();
  await using s = await stateWith([4], ["3", "4"]);
  Deno.removeSync(s.journal.dir, { recursive: true });
  tidyAttachments(s.config, { journal: s.journal, log });
  assert.deepEqual(s.left(), ["3", "4"], "without the journal, no message is known finished");
  assert.equal(captured.lines.length, 1, captured.lines.join(""));
  assert.match(captured.lines[0], /cannot tidy the attachments folder: NotFound/);
});
