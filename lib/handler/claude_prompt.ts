/**
 * The Claude driver tells the CLI about `COORD_SEND_DIR` in one line of appended system prompt,
 * so that the default brain sends files without a persona saying how. The line joins whatever
 * the configured command appends already (`shared/system_prompt.ts`: the CLI takes one appended
 * prompt): added to an `--append-system-prompt` text; for an `--append-system-prompt-file`, the
 * file's text and the line are written to a file of the message's own, named instead. A persona
 * file that can't be read is left as it is, without the line (the brain still has the variable).
 *
 * @module
 */

import type { Config } from "../shared/config.ts";
import type { Logger } from "../shared/log.ts";
import { attachmentDir } from "../shared/attachments.ts";
import { sendDir } from "../shared/outgoing_files.ts";
import { promptFile, promptFlag } from "../shared/system_prompt.ts";

/** The line, for a message whose files go in `dir`. */
export function sendDirLine(dir: string): string {
  return `To send the person a file (a chart, a PDF, a file you made or changed), write it into ` +
    `the folder ${dir} (also in $COORD_SEND_DIR): every file there when you give your answer ` +
    `reaches their phone after it, images as photos. Say in your answer what you sent.`;
}

/** Options for {@linkcode withSendDirLine}. */
export interface SendDirLineOptions {
  /** The message's send folder. Required. */
  dir: string;
  /** The brain's working folder (a relative persona path is the CLI's, there). Required. */
  workdir: string;
  /** Where the persona and the line are written for a command that appends a file. Required. */
  mergedPath: string;
  /** Reads a file. Default: `Deno.readTextFileSync`. */
  readFile?: (path: string) => string;
  /** Writes a file. Default: `Deno.writeTextFileSync`. */
  writeFile?: (path: string, text: string) => void;
  /** Told when the persona file could not be read or the merged file written. */
  onError?: (error: unknown) => void;
}

/** The Claude command with the line appended to its system prompt (see the module doc). */
export function withSendDirLine(
  command: readonly string[],
  options: SendDirLineOptions,
): string[] {
  const { dir, workdir, mergedPath } = options;
  const { readFile = Deno.readTextFileSync, writeFile = Deno.writeTextFileSync } = options;
  const line = sendDirLine(dir);
  const flag = promptFlag(command);
  if (flag === undefined) return [...command, `--append-system-prompt=${line}`];
  let replacement: string;
  if (flag.kind === "text") {
    replacement = `--append-system-prompt=${flag.value}\n\n${line}`;
  } else {
    try {
      const persona = readFile(promptFile(command, workdir)!);
      writeFile(mergedPath, `${persona.replace(/\s+$/, "")}\n\n${line}\n`);
    } catch (error) {
      options.onError?.(error);
      return [...command];
    }
    replacement = `--append-system-prompt-file=${mergedPath}`;
  }
  const out = [...command];
  out.splice(flag.index, flag.words, replacement);
  return out;
}

/**
 * The brain command for message `updateId`: a Claude brain's with the line (its merged persona,
 * if any, in the message's attachment folder), any other as configured.
 */
export function brainCommandFor(
  config: Config,
  message: { updateId: number; log: Logger },
): readonly string[] {
  const { updateId, log } = message;
  if (config.brainKind !== "claude") return config.brainCommand;
  const folder = attachmentDir(config.stateDir, updateId);
  return withSendDirLine(config.brainCommand, {
    dir: sendDir(config.stateDir, updateId),
    workdir: config.brainWorkdir,
    mergedPath: `${folder}/system-prompt.md`,
    writeFile: (path, text) => {
      Deno.mkdirSync(folder, { recursive: true });
      Deno.writeTextFileSync(path, text);
    },
    onError: (error) =>
      log.warn("update {updateId}: the brain is not told of COORD_SEND_DIR: {error}", {
        updateId,
        error: String(error),
      }),
  });
}
