/**
 * The layout shows the two kinds of process: `lib/loop/` is the poll process's, `lib/handler/`
 * the handler processes' (the desk and the message handlers), `lib/shared/` both. Neither side
 * imports the other, and shared code imports neither; the entry points only wire their own side.
 */

import assert from "node:assert/strict";
import { projectPath } from "./_helpers.ts";

/** The relative `.ts` imports of a file, resolved to paths from the project root. */
function importsOf(file: string): string[] {
  const text = Deno.readTextFileSync(projectPath(file));
  const dir = file.split("/").slice(0, -1);
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+\.ts)["']/g)) {
    const parts = [...dir];
    for (const part of match[1].split("/")) {
      if (part === "..") parts.pop();
      else if (part !== ".") parts.push(part);
    }
    found.push(parts.join("/"));
  }
  return found;
}

function filesIn(folder: string): string[] {
  return [...Deno.readDirSync(projectPath(folder))]
    .filter((e) => e.isFile && e.name.endsWith(".ts"))
    .map((e) => `${folder}/${e.name}`);
}

/** Which side each file may import from. */
const ALLOWED: Record<string, string[]> = {
  "lib/loop": ["lib/loop/", "lib/shared/"],
  "lib/handler": ["lib/handler/", "lib/shared/"],
  "lib/shared": ["lib/shared/"],
};

Deno.test("lib/loop and lib/handler never import each other, and lib/shared imports neither", () => {
  const wrong: string[] = [];
  for (const [folder, allowed] of Object.entries(ALLOWED)) {
    for (const file of filesIn(folder)) {
      for (const target of importsOf(file)) {
        if (target.startsWith("lib/") && !allowed.some((a) => target.startsWith(a))) {
          wrong.push(`${file} imports ${target}`);
        }
      }
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("main.ts wires the loop's side only, handler.ts the handler's", () => {
  const wrong = [
    ...importsOf("main.ts").filter((t) => t.startsWith("lib/handler/")).map((t) => `main.ts: ${t}`),
    ...importsOf("handler.ts").filter((t) => t.startsWith("lib/loop/")).map((t) =>
      `handler.ts: ${t}`
    ),
  ];
  assert.deepEqual(wrong, []);
});

Deno.test("lib/ holds nothing but the three process folders", () => {
  const entries = [...Deno.readDirSync(projectPath("lib"))].map((e) => e.name).sort();
  assert.deepEqual(entries, ["handler", "loop", "shared"]);
});

/** Each `lib/` module is one concept a newcomer reads whole: this long at most. */
const MAX_MODULE_LINES = 300;
/** And each function fits on a screen. */
const MAX_FUNCTION_LINES = 60;

const LIB_FILES = Object.keys(ALLOWED).flatMap(filesIn);

Deno.test(`no lib/ module is longer than ${MAX_MODULE_LINES} lines`, () => {
  const long = LIB_FILES.map((file) => ({
    file,
    lines: Deno.readTextFileSync(projectPath(file)).split("\n").length - 1,
  })).filter(({ lines }) => lines > MAX_MODULE_LINES);
  assert.deepEqual(long, []);
});

/**
 * The functions of a formatted file and their lengths, by layout (`deno fmt` keeps it regular): a
 * declaration, method or arrow whose header ends in `{`, or whose parameters open a line that a
 * `) … {` at the same indent closes, runs to the next line that closes at that indent.
 */
export function functionLengths(text: string): { line: number; name: string; lines: number }[] {
  const lines = text.split("\n");
  const modifiers = String.raw`(?:export\s+)?(?:(?:async|static|get|set|override)\s+)*`;
  const named = String.raw`(?:function\*?\s+)?(#?\w+)\s*(?:<[^(]*>)?\(`;
  const oneLine = new RegExp(String.raw`^(\s*)${modifiers}${named}.*\)(?::.*)?\s*\{$`);
  const opening = new RegExp(String.raw`^(\s*)${modifiers}${named}$`);
  const arrow = /^(\s*)(?:.*?\b(\w+)\s*=\s*)?(?:async\s+)?\([^()]*\)(?::[^=]*)?\s*=>\s*\{$/;
  const keywords = new Set(["if", "for", "while", "switch", "catch", "with", "return"]);
  const found = [];
  for (let i = 0; i < lines.length; i++) {
    const match = lines[i].match(oneLine) ?? lines[i].match(arrow) ??
      lines[i].match(opening);
    if (!match || keywords.has(match[2] ?? "")) continue;
    const indent = match[1];
    let from = i;
    if (!lines[i].endsWith("{")) {
      // Parameters over several lines: a function only if they close with `) … {`.
      from = lines.findIndex((l, j) => j > i && l.startsWith(indent) && l[indent.length] !== " ");
      if (from < 0 || !/^\).*\{$/.test(lines[from].slice(indent.length))) continue;
    }
    const end = lines.findIndex((l, j) => j > from && l.startsWith(`${indent}}`));
    if (end > i) found.push({ line: i + 1, name: match[2] ?? "(arrow)", lines: end - i + 1 });
  }
  return found;
}

Deno.test(`no function in lib/ is longer than ${MAX_FUNCTION_LINES} lines`, () => {
  const long = LIB_FILES.flatMap((file) =>
    functionLengths(Deno.readTextFileSync(projectPath(file)))
      .filter((f) => f.lines > MAX_FUNCTION_LINES)
      .map((f) => `${file}:${f.line} ${f.name} (${f.lines} lines)`)
  );
  assert.deepEqual(long, []);
});

Deno.test("functionLengths() measures declarations, methods and arrows, and skips control flow", () => {
  const text = [
    "export async function alpha(a: number): Promise<void> {",
    "  if (a) {",
    "    return;",
    "  }",
    "}",
    "class B {",
    "  async #beta(x: string) {",
    "    const gamma = (y: number) => {",
    "      return y;",
    "    };",
    "    call(",
    "      x,",
    "    );",
    "  }",
    "}",
    "function delta(",
    "  a: number,",
    "): void {",
    "  a++;",
    "}",
  ].join("\n");
  assert.deepEqual(functionLengths(text), [
    { line: 1, name: "alpha", lines: 5 },
    { line: 7, name: "#beta", lines: 8 },
    { line: 8, name: "gamma", lines: 3 },
    { line: 16, name: "delta", lines: 5 },
  ]);
});
