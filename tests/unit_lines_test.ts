/**
 * Unit tests for `lib/shared/lines.ts`: `readLines()` and `LineSplitter` on streams fed chunk
 * by chunk, as a pipe delivers them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { LineSplitter, readLines } from "../lib/shared/lines.ts";
import { withDeadline } from "./_helpers.ts";

/**
 * A stream under the test's control: `push()` a chunk, `end()` it, or `fail()` it (a broken pipe).
 * `drained()` resolves once the reader has taken every chunk pushed and asks for more: with no
 * queue of its own (high-water mark 0), the stream is pulled only then.
 */
function pipe() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let wanted = Promise.withResolvers<void>();
  const stream = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    pull: () => {
      wanted.resolve();
      wanted = Promise.withResolvers<void>();
    },
  }, { highWaterMark: 0 });
  const encoder = new TextEncoder();
  return {
    stream,
    push: (text: string | Uint8Array) =>
      controller.enqueue(typeof text === "string" ? encoder.encode(text) : text),
    drained: () => wanted.promise,
    end: () => controller.close(),
    fail: () => controller.error(new Error("broken pipe")),
  };
}

/** A stream of the given chunks, then its end. */
function chunks(...parts: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const p = pipe();
  for (const part of parts) p.push(part);
  p.end();
  return p.stream;
}

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const all: string[] = [];
  for await (const line of lines) all.push(line);
  return all;
}

Deno.test("readLines() yields each line once, however the chunks fall", async () => {
  const stream = chunks("a\nb", "c\n", "\n", "d\ne\n");
  assert.deepEqual(await collect(readLines(stream)), ["a", "bc", "", "d", "e"]);
});

Deno.test("readLines() yields a line as soon as it is complete, before EOF", async () => {
  const p = pipe();
  const lines = readLines(p.stream);
  p.push("one\ntw");
  assert.deepEqual(await withDeadline(lines.next(), "the first line"), {
    value: "one",
    done: false,
  });
  p.push("o\n");
  assert.deepEqual(await withDeadline(lines.next(), "the second line"), {
    value: "two",
    done: false,
  });
  p.end();
  assert.equal((await lines.next()).done, true);
});

Deno.test("readLines() yields a last unterminated line at EOF, and none when there is none", async (t) => {
  await t.step("unterminated", async () => {
    assert.deepEqual(await collect(readLines(chunks("x\ny", "z"))), ["x", "yz"]);
  });
  await t.step("terminated", async () => {
    assert.deepEqual(await collect(readLines(chunks("x\n"))), ["x"]);
  });
  await t.step("empty", async () => {
    assert.deepEqual(await collect(readLines(chunks())), []);
  });
});

Deno.test("readLines() ends at a broken pipe, with what it had", async () => {
  const p = pipe();
  const lines = collect(readLines(p.stream));
  p.push("whole\nhal");
  await withDeadline(p.drained(), "the reader to take it");
  p.fail();
  assert.deepEqual(await withDeadline(lines, "the lines"), ["whole", "hal"]);
});

Deno.test("LineSplitter gives the same lines whatever the pieces, and keeps a last partial one", () => {
  const text = "first\nsecond ✓\n\nfourth";
  const whole = new LineSplitter();
  assert.deepEqual(whole.push(text), ["first", "second ✓", ""]);
  assert.equal(whole.end(), "fourth");
  assert.equal(whole.end(), undefined, "forgotten once given");
  const split = new LineSplitter();
  const lines = [...text].flatMap((ch) => split.push(ch));
  assert.deepEqual(lines, ["first", "second ✓", ""]);
  assert.equal(split.end(), "fourth");
});

Deno.test("readLines() with a signal ends as soon as it aborts, even while a read waits, and yields nothing after", async () => {
  const p = pipe();
  const stop = new AbortController();
  const lines = readLines(p.stream, { signal: stop.signal });
  p.push("one\npartial");
  assert.deepEqual(await lines.next(), { value: "one", done: false });
  // The next read waits for more from the pipe, which never comes (the loop keeps it open): it
  // can't end but by the abort.
  const next = lines.next();
  stop.abort();
  assert.deepEqual(await withDeadline(next, "the end of the lines", 1000), {
    value: undefined,
    done: true,
  });
});
