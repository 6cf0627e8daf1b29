import assert from "node:assert/strict";
import { runBoxCommand } from "../lib/loop/box_command.ts";
import { parseBoxSettings } from "../lib/shared/box_settings.ts";
import { ConfigError } from "../lib/shared/config_values.ts";
import { parseJob, recordChats, recordedChats, spoolDirs } from "../lib/shared/spool_job.ts";
import { tempDir } from "./_helpers.ts";

/** Runs the command in this process; returns its status, its error lines and the jobs written. */
async function run(
  state: string,
  kind: "send" | "ask",
  args: string[],
  options: { stdin?: string; env?: Record<string, string> } = {},
) {
  const errors: string[] = [];
  const settings = parseBoxSettings({
    COORD_STATE_DIR: state,
    COORD_AUTHORIZED_USER_IDS: "1001,1002",
    ...options.env,
  });
  const code = await runBoxCommand(kind, args, {
    settings,
    readStdin: () => Promise.resolve(options.stdin ?? ""),
    printError: (line) => errors.push(line),
  });
  const dir = spoolDirs(state).new;
  let jobs: ReturnType<typeof parseJob>[] = [];
  try {
    jobs = [...Deno.readDirSync(dir)].map((e) => e.name).sort().map((name) =>
      parseJob(Deno.readTextFileSync(`${dir}/${name}/job.json`))
    );
  } catch {
    // No spool yet.
  }
  return { code, errors, jobs };
}

Deno.test("send: the words are the text, for the first authorized user by default; `--` as deno task passes it", async () => {
  await using dir = await tempDir();
  const r = await run(dir.path, "send", ["--", "backup", "failed"]);
  assert.deepEqual([r.code, r.errors], [0, []]);
  assert.equal(r.jobs.length, 1);
  assert.deepEqual({ ...r.jobs[0], createdAt: "" }, {
    kind: "send",
    chatId: 1001,
    text: "backup failed",
    files: [],
    createdAt: "",
  });
});

Deno.test("send -: the text from stdin, trailing white space cut; --chat and --file in both forms", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/notes.txt`;
  await Deno.writeTextFile(file, "n");
  const r = await run(`${dir.path}/s`, "send", ["--chat=1002", "--file", file, "-"], {
    stdin: "line one\nline two\n\n",
  });
  assert.deepEqual([r.code, r.errors], [0, []]);
  assert.equal(r.jobs[0].chatId, 1002);
  assert.equal(r.jobs[0].text, "line one\nline two");
  assert.deepEqual(r.jobs[0].files, [{ file: "1-notes.txt", name: "notes.txt", kind: "document" }]);
});

Deno.test("send of files alone is fine; ask takes its prompt from words or stdin", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/a.bin`;
  await Deno.writeTextFile(file, "x");
  assert.equal((await run(`${dir.path}/1`, "send", [`--file=${file}`])).code, 0);
  const ask = await run(`${dir.path}/2`, "ask", ["brief", "me"]);
  assert.deepEqual([ask.code, ask.jobs[0].kind, ask.jobs[0].text], [0, "ask", "brief me"]);
  const piped = await run(`${dir.path}/3`, "ask", ["-"], { stdin: "what is due\n" });
  assert.equal(piped.jobs[0].text, "what is due");
});

Deno.test("send and ask refuse what they can't do with one line and 64 or 65, writing nothing", async (t) => {
  await using dir = await tempDir();
  const refused = async (
    kind: "send" | "ask",
    args: string[],
    expected: [number, RegExp],
    options: { stdin?: string; env?: Record<string, string> } = {},
  ) => {
    const r = await run(dir.path, kind, args, options);
    assert.equal(r.code, expected[0], r.errors.join("\n"));
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0], new RegExp(`^forge-coordinator ${kind}: `));
    assert.match(r.errors[0], expected[1]);
    assert.deepEqual(r.jobs, []);
  };
  await t.step("usage", async () => {
    await refused("send", [], [64, /nothing to send; usage: send \[--chat ID\]/]);
    await refused("ask", [], [64, /no prompt; usage: ask/]);
    await refused("ask", ["--file", "x", "hi"], [64, /unknown option "--file"/]);
    await refused("send", ["--chat"], [64, /--chat needs a value/]);
    await refused("send", ["--chat", "1.5", "x"], [64, /--chat "1.5" is not a chat id/]);
    await refused("send", ["-", "and", "words"], [64, /"-" .* comes alone/]);
  });
  await t.step("data", async () => {
    await refused("send", ["--chat", "-100", "x"], [
      65,
      /chat -100 is not an authorized user's chat/,
    ]);
    await refused("ask", ["-"], [65, /the prompt is empty/], { stdin: " \n" });
    await refused("ask", ["x".repeat(4001)], [65, /4001 characters long, over 4000/]);
    await refused("send", ["--file", dir.path, "x"], [65, /not a regular file/]);
    const big = `${dir.path}/big.bin`;
    await Deno.writeFile(big, new Uint8Array());
    await Deno.truncate(big, 50_000_001);
    await refused("send", ["--file", big], [65, /it is 50\.0 MB, over Telegram's 50 MB for a bot/]);
  });
  await t.step(
    "a chat that COORD_ALLOWED_CHAT_IDS doesn't list",
    () =>
      refused("send", ["x"], [65, /chat 1001 is not in COORD_ALLOWED_CHAT_IDS/], {
        env: { COORD_ALLOWED_CHAT_IDS: "-100" },
      }),
  );
});

Deno.test("parseBoxSettings() needs no token, and says what is missing like the bot does", () => {
  const settings = parseBoxSettings({ HOME: "/home/me", COORD_AUTHORIZED_USER_IDS: "5" });
  assert.equal(settings.stateDir, "/home/me/.local/state/forge-coordinator");
  assert.deepEqual([...settings.authorizedUserIds], [5]);
  assert.equal(settings.allowedChatIds, undefined);
  assert.throws(() => parseBoxSettings({ HOME: "/h" }), ConfigError);
});

Deno.test("parseBoxSettings() without COORD_AUTHORIZED_USER_IDS takes the chats the bot recorded at its start", async () => {
  await using dir = await tempDir();
  const env = { COORD_STATE_DIR: dir.path };
  assert.throws(() => parseBoxSettings(env), /no bot has recorded its chats in .*: set it/);
  recordChats(dir.path, { authorized: new Set([7, 5]), allowedChats: new Set([-100, 7]) });
  const settings = parseBoxSettings(env);
  assert.deepEqual([...settings.authorizedUserIds], [7, 5], "in their order: 7 is the default");
  assert.deepEqual([...settings.allowedChatIds!], [-100, 7]);
  recordChats(dir.path, { authorized: new Set([5]) });
  assert.equal(parseBoxSettings(env).allowedChatIds, undefined);
  // The environment, when it says, wins.
  const own = parseBoxSettings({ ...env, COORD_AUTHORIZED_USER_IDS: "9" });
  assert.deepEqual([...own.authorizedUserIds], [9]);
  assert.equal(recordedChats(dir.path, () => '{"authorized":[]}'), undefined);
  assert.equal(recordedChats(dir.path, () => '{"authorized":["5"]}'), undefined);
});
