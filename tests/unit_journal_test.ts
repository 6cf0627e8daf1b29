import assert from "node:assert/strict";
import { Journal } from "../lib/shared/journal.ts";
import { parseEntry } from "../lib/shared/journal_entry.ts";
import { tempDir } from "./_helpers.ts";

const UPDATE = { update_id: 7, message: { message_id: 3, chat: { id: 42 }, date: 0, text: "hi" } };

async function withJournal(body: (journal: Journal, dir: string) => void | Promise<void>) {
  await using dir = await tempDir();
  const journal = new Journal(`${dir.path}/journal`, { now: () => Date.UTC(2026, 10, 24) });
  journal.open();
  await body(journal, journal.dir);
}

Deno.test("Journal records a message as received, once", async () => {
  await withJournal((journal) => {
    const entry = journal.record(UPDATE, { updateId: 7, chatId: 42 });
    assert.deepEqual(entry, {
      updateId: 7,
      chatId: 42,
      update: UPDATE,
      stage: "received",
      dispatches: 0,
      receivedAt: "2026-11-24T00:00:00.000Z",
    });
    assert.deepEqual(journal.read(7), entry);
    assert.equal(journal.record(UPDATE, { updateId: 7, chatId: 42 }), undefined, "a duplicate");
  });
});

Deno.test("Journal moves an entry through its stages and removes it when finished", async () => {
  await withJournal((journal) => {
    journal.record(UPDATE, { updateId: 7, chatId: 42 });
    assert.equal(journal.update(7, { stage: "acked" })?.stage, "acked");
    assert.deepEqual(
      { ...journal.update(7, { stage: "brain", attempt: 2, brainRun: "run-1" }) },
      { ...journal.read(7) },
    );
    assert.equal(journal.read(7)?.attempt, 2);
    assert.equal(journal.update(7, { stage: "replied" })?.stage, "replied");
    journal.finish(7);
    assert.equal(journal.read(7), undefined);
    assert.equal(journal.update(7, { stage: "acked" }), undefined, "nothing to update");
    journal.finish(7); // finishing twice is harmless
  });
});

Deno.test("Journal writes atomically: no temporary file is left and every entry parses", async () => {
  await withJournal((journal, dir) => {
    for (let id = 1; id <= 50; id++) {
      journal.record({ ...UPDATE, update_id: id }, { updateId: id, chatId: 42 });
      journal.update(id, { stage: "acked" });
    }
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.equal(names.length, 50);
    assert.ok(names.every((n) => /^\d+\.json$/.test(n)), names.join(" "));
    for (const name of names) {
      const id = Number(name.replace(".json", ""));
      assert.equal(parseEntry(Deno.readTextFileSync(`${dir}/${name}`), id).stage, "acked");
    }
  });
});

Deno.test("Journal.recover() returns unfinished entries in update_id order and removes answered ones", async () => {
  await withJournal((journal) => {
    for (const id of [30, 4, 17, 9]) {
      journal.record({ ...UPDATE, update_id: id }, { updateId: id, chatId: 1 });
    }
    journal.update(17, { stage: "replied" });
    journal.update(9, { stage: "brain", attempt: 1 });
    const { unfinished, removed, setAside } = journal.recover();
    assert.deepEqual(unfinished.map((e) => e.updateId), [4, 9, 30]);
    assert.deepEqual(removed, [17]);
    assert.deepEqual(setAside, []);
    assert.equal(journal.read(17), undefined);
  });
});

Deno.test("Journal.recover() sets corrupt entries aside, never dropping them, with the ids a cut one still shows", async (t) => {
  const cut = JSON.stringify({
    updateId: 5,
    chatId: -100123,
    update: { update_id: 5, message: { message_id: 42, chat: { id: -100123 }, text: "hi" } },
    stage: "received",
  });
  const cases: [string, string, Record<string, number>][] = [
    ["5.json", cut.slice(0, cut.indexOf('"text"')), { chatId: -100123, messageId: 42 }],
    ["5.json", '{"updateId": 5, "stage": ', {}],
    ["6.json", "[]", {}],
    [
      "7.json",
      JSON.stringify({ updateId: 8, chatId: 1, stage: "received", dispatches: 0, update: {} }),
      {},
    ],
    [
      "8.json",
      JSON.stringify({ updateId: 8, chatId: 1, stage: "thinking", dispatches: 0, update: {} }),
      {},
    ],
  ];
  for (const [name, text, ids] of cases) {
    await t.step(`${name}: ${text.slice(0, 30)}`, async () => {
      await withJournal((journal, dir) => {
        journal.record(UPDATE, { updateId: name === "7.json" ? 70 : 7, chatId: 42 });
        Deno.writeTextFileSync(`${dir}/${name}`, text);
        const { unfinished, setAside } = journal.recover();
        assert.equal(setAside.length, 1);
        const { path, ...rest } = setAside[0];
        assert.ok(path.startsWith(`${dir}/corrupt/`) && path.endsWith(name), path);
        assert.deepEqual(rest, { updateId: Number(name.split(".")[0]), ...ids });
        assert.equal(Deno.readTextFileSync(path), text, "kept as it was");
        assert.equal(unfinished.length, 1, "the good entry is still there");
      });
    });
  }
});

Deno.test("Journal.recover() removes what failed writes left (temporary files), and leaves other files alone", async () => {
  await withJournal((journal, dir) => {
    journal.record(UPDATE, { updateId: 7, chatId: 42 });
    Deno.writeTextFileSync(`${dir}/9.json.tmp-1234`, '{"half');
    Deno.writeTextFileSync(`${dir}/probe.tmp-99`, "");
    Deno.writeTextFileSync(`${dir}/notes.txt`, "hello");
    const { unfinished, setAside } = journal.recover();
    assert.deepEqual(setAside, [], "a temporary file is no corrupt entry");
    assert.deepEqual(unfinished.map((e) => e.updateId), [7]);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["7.json", "notes.txt"]);
  });
});

Deno.test("Journal.put() writes an entry whole, as its owner holds it, made again if it was gone", async () => {
  await withJournal((journal) => {
    const entry = journal.record(UPDATE, { updateId: 7, chatId: 42 })!;
    journal.put({ ...entry, stage: "started", dispatches: 1 });
    assert.deepEqual(journal.read(7), { ...entry, stage: "started", dispatches: 1 });
    journal.finish(7);
    journal.put(entry);
    assert.deepEqual(journal.read(7), entry);
  });
});

Deno.test("Journal.probe() leaves nothing behind, and throws when the folder can't be written", async () => {
  await withJournal((journal, dir) => {
    journal.probe();
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    Deno.removeSync(dir);
    assert.throws(() => journal.probe(), Deno.errors.NotFound);
    journal.open();
    journal.probe();
  });
});

Deno.test("Journal.read() throws SyntaxError for a corrupt entry rather than guessing", async () => {
  await withJournal((journal, dir) => {
    Deno.writeTextFileSync(`${dir}/3.json`, "not json");
    assert.throws(() => journal.read(3), SyntaxError);
  });
});

Deno.test("Journal keeps the getUpdates offset across instances", async () => {
  await withJournal((journal, dir) => {
    assert.equal(journal.readOffset(), 0);
    journal.writeOffset(1234);
    assert.equal(new Journal(dir).readOffset(), 1234);
    Deno.writeTextFileSync(`${dir}/offset`, "garbage");
    assert.equal(journal.readOffset(), 0);
    assert.deepEqual(journal.recover().setAside, [], "the offset file is not an entry");
  });
});
