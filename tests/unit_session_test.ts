/**
 * Unit tests for `lib/handler/session.ts`: which conversation a message continues, and when a
 * `/new` starts a fresh one.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sessionToResume, startsFresh } from "../lib/handler/session.ts";

Deno.test("sessionToResume() continues the chat's conversation unless a /new came between", () => {
  const saved = { sessionId: "abc", updateId: 10 };
  assert.equal(sessionToResume(11), undefined);
  assert.equal(sessionToResume(11, { saved }), "abc");
  assert.equal(sessionToResume(13, { saved, newAt: 12 }), undefined, "after the /new");
  assert.equal(
    sessionToResume(11, { saved, newAt: 12 }),
    "abc",
    "a message before the /new goes on",
  );
  assert.equal(
    sessionToResume(14, { saved: { sessionId: "def", updateId: 13 }, newAt: 12 }),
    "def",
  );
  assert.equal(sessionToResume(14, { saved: { sessionId: "", updateId: 13 } }), undefined);
  assert.equal(startsFresh(13, { saved, newAt: 12 }), true);
  assert.equal(startsFresh(14, { saved: { sessionId: "", updateId: 13 }, newAt: 12 }), false);
  assert.equal(startsFresh(13, { saved }), false);
});
