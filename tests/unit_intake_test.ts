import assert from "node:assert/strict";
import type { ChildRecord } from "../lib/dispatch.ts";
import { Intake } from "../lib/intake.ts";
import { Journal } from "../lib/journal.ts";
import { tempDir } from "./_helpers.ts";

/** A dispatcher that records spawns instead of starting processes. */
class FakeDispatcher {
  free = 4;
  spawned: { updateId: number; chatId: number; payload: string }[] = [];
  failNext = false;

  spawn(payload: string, meta: { updateId: number; chatId: number }): ChildRecord {
    if (this.failNext) {
      this.failNext = false;
      throw new Error("spawn failed");
    }
    this.spawned.push({ ...meta, payload });
    this.free--;
    return { pid: 1000 + meta.updateId, ...meta, startedAt: 0 };
  }
}

class FakeTurns {
  tickets = new Set<string>();
  enqueue(chatId: number, updateId: number) {
    this.tickets.add(`${chatId}/${updateId}`);
  }
  withdraw(chatId: number, updateId: number) {
    this.tickets.delete(`${chatId}/${updateId}`);
  }
}

function message(updateId: number, chatId = 42, fromId = 42) {
  return {
    update_id: updateId,
    message: {
      message_id: updateId,
      chat: { id: chatId },
      from: { id: fromId },
      date: 0,
      text: "x",
    },
  };
}

async function setup(poisonLimit = 3) {
  const dir = await tempDir();
  const journal = new Journal(`${dir.path}/journal`, { durable: false });
  journal.open();
  const dispatcher = new FakeDispatcher();
  const turns = new FakeTurns();
  const intake = new Intake({ journal, turns, dispatcher, authorized: new Set([42]), poisonLimit });
  return { dir, journal, dispatcher, turns, intake };
}

function exited(updateId: number, chatId = 42, code = 1): ChildRecord {
  return {
    pid: 1000 + updateId,
    updateId,
    chatId,
    startedAt: 0,
    status: { success: code === 0, code, signal: null },
  };
}

Deno.test("Intake journals a batch, then hands it on in order within the free slots", async () => {
  const { dir, journal, dispatcher, turns, intake } = await setup();
  await using _ = dir;
  for (const id of [1, 2, 3, 4, 5, 6]) intake.route(message(id));
  assert.deepEqual(journal.recover().unfinished.map((e) => e.updateId), [1, 2, 3, 4, 5, 6]);
  assert.equal(dispatcher.spawned.length, 0, "nothing is handed on before the batch is journaled");
  assert.equal(intake.size, 6);
  intake.drain();
  assert.deepEqual(dispatcher.spawned.map((s) => s.updateId), [1, 2, 3, 4]);
  assert.equal(intake.size, 2, "two wait for a slot");
  assert.deepEqual([...turns.tickets], ["42/1", "42/2", "42/3", "42/4"]);
  assert.deepEqual(JSON.parse(dispatcher.spawned[0].payload), message(1));
  assert.equal(journal.read(1)?.dispatches, 1, "recorded as dispatched in the same write");
  assert.equal(journal.read(5)?.dispatches, 0);
  dispatcher.free = 1;
  intake.drain();
  assert.deepEqual(dispatcher.spawned.map((s) => s.updateId), [1, 2, 3, 4, 5]);
  assert.equal(journal.read(5)?.dispatches, 1);
  assert.equal(intake.size, 1);
});

Deno.test("Intake ignores unauthorized senders, other updates and duplicates", async () => {
  const { dir, journal, dispatcher, intake } = await setup();
  await using _ = dir;
  intake.route(message(1, 666, 666));
  intake.route({ update_id: 2, edited_message: {} });
  intake.route("garbage");
  intake.route(message(3));
  intake.route(message(3));
  intake.drain();
  assert.deepEqual(dispatcher.spawned.map((s) => s.updateId), [3], "handed on once");
  assert.equal(intake.size, 0);
  assert.deepEqual(journal.recover().unfinished.map((e) => e.updateId), [3]);
});

Deno.test("Intake journals and dispatches an edit without a turn ticket, like a command", async () => {
  const { dir, journal, dispatcher, turns, intake } = await setup();
  await using _ = dir;
  intake.route(message(1));
  intake.route({ update_id: 2, edited_message: { ...message(1).message, edit_date: 1 } });
  intake.drain();
  assert.deepEqual(dispatcher.spawned.map((s) => s.updateId), [1, 2]);
  assert.deepEqual([...turns.tickets], ["42/1"]);
  assert.equal(journal.read(2)?.stage, "received");
});

Deno.test("Intake.recover() queues an earlier run's messages ahead of new ones, marking cut-off brains", async () => {
  const { dir, journal, dispatcher, intake } = await setup();
  await using _ = dir;
  journal.record(message(5), { updateId: 5, chatId: 42 });
  journal.record(message(3), { updateId: 3, chatId: 42 });
  journal.update(3, { stage: "brain", attempt: 1 });
  journal.record(message(4), { updateId: 4, chatId: 42 });
  journal.update(4, { stage: "replied" });
  intake.recover();
  intake.route(message(9));
  intake.drain();
  assert.deepEqual(dispatcher.spawned.map((s) => s.updateId), [3, 5, 9]);
  assert.equal(journal.read(3)?.rerun, true);
  assert.equal(journal.read(5)?.rerun, undefined);
  assert.equal(journal.read(4), undefined, "answered before the restart: removed, not re-run");
});

Deno.test("Intake requeues a message whose handler ended without a final reply", async (t) => {
  await t.step(
    "a crash during the brain: queued again, as a re-run, and the loop is told",
    async () => {
      const { dir, journal, turns, intake } = await setup();
      await using _ = dir;
      let told = 0;
      intake.onArrival(() => told++);
      intake.route(message(1));
      intake.drain();
      journal.update(1, { stage: "brain", attempt: 1 });
      intake.handlerExited(exited(1));
      assert.equal(intake.size, 1);
      assert.equal(told, 1);
      assert.equal(journal.read(1)?.rerun, true);
      assert.equal(turns.tickets.size, 0, "its ticket is withdrawn at once");
    },
  );
  await t.step("a handler that finished: nothing to do", async () => {
    const { dir, journal, intake } = await setup();
    await using _ = dir;
    intake.route(message(1));
    intake.drain();
    journal.finish(1);
    intake.handlerExited(exited(1, 42, 0));
    assert.equal(intake.size, 0);
  });
  await t.step("a handler that replied but died before removing the entry: removed", async () => {
    const { dir, journal, intake } = await setup();
    await using _ = dir;
    intake.route(message(1));
    intake.drain();
    journal.update(1, { stage: "replied" });
    intake.handlerExited(exited(1));
    assert.equal(intake.size, 0);
    assert.equal(journal.read(1), undefined);
  });
  await t.step("while stopping: left in the journal for the next start", async () => {
    const { dir, journal, intake } = await setup();
    await using _ = dir;
    intake.route(message(1));
    intake.drain();
    intake.stop();
    intake.handlerExited(exited(1, 42, 143));
    assert.equal(intake.size, 0);
    assert.equal(journal.read(1)?.stage, "received");
  });
});

Deno.test("Intake gives up on a message once the poison limit of handlers ended without a reply", async () => {
  const { dir, journal, dispatcher, intake } = await setup(2);
  await using _ = dir;
  intake.route(message(1));
  intake.drain();
  for (let run = 1; run <= 3; run++) {
    if (run > 1) {
      intake.handlerExited(exited(1));
      dispatcher.free = 4;
      intake.drain();
    }
    assert.equal(journal.read(1)?.dispatches, run);
    assert.equal(Boolean(journal.read(1)?.giveUp), run === 3, `run ${run}`);
  }
  assert.equal(dispatcher.spawned.length, 3, "the third handler only says it gives up");
});

Deno.test("Intake logs a dispatch crash, withdraws the ticket and goes on", async () => {
  const { dir, dispatcher, turns, intake } = await setup();
  await using _ = dir;
  dispatcher.failNext = true;
  intake.route(message(1));
  intake.route(message(2));
  intake.drain();
  assert.deepEqual(dispatcher.spawned.map((s) => s.updateId), [2]);
  assert.deepEqual([...turns.tickets], ["42/2"]);
});
