/**
 * Unit tests for `lib/turn.ts`: tickets, turn order and the per-chat lock, in real temp folders,
 * within this process and across real processes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { lockPath, queuePath, takeTurn, ticketsAhead, TurnQueue } from "../lib/turn.ts";
import { isAlive, tempDir, waitUntil, withDeadline } from "./_helpers.ts";

const CHAT = 4242;
const TURN_MODULE = new URL("../lib/turn.ts", import.meta.url).href;

/** Tells whether `promise` has settled yet (after letting pending callbacks run). */
function settledFlag(promise: Promise<unknown>): () => boolean {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  return () => settled;
}

/** Tells whether the chat's flock is free, by trying to take it without blocking. */
async function lockIsFree(lockDir: string): Promise<boolean> {
  using file = await Deno.open(lockPath(lockDir, CHAT), { read: true, write: true });
  const free = await file.tryLock(true);
  if (free) await file.unlock();
  return free;
}

function ticketNames(lockDir: string): string[] {
  try {
    return [...Deno.readDirSync(queuePath(lockDir, CHAT))].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

Deno.test("TurnQueue enqueues and withdraws tickets", async () => {
  await using dir = await tempDir();
  const queue = new TurnQueue(dir.path);
  queue.enqueue(CHAT, 12);
  queue.enqueue(CHAT, 13);
  assert.deepEqual(ticketNames(dir.path), ["12", "13"]);
  assert.equal(Deno.statSync(`${queuePath(dir.path, CHAT)}/12`).size, 0);

  queue.withdraw(CHAT, 12);
  assert.deepEqual(ticketNames(dir.path), ["13"]);
  queue.withdraw(CHAT, 12); // already gone: not an error
  queue.withdraw(999, 1); // no queue at all: not an error
  assert.deepEqual(ticketNames(dir.path), ["13"]);
});

Deno.test("TurnQueue.enqueue() throws when the lock folder is missing or not a folder", async () => {
  await using dir = await tempDir();
  const missing = `${dir.path}/missing`;
  assert.throws(() => new TurnQueue(missing).enqueue(CHAT, 1), Deno.errors.NotFound);
  assert.throws(() => Deno.statSync(missing), Deno.errors.NotFound, "the lock folder is not made");

  const file = `${dir.path}/not-a-folder`;
  Deno.writeTextFileSync(file, "");
  assert.throws(() => new TurnQueue(file).enqueue(CHAT, 1));
});

Deno.test("TurnQueue.clearStale() removes every queue and nothing else", async (t) => {
  await t.step("with queues of several chats", async () => {
    await using dir = await tempDir();
    const queue = new TurnQueue(dir.path);
    queue.enqueue(1, 10);
    queue.enqueue(1, 11);
    queue.enqueue(-100200, 12);
    Deno.writeTextFileSync(lockPath(dir.path, 1), "");
    Deno.mkdirSync(`${dir.path}/someone-else.queue`);
    Deno.mkdirSync(`${dir.path}/forge-coordinator-chat-x.other`);

    assert.equal(queue.clearStale(), 3);
    const left = [...Deno.readDirSync(dir.path)].map((e) => e.name).sort();
    assert.deepEqual(left, [
      "forge-coordinator-chat-1.lock",
      "forge-coordinator-chat-x.other",
      "someone-else.queue",
    ]);
    assert.equal(queue.clearStale(), 0);
  });

  await t.step("when the lock folder doesn't exist", async () => {
    await using dir = await tempDir();
    assert.equal(new TurnQueue(`${dir.path}/missing`).clearStale(), 0);
  });
});

Deno.test("ticketsAhead() counts only the tickets of earlier messages", async () => {
  await using dir = await tempDir();
  const queue = queuePath(dir.path, CHAT);
  assert.equal(await ticketsAhead(queue, 10), 0, "no queue folder yet");
  Deno.mkdirSync(queue);
  for (const name of ["3", "7", "10", "11", "notes", ".tmp"]) {
    Deno.writeTextFileSync(`${queue}/${name}`, "");
  }
  Deno.mkdirSync(`${queue}/5`); // a folder is no ticket
  assert.equal(await ticketsAhead(queue, 10), 2);
  assert.equal(await ticketsAhead(queue, 3), 0);
  assert.equal(await ticketsAhead(queue, 100), 4);
});

Deno.test("takeTurn() gives the turn at once when no earlier ticket exists", async () => {
  await using dir = await tempDir();
  new TurnQueue(dir.path).enqueue(CHAT, 5);
  new TurnQueue(dir.path).enqueue(CHAT, 6); // a later message doesn't hold us up
  let waited = false;
  await using turn = await withDeadline(
    takeTurn({ lockDir: dir.path, chatId: CHAT, updateId: 5, onWait: () => waited = true }),
    "the turn",
  );
  assert.equal(turn.locked, true);
  assert.equal(waited, false);
  assert.ok(turn.waitedMs >= 0);
  assert.equal(await lockIsFree(dir.path), false, "the flock is held during the turn");
});

Deno.test("takeTurn() waits while an earlier ticket exists and goes once it is withdrawn", async () => {
  await using dir = await tempDir();
  const queue = new TurnQueue(dir.path);
  queue.enqueue(CHAT, 1);
  queue.enqueue(CHAT, 2);
  queue.enqueue(CHAT, 3);
  const { promise: waiting, resolve } = Promise.withResolvers<number>();
  const pending = takeTurn({ lockDir: dir.path, chatId: CHAT, updateId: 3, onWait: resolve });
  const settled = settledFlag(pending);

  assert.equal(await withDeadline(waiting, "onWait"), 2);
  queue.withdraw(CHAT, 1);
  assert.equal(settled(), false, "one earlier ticket is still there");
  queue.withdraw(CHAT, 2);

  await using turn = await withDeadline(pending, "the turn");
  assert.equal(turn.locked, true);
});

Deno.test("Turn.release() removes the ticket and frees the lock", async (t) => {
  await t.step("called directly, and again without harm", async () => {
    await using dir = await tempDir();
    new TurnQueue(dir.path).enqueue(CHAT, 8);
    const turn = await takeTurn({ lockDir: dir.path, chatId: CHAT, updateId: 8 });
    assert.equal(await lockIsFree(dir.path), false);
    turn.release();
    turn.release();
    assert.deepEqual(ticketNames(dir.path), []);
    assert.equal(await lockIsFree(dir.path), true);
  });

  await t.step("through await using", async () => {
    await using dir = await tempDir();
    new TurnQueue(dir.path).enqueue(CHAT, 8);
    {
      await using _turn = await takeTurn({ lockDir: dir.path, chatId: CHAT, updateId: 8 });
      assert.equal(await lockIsFree(dir.path), false);
    }
    assert.deepEqual(ticketNames(dir.path), []);
    assert.equal(await lockIsFree(dir.path), true);
  });
});

Deno.test("takeTurn() gives the next message its turn after release()", async () => {
  await using dir = await tempDir();
  const queue = new TurnQueue(dir.path);
  queue.enqueue(CHAT, 1);
  queue.enqueue(CHAT, 2);
  const first = await takeTurn({ lockDir: dir.path, chatId: CHAT, updateId: 1 });
  const { promise: waiting, resolve } = Promise.withResolvers<number>();
  const second = takeTurn({ lockDir: dir.path, chatId: CHAT, updateId: 2, onWait: resolve });
  await withDeadline(waiting, "the second message to wait");
  first.release();
  await using turn = await withDeadline(second, "the second turn");
  assert.equal(turn.locked, true);
});

Deno.test("takeTurn() rejects with the signal's reason when aborted while waiting", async () => {
  await using dir = await tempDir();
  const queue = new TurnQueue(dir.path);
  queue.enqueue(CHAT, 1);
  queue.enqueue(CHAT, 2);
  const controller = new AbortController();
  const { promise: waiting, resolve } = Promise.withResolvers<number>();
  const pending = takeTurn({
    lockDir: dir.path,
    chatId: CHAT,
    updateId: 2,
    signal: controller.signal,
    pollMs: 60_000,
    onWait: resolve,
  });
  await withDeadline(waiting, "onWait");
  const reason = new Error("stop");
  controller.abort(reason);
  await assert.rejects(withDeadline(pending, "the rejection", 2000), (error) => error === reason);
  assert.equal(await lockIsFree(dir.path), true, "the lock file is closed again");
});

Deno.test({
  name: "takeTurn() rejects when aborted while another process holds the lock",
  async fn() {
    await using dir = await tempDir();
    const holder = await Deno.open(lockPath(dir.path, CHAT), {
      read: true,
      write: true,
      create: true,
    });
    await holder.lock(true);
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    const pending = takeTurn({
      lockDir: dir.path,
      chatId: CHAT,
      updateId: 1,
      signal: controller.signal,
    });
    try {
      await assert.rejects(withDeadline(pending, "the rejection", 2000), /stop/);
    } finally {
      holder.close();
      await pending.then((turn) => turn.release(), () => {});
    }
  },
});

Deno.test("takeTurn() returns an unlocked turn when the lock folder is missing", async () => {
  await using dir = await tempDir();
  const errors: unknown[] = [];
  const turn = await takeTurn({
    lockDir: `${dir.path}/missing`,
    chatId: CHAT,
    updateId: 1,
    onUnlocked: (error) => errors.push(error),
  });
  assert.equal(turn.locked, false);
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof Deno.errors.NotFound);
  turn.release();
  await turn[Symbol.asyncDispose]();
});

Deno.test("takeTurn() gives ten waiting messages their turns in update order", async () => {
  await using dir = await tempDir();
  const queue = new TurnQueue(dir.path);
  const ids = Array.from({ length: 10 }, (_, i) => i + 1);
  for (const id of ids) queue.enqueue(CHAT, id);
  const shuffled = [7, 3, 10, 1, 9, 5, 2, 8, 6, 4];
  assert.deepEqual([...shuffled].sort((a, b) => a - b), ids);

  const order: number[] = [];
  const runs = shuffled.map(async (id) => {
    const turn = await takeTurn({ lockDir: dir.path, chatId: CHAT, updateId: id, pollMs: 5 });
    order.push(id);
    turn.release();
  });
  await withDeadline(Promise.all(runs), "all ten turns");
  assert.deepEqual(order, ids);
  assert.deepEqual(ticketNames(dir.path), []);
});

/** The script a turn-taking subprocess runs: `<lock dir> <chat> <update id> <out file> [hold]`. */
const CHILD_SCRIPT = `
import { takeTurn } from ${JSON.stringify(TURN_MODULE)};
const [lockDir, chat, id, out, mode] = Deno.args;
const turn = await takeTurn({
  lockDir,
  chatId: Number(chat),
  updateId: Number(id),
  pollMs: 10,
  onWait: () => Deno.writeTextFileSync(out + ".waiting." + id, ""),
});
if (mode === "hold") {
  Deno.writeTextFileSync(out + ".holding." + id, "");
  setInterval(() => {}, 60_000);
} else {
  Deno.writeTextFileSync(out, id + "\\n", { append: true });
  turn.release();
}
`;

/** A subprocess taking its turn; killed and awaited on dispose. */
interface TurnProcess extends AsyncDisposable {
  readonly process: Deno.ChildProcess;
}

function startTurnProcess(script: string, args: string[]): TurnProcess {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", "--quiet", "--allow-read", "--allow-write", script, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  return {
    process,
    async [Symbol.asyncDispose]() {
      try {
        process.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await process.status;
    },
  };
}

function exists(path: string): true | undefined {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return undefined;
  }
}

Deno.test("takeTurn() keeps update order across processes started in reverse", async () => {
  await using dir = await tempDir();
  const script = `${dir.path}/child.ts`;
  const out = `${dir.path}/order.txt`;
  const lockDir = `${dir.path}/lock`;
  Deno.mkdirSync(lockDir);
  Deno.writeTextFileSync(script, CHILD_SCRIPT);
  const queue = new TurnQueue(lockDir);
  for (const id of [1, 2, 3, 4, 5]) queue.enqueue(CHAT, id);

  const children: TurnProcess[] = [];
  try {
    // Each later message is surely waiting before the next earlier one starts.
    for (const id of [5, 4, 3, 2]) {
      children.push(startTurnProcess(script, [lockDir, String(CHAT), String(id), out]));
      await waitUntil(() => exists(`${out}.waiting.${id}`), {
        description: `process ${id} waiting`,
      });
    }
    children.push(startTurnProcess(script, [lockDir, String(CHAT), "1", out]));
    const statuses = await withDeadline(
      Promise.all(children.map((c) => c.process.status)),
      "all five processes",
      30_000,
    );
    assert.ok(statuses.every((s) => s.success));
    assert.equal(Deno.readTextFileSync(out), "1\n2\n3\n4\n5\n");
  } finally {
    for (const child of children) await child[Symbol.asyncDispose]();
  }
});

Deno.test("takeTurn() is not blocked by a killed predecessor once its ticket is withdrawn", async () => {
  await using dir = await tempDir();
  const script = `${dir.path}/child.ts`;
  const out = `${dir.path}/out`;
  Deno.writeTextFileSync(script, CHILD_SCRIPT);
  const queue = new TurnQueue(dir.path);
  queue.enqueue(CHAT, 1);
  queue.enqueue(CHAT, 2);

  await using holder = startTurnProcess(script, [dir.path, String(CHAT), "1", out, "hold"]);
  await waitUntil(() => exists(`${out}.holding.1`), { description: "process 1 holding its turn" });
  assert.equal(await lockIsFree(dir.path), false, "the predecessor holds the flock");

  const { promise: waiting, resolve } = Promise.withResolvers<number>();
  const next = takeTurn({
    lockDir: dir.path,
    chatId: CHAT,
    updateId: 2,
    pollMs: 10,
    onWait: resolve,
  });
  await withDeadline(waiting, "message 2 to wait");

  holder.process.kill("SIGKILL");
  const status = await holder.process.status;
  assert.equal(status.signal, "SIGKILL");
  assert.equal(isAlive(holder.process.pid), false);
  queue.withdraw(CHAT, 1); // what the poll loop does when a handler exits

  await using turn = await withDeadline(next, "message 2's turn");
  assert.equal(turn.locked, true);
});
