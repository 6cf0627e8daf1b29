/**
 * The Claude CLI's appended system prompt in a brain command: `--append-system-prompt <text>` or
 * `--append-system-prompt-file <file>` (also as `--opt=value`). The CLI takes only one of the two
 * ("Cannot use both --append-system-prompt and --append-system-prompt-file"), so a line the
 * driver adds (`lib/handler/claude_prompt.ts`) goes into whichever the command has; the handler
 * may read a persona file only because the poll process grants it (`lib/loop/launch.ts`).
 *
 * @module
 */

/** Where a command says its appended system prompt. */
export interface PromptFlag {
  /** `text`: the prompt itself; `file`: a file holding it. */
  kind: "text" | "file";
  /** The index of the flag in the command (its value follows, or is in the same word). */
  index: number;
  /** How many words the flag and its value take (2, or 1 in the `--opt=value` form). */
  words: 1 | 2;
  /** The text, or the file's path as written. */
  value: string;
}

const FLAGS = { "--append-system-prompt": "text", "--append-system-prompt-file": "file" } as const;

/** The command's appended system prompt, if it has one (the last, if it has several). */
export function promptFlag(command: readonly string[]): PromptFlag | undefined {
  let found: PromptFlag | undefined;
  for (let index = 1; index < command.length; index++) {
    const word = command[index];
    const at = word.indexOf("=");
    const name = at > 0 ? word.slice(0, at) : word;
    if (!(name in FLAGS)) continue;
    const kind = FLAGS[name as keyof typeof FLAGS];
    if (at > 0) found = { kind, index, words: 1, value: word.slice(at + 1) };
    else if (index + 1 < command.length) {
      found = { kind, index, words: 2, value: command[index + 1] };
      index++;
    }
  }
  return found;
}

/**
 * The persona file a command appends to the system prompt, as an absolute path (a relative one is
 * the CLI's, in the brain's working folder), if it names one.
 */
export function promptFile(command: readonly string[], workdir: string): string | undefined {
  const flag = promptFlag(command);
  if (flag?.kind !== "file") return undefined;
  return flag.value.startsWith("/") ? flag.value : `${workdir.replace(/\/+$/, "")}/${flag.value}`;
}
