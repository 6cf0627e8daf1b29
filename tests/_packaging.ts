/**
 * What the packaging tests share: the tools they need (missing ones fail in CI, and are ignored
 * elsewhere), running a tool, Nix evaluation of the project's files, and nix/package.nix with
 * stand-ins for the nixpkgs functions it calls.
 *
 * @module
 */

import assert from "node:assert/strict";
import { projectPath } from "./_helpers.ts";

export const IN_CI = (Deno.env.get("CI") ?? "") !== "";

/** The absolute path of `name` on PATH, if any. */
export function which(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && (info.mode ?? 0) & 0o111) return `${dir}/${name}`;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** `ignore` for a test that needs these tools: only when one is missing and we're not in CI. */
export function needs(...tools: string[]): boolean {
  return !IN_CI && tools.some((tool) => which(tool) === undefined);
}

/** Fails with a clear message when a tool is missing (reached only in CI). */
export function requireTool(name: string): void {
  if (which(name) !== undefined) return;
  const fromCi = ["nix", "nix-instantiate", "systemd-analyze", "shellcheck"].includes(name);
  assert.fail(
    fromCi
      ? `${name} is not installed: .ci/run installs it (apt-get install nix-bin systemd shellcheck)`
      : `${name} is not installed`,
  );
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  if (!command.includes("/")) requireTool(command);
  const { cwd = projectPath(""), env = {} } = options;
  const out = await new Deno.Command(command, {
    args,
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

export function assertOk(result: Run, what: string): void {
  assert.equal(result.code, 0, `${what} failed:\n${result.stdout}${result.stderr}`);
}

/** Nix as these machines have it: no build users, flakes on. */
export const NIX_ENV = {
  NIX_CONFIG: "build-users-group =\nexperimental-features = nix-command flakes",
};

/** `nix-instantiate --eval --strict --json` of an expression, parsed. */
export async function nixEval(expression: string): Promise<unknown> {
  const result = await run("nix-instantiate", ["--eval", "--strict", "--json", "-E", expression], {
    env: NIX_ENV,
  });
  assertOk(result, `nix-instantiate --eval ${expression}`);
  return JSON.parse(result.stdout);
}

/** A file of the project as a Nix path expression (safe for any characters in the path). */
export function nixPath(relative: string): string {
  return `(/. + ${JSON.stringify(projectPath(relative))})`;
}

/** nix/package.nix, evaluated with stand-ins for the nixpkgs functions it calls. */
export function packageExpression(
  version: string,
  registry: string | null = "https://npm.example/r/",
): string {
  return `
    let
      store = name: "/nix/store/00000000000000000000000000000000-\${name}";
      pkg = import ${nixPath("nix/package.nix")} {
        lib = import ${nixPath("tests/nix-stand-in/lib.nix")};
        deno = { version = "${version}"; outPath = store "deno"; };
        nodejs = { outPath = store "nodejs"; };
        cacert = { outPath = store "cacert"; };
        writeShellApplication = args: args;
        runCommand = name: env: script: env // { inherit name script; outPath = store name; };
        fetchurl = args: args // { outPath = store args.name; };
        npmRegistry = ${registry === null ? "null" : JSON.stringify(registry)};
      };
    in pkg`;
}
