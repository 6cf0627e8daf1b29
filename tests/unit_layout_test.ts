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
