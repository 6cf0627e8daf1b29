/**
 * Unit tests for `lib/handler/chat_lock.ts`: the per-chat brain lock, in real temp folders, within this
 * process and against a real second process.
 *
 * @module
 */

import assert from "node:assert/strict";
import { lockPath, LockRefusedError, takeChatLock } from "../lib/handler/chat_lock.ts";
import { tempDir, withDeadline } from "./_helpers.ts";

const CHAT = 4242;

/** Tells whether the chat's flock is free, by trying to take it without blocking. */
async function lockIsFree(lockDir: string): Promise<boolean> {
  using file = await Deno.open(lockPath(lockDir, CHAT), { read: true, write: true });
  const free = await file.tryLock(true);
  if (free) await file.unlock();
  return free;
}

/** Tells whether `promise` has settled yet (after letting pending callbacks run). */
function settledFlag(promise: Promise<unknown>): () => boolean {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  return () => settled;
}

Deno.test("lockPath() names one file per chat in the lock folder", () => {
  assert.equal(lockPath("/run/locks", 7), "/run/locks/forge-coordinator-chat-7.lock");
  assert.equal(lockPath("/run/locks", -100123), "/run/locks/forge-coordinator-chat--100123.lock");
});

Deno.test("takeChatLock() takes a free lock at once, creating the file with mode 0600", async () => {
  await using dir = await tempDir();
  let waited = false;
  await using _lock = await withDeadline(
    takeChatLock({ lockDir: dir.path, chatId: CHAT, onWait: () => waited = true }),
    "the lock",
  );
  assert.equal(waited, false);
  assert.equal(Deno.statSync(lockPath(dir.path, CHAT)).mode! & 0o777, 0o600);
  assert.equal(await lockIsFree(dir.path), false, "the flock is held");
});

Deno.test("takeChatLock() excludes a second holder until the first releases", async () => {
  await using dir = await tempDir();
  const first = await takeChatLock({ lockDir: dir.path, chatId: CHAT });
  const { promise: waiting, resolve } = Promise.withResolvers<void>();
  let told = 0;
  const second = takeChatLock({
    lockDir: dir.path,
    chatId: CHAT,
    pollMs: 5,
    onWait: () => {
      told++;
      resolve();
    },
  });
  const settled = settledFlag(second);
  await withDeadline(waiting, "the second holder to wait");
  // Not a synchronisation: several 5 ms retries go by while the first still holds it.
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(settled(), false, "the second holder still waits");
  first.release();
  await using lock = await withDeadline(second, "the second holder's lock");
  // waitedMs is what it says: the 50 ms above are in it.
  assert.ok(lock.waitedMs >= 45, `waited ${lock.waitedMs} ms`);
  assert.equal(told, 1, "onWait is told once, however long the wait");
  assert.equal(await lockIsFree(dir.path), false);
});

Deno.test("takeChatLock() waits while another process holds the lock", async () => {
  await using dir = await tempDir();
  const path = lockPath(dir.path, CHAT);
  // A real second process: takes the flock, says so, and holds it until its stdin ends.
  const script = `
    const file = await Deno.open(${
    JSON.stringify(path)
  }, { read: true, write: true, create: true });
    await file.lock(true);
    console.log("locked");
    for await (const _ of Deno.stdin.readable) { /* hold it */ }
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = child.stdin.getWriter();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const { value } = await withDeadline(reader.read(), "the other process to lock", 30_000);
    assert.match(value ?? "", /locked/);
    reader.releaseLock();
    const { promise: waiting, resolve } = Promise.withResolvers<void>();
    const pending = takeChatLock({ lockDir: dir.path, chatId: CHAT, pollMs: 5, onWait: resolve });
    const settled = settledFlag(pending);
    await withDeadline(waiting, "onWait");
    assert.equal(settled(), false);
    await stdin.close();
    await withDeadline(child.status, "the other process to exit");
    await using _lock = await withDeadline(pending, "the lock after the other process left");
  } finally {
    await stdin.close().catch(() => {});
    try {
      child.kill("SIGKILL");
    } catch {
      // exited already
    }
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
});

Deno.test("takeChatLock() rejects with the signal's reason when aborted while waiting", async (t) => {
  await t.step("aborted during the wait", async () => {
    await using dir = await tempDir();
    const first = await takeChatLock({ lockDir: dir.path, chatId: CHAT });
    const controller = new AbortController();
    const { promise: waiting, resolve } = Promise.withResolvers<void>();
    const pending = takeChatLock({
      lockDir: dir.path,
      chatId: CHAT,
      signal: controller.signal,
      pollMs: 60_000,
      onWait: resolve,
    });
    await withDeadline(waiting, "onWait");
    const reason = new Error("stop");
    controller.abort(reason);
    await assert.rejects(withDeadline(pending, "the rejection", 2000), (error) => error === reason);
    first.release();
    assert.equal(await lockIsFree(dir.path), true, "the waiter's file is closed again");
  });

  await t.step("aborted before it starts, while another holds it", async () => {
    await using dir = await tempDir();
    const first = await takeChatLock({ lockDir: dir.path, chatId: CHAT });
    const reason = new Error("stopped already");
    const pending = takeChatLock({
      lockDir: dir.path,
      chatId: CHAT,
      signal: AbortSignal.abort(reason),
    });
    try {
      await assert.rejects(
        withDeadline(pending, "the rejection", 2000),
        (error) => error === reason,
      );
    } finally {
      first.release();
      await pending.then((lock) => lock.release(), () => {});
    }
  });
});

Deno.test("takeChatLock() makes a lock folder that is gone again, 0700", async () => {
  await using dir = await tempDir();
  const lockDir = `${dir.path}/gone/again`;
  await using _lock = await takeChatLock({ lockDir, chatId: CHAT });
  assert.equal(Deno.statSync(lockDir).mode! & 0o777, 0o700);
  assert.equal(await lockIsFree(lockDir), false, "the flock is held");
});

Deno.test("takeChatLock() refuses a lock folder that is not ours and private, at once", async (t) => {
  const refusedWith = async (lockDir: string, reason: RegExp, uid?: number) => {
    const error = await withDeadline(
      takeChatLock({ lockDir, chatId: CHAT, uid }).then(() => undefined, (e) => e),
      "the refusal",
    );
    assert.ok(error instanceof LockRefusedError, String(error));
    assert.match(error.message, reason);
  };
  await t.step("open to all (0777)", async () => {
    await using dir = await tempDir();
    Deno.chmodSync(dir.path, 0o777);
    await refusedWith(dir.path, /has mode 0777: other users can get in \(it must be 0700\)/);
    assert.throws(() => Deno.lstatSync(lockPath(dir.path, CHAT)), Deno.errors.NotFound);
  });
  await t.step("readable by the group (0750)", async () => {
    await using dir = await tempDir();
    Deno.chmodSync(dir.path, 0o750);
    await refusedWith(dir.path, /has mode 0750/);
  });
  await t.step("another user's", async () => {
    await using dir = await tempDir();
    const someoneElse = Deno.uid()! + 1;
    await refusedWith(
      dir.path,
      new RegExp(`belongs to user ${Deno.uid()}, not to us \\(${someoneElse}\\)`),
      someoneElse,
    );
  });
  await t.step("a symbolic link to a folder of ours", async () => {
    await using dir = await tempDir();
    Deno.mkdirSync(`${dir.path}/real`, { mode: 0o700 });
    Deno.symlinkSync(`${dir.path}/real`, `${dir.path}/link`);
    await refusedWith(`${dir.path}/link`, /is a symbolic link/);
  });
  await t.step("a file where the folder should be", async () => {
    await using dir = await tempDir();
    Deno.writeTextFileSync(`${dir.path}/not-a-folder`, "");
    await refusedWith(`${dir.path}/not-a-folder`, /is not a folder/);
  });
  await t.step("a lock file that is a folder", async () => {
    await using dir = await tempDir();
    Deno.mkdirSync(lockPath(dir.path, CHAT));
    await refusedWith(dir.path, /is not a regular file|cannot open the lock file/);
  });
});

Deno.test("takeChatLock() never follows a lock file that is a symbolic link", async (t) => {
  for (const target of ["an existing file", "a missing file"]) {
    await t.step(`pointing at ${target}`, async () => {
      await using dir = await tempDir();
      const victim = `${dir.path}/victim`;
      if (target === "an existing file") Deno.writeTextFileSync(victim, "keep me");
      Deno.symlinkSync(victim, lockPath(dir.path, CHAT));
      const error = await takeChatLock({ lockDir: dir.path, chatId: CHAT }).then(
        () => undefined,
        (e) => e,
      );
      assert.ok(error instanceof LockRefusedError, String(error));
      assert.match(error.message, /symbolic link/);
      if (target === "an existing file") {
        assert.equal(Deno.readTextFileSync(victim), "keep me", "the target is not truncated");
        assert.equal(await lockIsFreeAt(victim), true, "the target is not locked");
      } else {
        assert.throws(() => Deno.lstatSync(victim), Deno.errors.NotFound, "nothing is created");
      }
      assert.equal(Deno.lstatSync(lockPath(dir.path, CHAT)).isSymlink, true, "the link stays");
    });
  }
});

async function lockIsFreeAt(path: string): Promise<boolean> {
  using file = await Deno.open(path, { read: true, write: true });
  const free = await file.tryLock(true);
  if (free) await file.unlock();
  return free;
}

Deno.test("takeChatLock() reuses an existing lock file without truncating it", async () => {
  await using dir = await tempDir();
  Deno.writeTextFileSync(lockPath(dir.path, CHAT), "left by an earlier run");
  await using _lock = await takeChatLock({ lockDir: dir.path, chatId: CHAT });
  assert.equal(Deno.readTextFileSync(lockPath(dir.path, CHAT)), "left by an earlier run");
});

Deno.test("ChatLock.release() frees the lock and is idempotent", async (t) => {
  await t.step("called directly, and again without harm", async () => {
    await using dir = await tempDir();
    const lock = await takeChatLock({ lockDir: dir.path, chatId: CHAT });
    assert.equal(await lockIsFree(dir.path), false);
    lock.release();
    assert.equal(await lockIsFree(dir.path), true);
    // A second holder takes it; a second release of the first must not disturb it.
    await using _next = await takeChatLock({ lockDir: dir.path, chatId: CHAT });
    lock.release();
    await lock[Symbol.asyncDispose]();
    assert.equal(await lockIsFree(dir.path), false, "the second holder still holds it");
  });

  await t.step("through await using", async () => {
    await using dir = await tempDir();
    {
      await using _lock = await takeChatLock({ lockDir: dir.path, chatId: CHAT });
      assert.equal(await lockIsFree(dir.path), false);
    }
    assert.equal(await lockIsFree(dir.path), true);
  });
});
