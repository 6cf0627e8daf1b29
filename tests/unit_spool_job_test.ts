import assert from "node:assert/strict";
import { jobsInSpool, mayWriteTo, parseJob, spoolDirs, writeJob } from "../lib/shared/spool_job.ts";
import { tempDir } from "./_helpers.ts";

function names(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

Deno.test("writeJob() puts a whole job in new/, its files copied, nothing left in tmp/", async () => {
  await using dir = await tempDir();
  const source = `${dir.path}/report.pdf`;
  await Deno.writeTextFile(source, "%PDF-1.4 the report");
  const name = writeJob(`${dir.path}/state`, { kind: "send", chatId: 7, text: "see" }, {
    files: [{ path: source, name: "report.pdf", kind: "document" }],
    now: () => 1_700_000_000_000,
  });
  const { tmp, new: fresh } = spoolDirs(`${dir.path}/state`);
  assert.match(name, /^1700000000000\.\d+\.[0-9a-f]{12}$/);
  assert.deepEqual(names(fresh), [name]);
  assert.deepEqual(names(tmp), []);
  assert.deepEqual(names(`${fresh}/${name}`), ["1-report.pdf", "job.json"]);
  const job = parseJob(await Deno.readTextFile(`${fresh}/${name}/job.json`));
  assert.deepEqual(job, {
    kind: "send",
    chatId: 7,
    text: "see",
    files: [{ file: "1-report.pdf", name: "report.pdf", kind: "document" }],
    createdAt: "2023-11-14T22:13:20.000Z",
  });
  assert.equal(await Deno.readTextFile(`${fresh}/${name}/1-report.pdf`), "%PDF-1.4 the report");
  assert.equal(jobsInSpool(`${dir.path}/state`), 1);
});

Deno.test("writeJob() that fails half-way leaves nothing in new/ nor in tmp/", async () => {
  await using dir = await tempDir();
  assert.throws(
    () =>
      writeJob(`${dir.path}/state`, { kind: "send", chatId: 7, text: "" }, {
        files: [{ path: `${dir.path}/missing.png`, name: "missing.png", kind: "photo" }],
      }),
    Deno.errors.NotFound,
  );
  const { tmp, new: fresh } = spoolDirs(`${dir.path}/state`);
  assert.deepEqual(names(fresh), []);
  assert.deepEqual(names(tmp), []);
  assert.equal(jobsInSpool(`${dir.path}/nowhere`), 0);
});

Deno.test("parseJob() refuses what is not a job, naming what is wrong", async (t) => {
  const job = { kind: "ask", chatId: 1, text: "hi", files: [], createdAt: "x" };
  const refuses = (value: unknown, pattern: RegExp) =>
    assert.throws(() => parseJob(JSON.stringify(value)), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, pattern);
      return true;
    });
  await t.step("not JSON", () => assert.throws(() => parseJob("{"), /invalid JSON/));
  await t.step("an unknown kind", () => refuses({ ...job, kind: "mail" }, /unknown kind "mail"/));
  await t.step(
    "a chat that is not an integer",
    () => refuses({ ...job, chatId: "1" }, /chatId "1" is not an integer/),
  );
  await t.step("a file that is a path out of its folder", () => {
    refuses({ ...job, files: [{ file: "../../journal/1.json", name: "x" }] }, /bad file/);
    refuses({ ...job, files: [{ file: "..", name: "x" }] }, /bad file/);
  });
  await t.step("a file's kind other than photo is a document", () => {
    const parsed = parseJob(JSON.stringify({ ...job, files: [{ file: "1-a", name: "a" }] }));
    assert.equal(parsed.files[0].kind, "document");
  });
});

Deno.test("mayWriteTo(): COORD_ALLOWED_CHAT_IDS when set, else the authorized users' own chats", () => {
  const authorized = new Set([5, 6]);
  assert.equal(mayWriteTo(5, { authorized }), true);
  assert.equal(mayWriteTo(7, { authorized }), false);
  assert.equal(mayWriteTo(-100, { authorized }), false);
  const allowedChats = new Set([-100, 6]);
  assert.equal(mayWriteTo(-100, { authorized, allowedChats }), true);
  assert.equal(mayWriteTo(5, { authorized, allowedChats }), false);
});
