/**
 * Unit tests for `lib/shared/heartbeat.ts`: the file the poll loop beats into (its format, written
 * whole) and reading it back, in a temp folder with a clock given by hand.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  Heartbeat,
  parseHeartbeat,
  type PollStatus,
  readHeartbeat,
  readHeartbeatFile,
} from "../lib/shared/heartbeat.ts";
import { modeOf, tempDir } from "./_helpers.ts";

const AT = Date.parse("2026-11-27T12:00:00.250Z");
const STATUS: PollStatus = {
  startedAt: "2026-11-27T11:00:00.000Z",
  live: 2,
  cap: 4,
  updateIds: [7, 9],
  waiting: 3,
};

Deno.test("Heartbeat.beat() writes its clock's time, then the status on a second line; both read back", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/heartbeat`;
  new Heartbeat(path, () => AT).beat(STATUS);
  assert.equal(
    Deno.readTextFileSync(path),
    `2026-11-27T12:00:00.250Z\n${JSON.stringify(STATUS)}\n`,
  );
  assert.deepEqual(readHeartbeatFile(path), { at: new Date(AT), status: STATUS });
  assert.deepEqual(readHeartbeat(path), new Date(AT));
  const { waiting: _, ...older } = STATUS;
  new Heartbeat(path, () => AT).beat(older);
  assert.deepEqual(readHeartbeatFile(path)?.status, older, "waiting is optional");
});

Deno.test("Heartbeat.beat() without a status writes the time alone", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/heartbeat`;
  new Heartbeat(path, () => AT).beat();
  assert.equal(Deno.readTextFileSync(path), "2026-11-27T12:00:00.250Z\n");
  assert.deepEqual(readHeartbeatFile(path), { at: new Date(AT) });
});

Deno.test("Heartbeat.beat() replaces the last beat whole, and leaves no other file", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/heartbeat`;
  let now = AT;
  const heartbeat = new Heartbeat(path, () => now);
  heartbeat.beat(STATUS);
  now += 5000;
  heartbeat.beat();
  assert.deepEqual(readHeartbeatFile(path), { at: new Date(AT + 5000) }, "no status left over");
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["heartbeat"]);
});

Deno.test("Heartbeat.beat() makes a deleted state folder again, private, and beats into it", async () => {
  await using dir = await tempDir();
  const state = `${dir.path}/state`;
  Deno.mkdirSync(state);
  const heartbeat = new Heartbeat(`${state}/heartbeat`, () => AT);
  heartbeat.beat();
  Deno.removeSync(state, { recursive: true });
  heartbeat.beat(STATUS);
  assert.deepEqual(readHeartbeatFile(`${state}/heartbeat`), { at: new Date(AT), status: STATUS });
  assert.equal(modeOf(state), 0o700);
});

Deno.test("Heartbeat.beat() throws when the file can't be written for another reason", async () => {
  await using dir = await tempDir();
  // The state folder's place is taken by a file: no folder can be made there.
  Deno.writeTextFileSync(`${dir.path}/state`, "");
  const heartbeat = new Heartbeat(`${dir.path}/state/heartbeat`, () => AT);
  assert.throws(() => heartbeat.beat(), Deno.errors.NotADirectory);
  assert.equal(Deno.readTextFileSync(`${dir.path}/state`), "", "left as it was");
});

Deno.test("readHeartbeat() and readHeartbeatFile() read no time from a missing or unreadable file", async (t) => {
  await using dir = await tempDir();
  const cases: [string, () => void][] = [
    ["missing", () => {}],
    ["a folder", () => Deno.mkdirSync(`${dir.path}/a folder`)],
    ["empty", () => Deno.writeTextFileSync(`${dir.path}/empty`, "")],
    ["not a time", () => Deno.writeTextFileSync(`${dir.path}/not a time`, "soon\n")],
  ];
  for (const [name, make] of cases) {
    await t.step(name, () => {
      make();
      assert.equal(readHeartbeat(`${dir.path}/${name}`), undefined);
      assert.equal(readHeartbeatFile(`${dir.path}/${name}`), undefined);
    });
  }
});

Deno.test("parseHeartbeat() keeps the time alone when the second line is not a status", async (t) => {
  const time = "2026-11-27T12:00:00.250Z";
  const { live: _, ...noLive } = STATUS;
  const seconds = [
    "",
    "not json",
    "null",
    "[]",
    "{}",
    JSON.stringify(noLive),
    JSON.stringify({ ...STATUS, cap: "4" }),
    JSON.stringify({ ...STATUS, updateIds: 7 }),
    JSON.stringify({ ...STATUS, startedAt: 0 }),
  ];
  for (const second of seconds) {
    await t.step(JSON.stringify(second), () => {
      assert.deepEqual(parseHeartbeat(`${time}\n${second}\n`), { at: new Date(time) });
    });
  }
  await t.step("the time's line trimmed", () => {
    assert.deepEqual(parseHeartbeat(`  ${time} \n`), { at: new Date(time) });
  });
});

Deno.test("parseHeartbeat() reads the time, and the status line when there is one", () => {
  assert.equal(parseHeartbeat("garbage"), undefined);
  const plain = parseHeartbeat("2025-01-01T00:00:00.000Z\n");
  assert.equal(plain?.at.toISOString(), "2025-01-01T00:00:00.000Z");
  assert.equal(plain?.status, undefined);
  const status = { startedAt: "2025-01-01T00:00:00.000Z", live: 1, cap: 4, updateIds: [9] };
  assert.deepEqual(
    parseHeartbeat(`2025-01-01T00:00:01.000Z\n${JSON.stringify(status)}\n`)?.status,
    status,
  );
});
