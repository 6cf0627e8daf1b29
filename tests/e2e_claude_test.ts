/**
 * With the real default brain: the Claude Code CLI that npm ships, which can't answer here (no
 * credentials, no network) but shows what the person sees when it isn't logged in, and whose
 * `--help` lists the flags the Claude driver passes.
 *
 * `.ci/run` installs it; elsewhere these tests run when `claude` is on PATH and are ignored
 * otherwise (saying so).
 */

import assert from "node:assert/strict";
import { claudeCommand } from "../lib/handler/claude.ts";
import { messageIdOf, reacted, repliedTo, tempDir, withBot } from "./_helpers.ts";

const CHAT = 1001;

function findOnPath(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return dir;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

const claudeDir = findOnPath("claude");
if (claudeDir === undefined) {
  console.log("tests/e2e_claude_test.ts: claude is not on PATH (.ci/run installs it): ignored");
}

Deno.test({
  name: "the real CLI's --help lists every flag the Claude driver passes",
  ignore: claudeDir === undefined,
  async fn() {
    const output = await new Deno.Command(`${claudeDir}/claude`, {
      args: ["--help"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
    const help = new TextDecoder().decode(output.stdout);
    const passed = claudeCommand(["claude"], "some-session").slice(1);
    const flags = passed.map((arg) => arg.split("=")[0]);
    assert.deepEqual(flags, ["-p", "--input-format", "--output-format", "--verbose", "--resume"]);
    for (const flag of flags) {
      assert.match(
        help,
        new RegExp(`(^|[\\s,])${flag}([\\s,]|$)`, "m"),
        `${flag} is not in --help`,
      );
    }
    for (const option of ["--input-format", "--output-format"]) {
      const described = help.slice(help.indexOf(`${option} <format>`)).split(/\n\s{2}-/)[0];
      assert.match(described, /"stream-json"/, `${option} takes stream-json`);
    }
  },
});

Deno.test({
  name:
    "the default brain (claude -p, with the persona) that is not logged in: said at start and in /status, and each message gets a ⚠️ saying what to run on the box",
  ignore: claudeDir === undefined,
  async fn() {
    await using home = await tempDir("coord-claude-home-");
    const persona = `${home.path}/persona.md`;
    await Deno.writeTextFile(persona, "You are a terse assistant.\n");
    await withBot({
      env: {
        COORD_BRAIN_CMD: undefined,
        COORD_PERSONA_FILE: persona,
        // Not logged in is final: one attempt, whatever the attempts allowed.
        COORD_BRAIN_MAX_ITERS: "3",
        COORD_BRAIN_TIMEOUT_S: "60",
        // A home of its own, so the CLI finds no credentials and writes nothing into ours.
        HOME: home.path,
        PATH: `${claudeDir}:${Deno.env.get("PATH")}`,
      },
    }, async (sim, bot) => {
      // Said at start already, in the journal and in /status.
      await bot.waitForLog(
        /\[WRN\] .*brain: \S+\/claude is not logged in: on the box, run `claude setup-token`/,
        { timeoutMs: 60_000 },
      );
      const asked = messageIdOf(sim.sendText(CHAT, "/status"));
      const status = await sim.waitForCall(repliedTo(CHAT, asked));
      assert.match(String(status.params.text), /^⚠️ Brain: \S+\/claude is not logged in: /m);
      const id = messageIdOf(sim.sendText(CHAT, "hello claude"));
      const reply = await sim.waitForCall(repliedTo(CHAT, id), { timeoutMs: 90_000 });
      const text = String(reply.params.text);
      assert.match(text, /^⚠️ The brain failed after 1 attempt: it is not logged in\./);
      // What to run on the box, not the CLI's own "Please run /login" (that goes to the bot).
      assert.match(text, /Not logged in: on the box, run (`|<code>)claude setup-token/);
      assert.doesNotMatch(text, /\/login/);
      await sim.waitForCall(reacted(CHAT, id, "👎"));
    });
  },
});
