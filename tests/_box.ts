/**
 * `forge-coordinator send` and `ask` for the end-to-end tests: run exactly as `deno task send`
 * and `deno task ask` run them (deno.json's flags: no network, no token), against a test bot's
 * state folder.
 *
 * @module
 */

import { type BotProcess, denoDir, projectPath } from "./_helpers.ts";

/** What a command run came to. */
export interface BoxRun {
  code: number;
  stderr: string;
  /** When it exited (`performance.timeOrigin + performance.now()`, the simulator's clock). */
  exitedAt: number;
}

/** Options for {@linkcode runBox}. */
export interface RunBoxOptions {
  /** Its stdin. Default: none. */
  stdin?: string;
  /** Settings on top of the bot's (a value of `undefined` removes one). */
  env?: Record<string, string | undefined>;
  /** Authorized users. Default: `[1001]`, as `startBot`'s. */
  authorized?: number[];
}

/** Runs `deno task <kind> -- <args>` as deno.json says, for `bot`'s state folder. */
export async function runBox(
  bot: Pick<BotProcess, "dirs">,
  kind: "send" | "ask",
  args: string[],
  options: RunBoxOptions = {},
): Promise<BoxRun> {
  const { stdin, authorized = [1001] } = options;
  const config = JSON.parse(Deno.readTextFileSync(projectPath("deno.json")));
  const words = String(config.tasks[kind]).split(/\s+/);
  if (words[0] !== "deno") throw new Error(`Unexpected ${kind} task: ${config.tasks[kind]}`);
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: bot.dirs.root,
    NO_COLOR: "1",
    DENO_DIR: denoDir(),
    COORD_STATE_DIR: bot.dirs.state,
    COORD_AUTHORIZED_USER_IDS: authorized.join(","),
  };
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const child = new Deno.Command(Deno.execPath(), {
    // As `deno task send -- …` passes them: its `--` too.
    args: [...words.slice(1), "--", ...args],
    cwd: projectPath(""),
    env,
    clearEnv: true,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    stderr: new TextDecoder().decode(out.stderr),
    exitedAt: performance.timeOrigin + performance.now(),
  };
}

/** The names in a folder (none when it doesn't exist). */
export function namesIn(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** The first fenced block of `lang` in the README after the text `after`, without its fences. */
export function readmeBlock(after: string, lang: string): string {
  const readme = Deno.readTextFileSync(projectPath("README.md"));
  const at = readme.indexOf(after);
  if (at < 0) throw new Error(`README.md has no "${after}"`);
  const start = readme.indexOf("```" + lang + "\n", at);
  if (start < 0) throw new Error(`README.md has no ${lang} block after "${after}"`);
  const body = readme.slice(start + lang.length + 4);
  return body.slice(0, body.indexOf("\n```"));
}

/** The text between `<<'EOF'` after `marker` and its `EOF` line, in `block`. */
export function heredoc(block: string, marker: string): string {
  const start = block.indexOf("\n", block.indexOf(marker)) + 1;
  return block.slice(start, block.indexOf("\nEOF", start)) + "\n";
}
