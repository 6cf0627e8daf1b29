/**
 * Unit tests for `lib/handler/session.ts`: which conversation a message continues, and when a
 * `/new` starts a fresh one.
 *
 * @module
 */

import assert from "node:assert/strict";
import { isSessionId, SessionStore, sessionToResume, startsFresh } from "../lib/handler/session.ts";
import { tempDir } from "./_helpers.ts";

const ABC = "4f1c2b7e-9a3d-4c5e-8b21-6d0e9f3a7c58";
const DEF = "0b6e0001-1c2d-4e3f-9a4b-5c6d7e8f9001";

Deno.test("sessionToResume() continues the chat's conversation unless a /new came between", () => {
  const saved = { sessionId: ABC, updateId: 10 };
  assert.equal(sessionToResume(11), undefined);
  assert.equal(sessionToResume(11, { saved }), ABC);
  assert.equal(sessionToResume(13, { saved, newAt: 12 }), undefined, "after the /new");
  assert.equal(
    sessionToResume(11, { saved, newAt: 12 }),
    ABC,
    "a message before the /new goes on",
  );
  assert.equal(
    sessionToResume(14, { saved: { sessionId: DEF, updateId: 13 }, newAt: 12 }),
    DEF,
  );
  assert.equal(sessionToResume(14, { saved: { sessionId: "", updateId: 13 } }), undefined);
  assert.equal(startsFresh(13, { saved, newAt: 12 }), true);
  assert.equal(startsFresh(14, { saved: { sessionId: "", updateId: 13 }, newAt: 12 }), false);
  assert.equal(startsFresh(13, { saved }), false);
});

Deno.test("isSessionId() takes the CLI's UUIDs (and the custom brain's empty id) only", () => {
  for (const id of [ABC, ABC.toUpperCase(), ""]) assert.equal(isSessionId(id), true, id);
  const bad = ["--dangerously-skip-permissions", `-${ABC}`, `${ABC} --x`, `${ABC}\n`, "abc", 7];
  for (const id of bad) assert.equal(isSessionId(id), false, String(id));
});

Deno.test("a conversation id that is not a UUID is neither saved nor read back into argv", async () => {
  await using dir = await tempDir();
  const sessions = new SessionStore(dir.path, 1001);
  assert.throws(() => sessions.save({ sessionId: "--resume-all", updateId: 3 }), TypeError);
  assert.equal(sessions.saved(), undefined, "nothing saved");
  sessions.save({ sessionId: ABC, updateId: 3 });
  assert.deepEqual(sessions.saved(), { sessionId: ABC, updateId: 3 });
  // A file changed behind the bot's back (or by an older version) is not trusted either.
  Deno.writeTextFileSync(
    `${sessions.dir}/session.json`,
    JSON.stringify({ sessionId: "--permission-mode=bypassPermissions", updateId: 4 }),
  );
  assert.equal(sessions.saved(), undefined);
  const forged = { sessionId: "-x", updateId: 4 };
  assert.equal(sessionToResume(5, { saved: forged }), undefined);
});
