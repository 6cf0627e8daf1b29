/**
 * Unit tests for `lib/handler/reply.ts`: `splitMessage()`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { MESSAGE_LIMIT, splitMessage } from "../lib/handler/reply.ts";

/** The text without any whitespace: what splitting must never lose or reorder. */
function content(text: string): string {
  return text.replace(/\s/g, "");
}

/** Checks the invariants every split must keep. */
function assertWellSplit(text: string, parts: string[], limit: number) {
  for (const [i, part] of parts.entries()) {
    assert.ok(part.length <= limit, `part ${i} has ${part.length} > ${limit} units`);
    assert.notEqual(part.trim(), "", `part ${i} is empty`);
    assert.ok(!/[\uD800-\uDBFF]$/.test(part), `part ${i} ends in half a surrogate pair`);
    assert.ok(!/^[\uDC00-\uDFFF]/.test(part), `part ${i} starts with half a surrogate pair`);
  }
  assert.equal(content(parts.join("")), content(text));
}

/** `count` words `word0 word1 ...`, each separated by `separator`. */
function words(count: number, separator = " "): string {
  return Array.from({ length: count }, (_, i) => `word${i}`).join(separator);
}

Deno.test("splitMessage() returns a short text as one trimmed part", () => {
  assert.deepEqual(splitMessage("  hello\nworld \n"), ["hello\nworld"]);
  assert.deepEqual(splitMessage("x".repeat(MESSAGE_LIMIT)), ["x".repeat(MESSAGE_LIMIT)]);
});

Deno.test("splitMessage() keeps every part under the limit and all the content in order", async (t) => {
  await t.step("at Telegram's 4096 characters", () => {
    const text = words(3000);
    const parts = splitMessage(text);
    assert.ok(parts.length >= 6, `expected several parts, got ${parts.length}`);
    assertWellSplit(text, parts, 4096);
  });

  await t.step("at a custom limit", () => {
    const text = words(200, "\n");
    const parts = splitMessage(text, 50);
    assertWellSplit(text, parts, 50);
  });

  await t.step("for mixed paragraphs, lines, emoji and runs of spaces", () => {
    const text = Array.from(
      { length: 300 },
      (_, i) => (i % 7 === 0 ? "\n\n" : i % 3 === 0 ? "\n" : "   ") + `é${i}😀`,
    ).join("");
    for (const limit of [2, 3, 7, 40, 333]) {
      assertWellSplit(text, splitMessage(text, limit), limit);
    }
  });
});

Deno.test("splitMessage() cuts at a paragraph, else a line, else a word boundary", async (t) => {
  await t.step("a paragraph break in the latter half wins over later line breaks", () => {
    const first = "a".repeat(60);
    const second = "b".repeat(10) + "\n" + "c".repeat(10) + "\n" + "d".repeat(30);
    const parts = splitMessage(`${first}\n\n${second}`, 100);
    assert.deepEqual(parts, [first, second]);
  });

  await t.step("a line break wins over later spaces", () => {
    const first = "a ".repeat(30) + "end";
    const parts = splitMessage(`${first}\n${"x ".repeat(40)}`, 100);
    assert.equal(parts[0], first);
  });

  await t.step("a space is used when there is no line break", () => {
    const text = words(100);
    const parts = splitMessage(text, 64);
    const all = new Set(text.split(" "));
    for (const part of parts) {
      for (const word of part.split(" ")) assert.ok(all.has(word), `"${word}" was cut`);
    }
  });

  await t.step("a boundary in the first half is ignored in favour of a fuller part", () => {
    const parts = splitMessage("ab " + "c".repeat(200), 100);
    assert.deepEqual(parts.map((p) => p.length), [100, 100, 3]);
    assert.equal(parts[0], "ab " + "c".repeat(97));
  });
});

Deno.test("splitMessage() hard-cuts a word longer than the limit", () => {
  const word = "x".repeat(10_000);
  const parts = splitMessage(word);
  assert.deepEqual(parts.map((p) => p.length), [4096, 4096, 1808]);
  assert.equal(parts.join(""), word);
});

Deno.test("splitMessage() never splits a surrogate pair", async (t) => {
  for (const limit of [10, 11, 4096]) {
    await t.step(`with an emoji across the boundary at ${limit}`, () => {
      const text = "a".repeat(limit - 1) + "😀".repeat(5);
      const parts = splitMessage(text, limit);
      assertWellSplit(text, parts, limit);
      assert.equal(parts.join(""), text);
    });
  }

  await t.step("in a text of emoji only", () => {
    const text = "😀".repeat(100);
    const parts = splitMessage(text, 7);
    assertWellSplit(text, parts, 7);
    assert.equal(parts.join(""), text);
  });
});

Deno.test("splitMessage() returns no part for a whitespace-only text", () => {
  assert.deepEqual(splitMessage(""), []);
  assert.deepEqual(splitMessage(" \n\n\t  \n"), []);
});

Deno.test("splitMessage() refuses a limit below 2 or not an integer", () => {
  for (const limit of [1, 0, -5, 2.5, Number.NaN]) {
    assert.throws(() => splitMessage("text", limit), RangeError, `limit ${limit}`);
  }
});
