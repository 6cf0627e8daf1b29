/**
 * Unit tests for `lib/shared/duration.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { formatDuration } from "../lib/shared/duration.ts";
import { waitNote } from "../lib/handler/texts.ts";

Deno.test("formatDuration() reads as a person says it, in at most two units", () => {
  assert.equal(formatDuration(0), "0 s");
  assert.equal(formatDuration(44_600), "45 s");
  assert.equal(formatDuration(60_000), "1 min");
  assert.equal(formatDuration(125_000), "2 min 5 s");
  assert.equal(formatDuration(3_600_000), "1 h");
  assert.equal(formatDuration(3_780_000 + 20_000), "1 h 3 min");
  assert.throws(() => formatDuration(-1), RangeError);
});

Deno.test("waitNote() is one short line in parentheses", () => {
  assert.equal(waitNote(75_000), "(waited 1 min 15 s for its turn)");
});
