/**
 * Unit tests for the line that tells a Claude brain about `COORD_SEND_DIR`
 * (`lib/handler/claude_prompt.ts`): joined with whatever the command appends already (the CLI
 * takes one appended prompt), and the persona file the handler is allowed to read for it
 * (`lib/shared/system_prompt.ts`, `lib/loop/launch.ts`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { sendDirLine, withSendDirLine } from "../lib/handler/claude_prompt.ts";
import { claudeCommand } from "../lib/handler/claude.ts";
import { handlerLaunch } from "../lib/loop/launch.ts";
import { parseConfig } from "../lib/shared/config.ts";
import { promptFile, promptFlag } from "../lib/shared/system_prompt.ts";

const DIR = "/state/send/42";
const LINE = sendDirLine(DIR);

function options(files: Record<string, string> = {}) {
  const written: Record<string, string> = {};
  const errors: unknown[] = [];
  return {
    written,
    errors,
    dir: DIR,
    workdir: "/state/brain",
    mergedPath: "/state/attachments/42/system-prompt.md",
    readFile: (path: string) => {
      if (!(path in files)) throw new Deno.errors.NotFound(path);
      return files[path];
    },
    writeFile: (path: string, text: string) => void (written[path] = text),
    onError: (error: unknown) => void errors.push(error),
  };
}

Deno.test("sendDirLine() names the folder and the variable in one line", () => {
  assert.ok(LINE.includes(DIR) && LINE.includes("$COORD_SEND_DIR"));
  assert.ok(!LINE.includes("\n"));
});

Deno.test("withSendDirLine(): a command that appends nothing gets the line appended", () => {
  assert.deepEqual(withSendDirLine(["claude", "-p"], options()), [
    "claude",
    "-p",
    `--append-system-prompt=${LINE}`,
  ]);
});

Deno.test("withSendDirLine(): an --append-system-prompt text gets the line after it, in either form", () => {
  assert.deepEqual(
    withSendDirLine(["claude", "--append-system-prompt", "Be brief.", "-p"], options()),
    ["claude", `--append-system-prompt=Be brief.\n\n${LINE}`, "-p"],
  );
  assert.deepEqual(withSendDirLine(["claude", "--append-system-prompt=Be brief."], options()), [
    "claude",
    `--append-system-prompt=Be brief.\n\n${LINE}`,
  ]);
});

Deno.test("withSendDirLine(): a persona file is read and written again with the line, and that file named instead", () => {
  const o = options({ "/home/me/persona.md": "You are my aide.\n" });
  const command = ["claude", "-p", "--append-system-prompt-file", "/home/me/persona.md"];
  assert.deepEqual(withSendDirLine(command, o), [
    "claude",
    "-p",
    "--append-system-prompt-file=/state/attachments/42/system-prompt.md",
  ]);
  assert.deepEqual(o.written, {
    "/state/attachments/42/system-prompt.md": `You are my aide.\n\n${LINE}\n`,
  });
  // Only one appended prompt reaches the CLI: it refuses both flags together.
  const final = claudeCommand(withSendDirLine(command, o));
  assert.equal(final.filter((a) => a.startsWith("--append-system-prompt")).length, 1);
});

Deno.test("withSendDirLine(): a relative persona is the CLI's, in the brain's folder; one that can't be read is left as it is", () => {
  const o = options({ "/state/brain/persona.md": "P" });
  withSendDirLine(["claude", "--append-system-prompt-file=persona.md"], o);
  assert.equal(o.written["/state/attachments/42/system-prompt.md"], `P\n\n${LINE}\n`);
  const missing = options();
  const command = ["claude", "--append-system-prompt-file", "/nowhere.md"];
  assert.deepEqual(withSendDirLine(command, missing), command);
  assert.equal(missing.errors.length, 1);
});

Deno.test("promptFlag() finds the last appended prompt; promptFile() only a file's, made absolute", () => {
  assert.equal(promptFlag(["claude", "-p"]), undefined);
  assert.equal(promptFlag(["claude", "--append-system-prompt"]), undefined, "a flag without value");
  assert.deepEqual(
    promptFlag(["claude", "--append-system-prompt=a", "--append-system-prompt-file", "b"]),
    { kind: "file", index: 2, words: 2, value: "b" },
  );
  assert.equal(promptFile(["claude", "--append-system-prompt=x"], "/w"), undefined);
  assert.equal(promptFile(["claude", "--append-system-prompt-file", "p.md"], "/w/"), "/w/p.md");
  // A program's own argument 0 is never read as the flag.
  assert.equal(promptFlag(["--append-system-prompt", "x"]), undefined);
});

Deno.test("handlerLaunch(): a Claude brain's persona file is readable by the handler, nothing else of the person's", () => {
  const config = (env: Record<string, string>) =>
    parseConfig({
      env: {
        TELEGRAM_BOT_TOKEN: "123:abc",
        COORD_AUTHORIZED_USER_IDS: "1",
        COORD_STATE_DIR: "/s",
        COORD_LOCK_DIR: "/l",
        ...env,
      },
      uid: () => 1000,
      readTextFile: () => "",
      isReadableFile: () => true,
    });
  const launch = (env: Record<string, string>) =>
    handlerLaunch(config(env), {
      denoPath: "/deno",
      handlerPath: "/h.ts",
      configPath: "/deno.json",
      env: {},
    }).args.find((a) => a.startsWith("--allow-read="));
  assert.equal(launch({ COORD_PERSONA_FILE: "/home/me/p.md" }), "--allow-read=/l,/s,/home/me/p.md");
  assert.equal(launch({}), "--allow-read=/l,/s");
  assert.equal(
    launch({ COORD_BRAIN_CMD: "claude -p --append-system-prompt-file p.md" }),
    "--allow-read=/l,/s,/s/brain/p.md",
  );
  assert.equal(
    launch({ COORD_BRAIN_CMD: "mybrain --append-system-prompt-file /home/me/p.md" }),
    "--allow-read=/l,/s",
    "a plain brain's command is not the driver's to read",
  );
});
