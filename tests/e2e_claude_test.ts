/**
 * End to end with the real default brain: the Claude Code CLI that npm ships, which can't answer
 * here (no credentials, no network) but shows what the person sees when it isn't logged in.
 *
 * `.ci/run` installs it; elsewhere the test runs when `claude` is on PATH and is ignored otherwise.
 */

import assert from "node:assert/strict";
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

Deno.test({
  name: "the default brain (claude -p, with the persona) that is not logged in gets a ⚠️ saying so",
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
    }, async (sim) => {
      const id = messageIdOf(sim.sendText(CHAT, "hello claude"));
      const reply = await sim.waitForCall(repliedTo(CHAT, id), { timeoutMs: 90_000 });
      const text = String(reply.params.text);
      assert.match(text, /^⚠️ The brain failed after 1 attempt: it is not logged in\./);
      assert.match(text, /Not logged in · Please run \/login/);
      await sim.waitForCall(reacted(CHAT, id, "👎"));
    });
  },
});
