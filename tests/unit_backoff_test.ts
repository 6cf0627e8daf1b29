/**
 * Unit tests for `lib/shared/backoff.ts`: the one back-off rule.
 *
 * @module
 */

import assert from "node:assert/strict";
import { backoffMs } from "../lib/shared/backoff.ts";

Deno.test("backoffMs() doubles from baseMs with each failure, up to maxMs; nothing after none", () => {
  const shape = { baseMs: 250, maxMs: 3000 };
  assert.deepEqual([0, 1, 2, 3, 4, 5, 9].map((n) => backoffMs(n, shape)), [
    0,
    250,
    500,
    1000,
    2000,
    3000,
    3000,
  ]);
});

Deno.test("backoffMs() with randomness waits between half and all of the back-off", () => {
  const shape = { baseMs: 1000, maxMs: 30_000 };
  assert.equal(backoffMs(3, { ...shape, random: () => 0 }), 2000);
  assert.equal(backoffMs(3, { ...shape, random: () => 0.5 }), 3000);
  assert.equal(backoffMs(3, { ...shape, random: () => 0.999 }), 3998);
  assert.equal(backoffMs(0, { ...shape, random: () => 0.999 }), 0);
});
