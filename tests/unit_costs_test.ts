/**
 * Unit tests for `lib/handler/costs.ts`: the day's file (`costs/<YYYY-MM-DD>.jsonl`, UTC), the
 * totals per chat and overall (bad lines skipped), and the footer under an answer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { costFooter, costsToday, dollars, recordCost } from "../lib/handler/costs.ts";
import { tempDir } from "./_helpers.ts";

const LATE = Date.parse("2025-03-01T23:59:59.000Z");
const NEXT_DAY = Date.parse("2025-03-02T00:00:01.000Z");

Deno.test("recordCost() appends one line per answer to the file of its UTC day", async () => {
  await using dir = await tempDir();
  recordCost(dir.path, { chatId: 7, usd: 0.25, now: LATE });
  recordCost(dir.path, { chatId: 8, usd: 0.5, now: LATE });
  recordCost(dir.path, { chatId: 7, usd: 1, now: NEXT_DAY });
  const lines = (day: string) =>
    Deno.readTextFileSync(`${dir.path}/costs/${day}.jsonl`).split("\n").filter((l) => l !== "")
      .map((l) => JSON.parse(l));
  assert.deepEqual(lines("2025-03-01"), [
    { at: "2025-03-01T23:59:59.000Z", chatId: 7, usd: 0.25 },
    { at: "2025-03-01T23:59:59.000Z", chatId: 8, usd: 0.5 },
  ]);
  assert.deepEqual(lines("2025-03-02"), [{ at: "2025-03-02T00:00:01.000Z", chatId: 7, usd: 1 }]);
});

Deno.test("recordCost() records nothing for a cost that is not positive", async (t) => {
  for (const usd of [0, -1, Number.NaN]) {
    await t.step(String(usd), async () => {
      await using dir = await tempDir();
      recordCost(dir.path, { chatId: 7, usd, now: LATE });
      assert.throws(() => Deno.statSync(`${dir.path}/costs`), Deno.errors.NotFound);
    });
  }
});

Deno.test("recordCost() never throws when the file can't be written", async () => {
  await using dir = await tempDir();
  const notAFolder = `${dir.path}/file`;
  Deno.writeTextFileSync(notAFolder, "");
  recordCost(notAFolder, { chatId: 7, usd: 0.25, now: LATE });
});

Deno.test("costsToday() totals the day per chat and overall, and only that day", async () => {
  await using dir = await tempDir();
  recordCost(dir.path, { chatId: 7, usd: 0.25, now: LATE });
  recordCost(dir.path, { chatId: 8, usd: 0.5, now: LATE });
  recordCost(dir.path, { chatId: 7, usd: 0.125, now: LATE });
  recordCost(dir.path, { chatId: 7, usd: 4, now: NEXT_DAY });
  const today = costsToday(dir.path, LATE);
  assert.deepEqual([...today.byChat], [[7, 0.375], [8, 0.5]]);
  assert.equal(today.total, 0.875);
  const next = costsToday(dir.path, NEXT_DAY);
  assert.deepEqual([...next.byChat], [[7, 4]]);
  assert.equal(next.total, 4);
});

Deno.test("costsToday() skips lines it can't use", async () => {
  await using dir = await tempDir();
  Deno.mkdirSync(`${dir.path}/costs`);
  const bad = [
    "",
    "not json",
    '{"chatId":7,"usd":0.5', // half-written: the writer was killed mid-line
    '{"chatId":"7","usd":0.5}',
    '{"chatId":7,"usd":"0.5"}',
    '{"chatId":7,"usd":-2}',
    '{"chatId":7,"usd":0}',
    '{"chatId":7}',
    "null",
  ];
  const good = '{"at":"2025-03-01T10:00:00.000Z","chatId":7,"usd":0.25}';
  Deno.writeTextFileSync(`${dir.path}/costs/2025-03-01.jsonl`, [good, ...bad, good].join("\n"));
  const today = costsToday(dir.path, LATE);
  assert.deepEqual([...today.byChat], [[7, 0.5]]);
  assert.equal(today.total, 0.5);
});

Deno.test("costsToday() is empty, not an error, on a day without answers", async () => {
  await using dir = await tempDir();
  const today = costsToday(dir.path, LATE);
  assert.equal(today.byChat.size, 0);
  assert.equal(today.total, 0);
});

Deno.test("costFooter() says what is known, in order: cost, time, turns", async (t) => {
  await t.step("everything", () => {
    assert.equal(
      costFooter({ costUsd: 0.0123, durationMs: 41_600, turns: 3 }),
      "— $0.0123 · 42 s · 3 turns",
    );
  });
  await t.step("one turn", () => assert.equal(costFooter({ turns: 1 }), "— 1 turn"));
  await t.step("a part", () => {
    assert.equal(costFooter({ durationMs: 400 }), "— 0 s");
    assert.equal(costFooter({ costUsd: 2.5, turns: 0 }), "— $2.50 · 0 turns");
  });
  await t.step("nothing known", () => {
    assert.equal(costFooter(undefined), "");
    assert.equal(costFooter({}), "");
  });
});

Deno.test("dollars() keeps four decimals under a dollar, two from a dollar up", () => {
  assert.equal(dollars(0.0123), "$0.0123");
  assert.equal(dollars(0), "$0.0000");
  assert.equal(dollars(0.99994), "$0.9999");
  assert.equal(dollars(1), "$1.00");
  assert.equal(dollars(12.5), "$12.50");
});
