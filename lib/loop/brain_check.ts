/**
 * The brain, checked once at start, so that a box where it can't work says so in the journal and
 * in `/status` before the first message finds out: is its program on its PATH, and, for the Claude
 * Code CLI (the default brain), is it logged in? The CLI is asked with its own status command
 * (`claude auth status --json`, which reads its credentials and needs no network), under a time
 * limit, in the environment and folder a brain gets.
 *
 * Nothing here stops the bot: a brain that isn't ready is a warning, and the bot answers every
 * message with a ⚠️ that says the same.
 *
 * @module
 */

import { CLAUDE_LOGIN_HINT } from "../shared/claude_login.ts";
import { runTree } from "../shared/process_tree.ts";

/** What the check found. */
export interface BrainCheck {
  /** True: the brain can work; false: it can't, as things are; undefined: couldn't tell. */
  ok?: boolean;
  /** One sentence for the person: what was found and, when something is wrong, what to do. */
  note: string;
}

/** Options for {@linkcode checkBrain}. */
export interface BrainCheckOptions {
  /** The environment a brain gets (no token): its `PATH` is searched. Required. */
  env: Record<string, string>;
  /** The brain's working folder. Default: ours. */
  cwd?: string;
  /** The longest the CLI's status command may take. Default: 10 000 ms. */
  timeoutMs?: number;
  /** Ends the check (the bot stops): resolves with what is known. */
  signal?: AbortSignal;
  /** Tells whether a path is an executable file. Default: `stat`'s answer. */
  isExecutable?: (path: string) => boolean;
}

/** Checks the brain `argv` (see the module doc); never throws. */
export async function checkBrain(
  argv: readonly string[],
  options: BrainCheckOptions,
): Promise<BrainCheck> {
  const { env, isExecutable = executableFile } = options;
  const program = argv[0] ?? "";
  const path = env.PATH ?? "";
  const found = resolveProgram(program, { path, isExecutable });
  if (found === undefined) {
    const where = program.includes("/")
      ? "there is no executable file"
      : `it is not on its PATH (${path})`;
    return {
      ok: false,
      note:
        `the brain's program "${program}" can't be run: ${where}; every message fails until it is installed (or COORD_BRAIN_CMD names another)`,
    };
  }
  if (basename(program) !== "claude") return { ok: true, note: `${found} is there` };
  return await claudeLogin(found, options);
}

/** Options for {@linkcode resolveProgram}. */
export interface ResolveOptions {
  /** A PATH value: folders separated by colons (an empty entry is the working folder). Required. */
  path: string;
  /** Tells whether a path is an executable file. Required. */
  isExecutable: (path: string) => boolean;
}

/** Where `program` is found, as `execvp(3)` would find it; undefined when it isn't. */
export function resolveProgram(program: string, options: ResolveOptions): string | undefined {
  const { path, isExecutable } = options;
  if (program === "") return undefined;
  if (program.includes("/")) return isExecutable(program) ? program : undefined;
  for (const dir of path.split(":")) {
    const candidate = `${dir === "" ? "." : dir.replace(/\/+$/, "")}/${program}`;
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Asks the Claude CLI whether it is logged in. */
async function claudeLogin(claude: string, options: BrainCheckOptions): Promise<BrainCheck> {
  const { env, cwd, timeoutMs = 10_000, signal } = options;
  const result = await runTree(claude, {
    args: ["auth", "status", "--json"],
    env,
    cwd,
    timeoutMs,
    signal,
  });
  const asked = "`claude auth status`";
  if (result.timedOut) {
    return {
      note: `could not tell whether ${claude} is logged in: ${asked} took over ${
        timeoutMs / 1000
      } s`,
    };
  }
  if (result.aborted) return { note: `${claude} is there; its login was not checked` };
  const status = parseStatus(result.stdout);
  if (status === undefined) {
    const said = firstLine(result.stderr) ?? firstLine(result.stdout) ?? "nothing";
    const how = result.spawnError ?? `${asked} exited ${result.code} and said ${said}`;
    return { note: `could not tell whether ${claude} is logged in: ${how}` };
  }
  if (!status.loggedIn) {
    return { ok: false, note: `${claude} is not logged in: ${CLAUDE_LOGIN_HINT}` };
  }
  const method = status.authMethod === undefined ? "" : ` (${status.authMethod})`;
  return { ok: true, note: `${claude} is logged in${method}` };
}

/** The fields of `claude auth status --json` that matter here; undefined when it isn't that. */
function parseStatus(stdout: string): { loggedIn: boolean; authMethod?: string } | undefined {
  try {
    const parsed = JSON.parse(stdout);
    if (typeof parsed?.loggedIn !== "boolean") return undefined;
    const method = typeof parsed.authMethod === "string" ? parsed.authMethod : undefined;
    return { loggedIn: parsed.loggedIn, authMethod: method };
  } catch {
    return undefined;
  }
}

function firstLine(text: string): string | undefined {
  const line = text.split("\n").map((l) => l.trim()).find((l) => l !== "");
  return line === undefined ? undefined : JSON.stringify(line.slice(0, 200));
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function executableFile(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}
