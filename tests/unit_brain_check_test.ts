/**
 * Unit tests for `lib/loop/brain_check.ts`: the brain's program found on PATH or not, and the
 * Claude CLI's login asked through a stand-in `claude` that answers as `claude auth status --json`
 * does (CLI 2.1.330: `{"loggedIn":false,...}` and exit 1 when logged out), and through the real
 * CLI when one is installed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { checkBrain, resolveProgram } from "../lib/loop/brain_check.ts";
import { CLAUDE_LOGIN_HINT } from "../lib/shared/claude_login.ts";
import { tempDir } from "./_helpers.ts";

/** A folder holding an executable `claude` that runs `script` (sh). */
async function fakeClaude(dir: string, script: string): Promise<string> {
  const path = `${dir}/claude`;
  await Deno.writeTextFile(path, `#!/bin/sh\n${script}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

const env = (path: string) => ({ PATH: `${path}:/usr/bin:/bin`, HOME: "/nonexistent" });

Deno.test("resolveProgram() finds a program as execvp does", async (t) => {
  const files = new Set(["/a/x", "/b/x", "/b/y", "./z"]);
  const isExecutable = (path: string) => files.has(path);
  await t.step("the first folder of PATH that has it", () => {
    assert.equal(resolveProgram("x", { path: "/a:/b", isExecutable }), "/a/x");
    assert.equal(resolveProgram("y", { path: "/a:/b/", isExecutable }), "/b/y");
  });
  await t.step("an empty entry is the working folder", () => {
    assert.equal(resolveProgram("z", { path: "/a::/b", isExecutable }), "./z");
  });
  await t.step("a path with a slash is taken as it is", () => {
    assert.equal(resolveProgram("/b/y", { path: "", isExecutable }), "/b/y");
    assert.equal(resolveProgram("/c/y", { path: "/b", isExecutable }), undefined);
  });
  await t.step("missing, or no name at all", () => {
    assert.equal(resolveProgram("w", { path: "/a:/b", isExecutable }), undefined);
    assert.equal(resolveProgram("", { path: "/a", isExecutable }), undefined);
  });
});

Deno.test("checkBrain() says what is wrong with the brain, and what to do", async (t) => {
  await using dir = await tempDir();
  await t.step("not on PATH: names the program and the PATH searched", async () => {
    const check = await checkBrain(["claude", "-p"], { env: { PATH: "/nowhere:/either" } });
    assert.equal(check.ok, false);
    assert.match(check.note, /"claude" can't be run: it is not on its PATH \(\/nowhere:\/either\)/);
  });
  await t.step("another brain that is there: fine, nothing run", async () => {
    const brain = await fakeClaude(dir.path, "exit 99");
    const other = `${dir.path}/my-brain`;
    await Deno.rename(brain, other);
    assert.deepEqual(await checkBrain([other], { env: env("/nowhere") }), {
      ok: true,
      note: `${other} is there`,
    });
  });
  await t.step("claude logged out: what to run on the box, never /login", async () => {
    const claude = await fakeClaude(
      dir.path,
      `[ "$*" = "auth status --json" ] || exit 64
echo '{"loggedIn": false, "authMethod": "none", "apiProvider": "firstParty"}'; exit 1`,
    );
    const check = await checkBrain(["claude", "-p"], { env: env(dir.path) });
    assert.deepEqual(check, {
      ok: false,
      note: `${claude} is not logged in: ${CLAUDE_LOGIN_HINT}`,
    });
    assert.match(check.note, /claude setup-token/);
    assert.match(check.note, /CLAUDE_CODE_OAUTH_TOKEN/);
    assert.doesNotMatch(check.note, /\/login/);
  });
  await t.step("claude logged in: says how", async () => {
    const claude = await fakeClaude(
      dir.path,
      `echo '{"loggedIn": true, "authMethod": "oauth_token"}'`,
    );
    assert.deepEqual(await checkBrain(["claude"], { env: env(dir.path) }), {
      ok: true,
      note: `${claude} is logged in (oauth_token)`,
    });
  });
  await t.step("a status command that hangs: bounded, and unknown", async () => {
    const claude = await fakeClaude(dir.path, "exec sleep 30");
    const started = performance.now();
    const check = await checkBrain(["claude"], { env: env(dir.path), timeoutMs: 200 });
    assert.ok(performance.now() - started < 5000);
    assert.deepEqual(check, {
      note: `could not tell whether ${claude} is logged in: \`claude auth status\` took over 0.2 s`,
    });
  });
  await t.step("an older CLI without the command: unknown, with what it said", async () => {
    await fakeClaude(dir.path, `echo "error: unknown command 'auth'" >&2; exit 1`);
    const check = await checkBrain(["claude"], { env: env(dir.path) });
    assert.equal(check.ok, undefined);
    assert.match(check.note, /exited 1 and said "error: unknown command 'auth'"$/);
  });
});

/** The folder of a real `claude` on PATH (CI installs one), if any. */
function realClaude(): string | undefined {
  return (Deno.env.get("PATH") ?? "").split(":").find((dir) => {
    try {
      return dir !== "" && Deno.statSync(`${dir}/claude`).isFile;
    } catch {
      return false;
    }
  });
}

Deno.test({
  name:
    "checkBrain() asks the real Claude CLI, offline: without credentials it is not logged in, with a token it is",
  ignore: realClaude() === undefined,
  async fn() {
    await using home = await tempDir("coord-claude-home-");
    const base = { PATH: `${realClaude()}:/usr/bin:/bin`, HOME: home.path };
    const out = await checkBrain(["claude", "-p"], { env: base, timeoutMs: 30_000 });
    assert.equal(out.ok, false, out.note);
    assert.match(out.note, /is not logged in: on the box, run `claude setup-token`/);
    const withToken = { ...base, CLAUDE_CODE_OAUTH_TOKEN: "sk-ant-oat01-not-a-real-one" };
    const inside = await checkBrain(["claude", "-p"], { env: withToken, timeoutMs: 30_000 });
    assert.equal(inside.ok, true, inside.note);
    assert.match(inside.note, /is logged in \(oauth_token\)$/);
  },
});
