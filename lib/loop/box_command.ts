/**
 * `forge-coordinator send` and `forge-coordinator ask`: messages from the box to the phone, handed
 * to the running bot through its spool (`shared/spool_job.ts`). They need no token and no network,
 * only the state folder; a job written while the bot is down is taken when it starts.
 *
 * ```
 * send [--chat ID] [--file PATH]... [TEXT... | -]   a message (and files) to deliver
 * ask  [--chat ID] PROMPT... | -                    a prompt for the brain, queued in the chat
 * ```
 *
 * `--chat` defaults to the first authorized user's private chat; a chat the bot may not write to
 * is refused here. Exit status 0 once the job is in the spool; 64 (EX_USAGE) for bad arguments,
 * 65 (EX_DATAERR) for what they name (a chat not allowed, a file missing or over the limit), 74
 * (EX_IOERR) when the spool can't be written, each with one line on stderr.
 *
 * @module
 */

import type { BoxSettings } from "../shared/box_settings.ts";
import { formatSize, sendableFile } from "../shared/outgoing_files.ts";
import { type JobFile, mayWriteTo, writeJob } from "../shared/spool_job.ts";

/** sysexits.h: bad arguments, bad data, and an I/O error. */
export const EX_USAGE = 64;
export const EX_DATAERR = 65;
export const EX_IOERR = 74;

/** The longest prompt of an ask (it is shown as one message, after "⏰ Scheduled: "). */
export const MAX_PROMPT = 4000;

/** Options for {@linkcode runBoxCommand}. */
export interface BoxCommandOptions {
  /** Where the spool is and who may be written to (`parseBoxSettings`). Required. */
  settings: BoxSettings;
  /** Reads the text given as `-`. Default: all of stdin. */
  readStdin?: () => Promise<string>;
  /** Prints the one line of a failure. Default: `console.error`. */
  printError?: (line: string) => void;
  /** The clock, ms since the epoch. Default: `Date.now`. */
  now?: () => number;
}

/** Thrown for a failure the command reports as one line with its exit status. */
class BoxCommandError extends Error {
  override name = "BoxCommandError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Runs `send` or `ask` with `args`; returns the exit status (see the module doc). */
export async function runBoxCommand(
  kind: "send" | "ask",
  args: readonly string[],
  options: BoxCommandOptions,
): Promise<number> {
  const { settings, printError = console.error, now = Date.now } = options;
  const { readStdin = () => new Response(Deno.stdin.readable).text() } = options;
  try {
    const parsed = parseArgs(kind, args);
    const chatId = parsed.chat ?? [...settings.authorizedUserIds][0];
    const chats = { authorized: settings.authorizedUserIds, allowedChats: settings.allowedChatIds };
    if (!mayWriteTo(chatId, chats)) {
      const which = settings.allowedChatIds === undefined
        ? "not an authorized user's chat (COORD_AUTHORIZED_USER_IDS)"
        : "not in COORD_ALLOWED_CHAT_IDS";
      throw new BoxCommandError(EX_DATAERR, `chat ${chatId} is ${which}`);
    }
    const text = parsed.stdin ? (await readStdin()).replace(/\s+$/, "") : parsed.words.join(" ");
    checkText(kind, text, parsed.files.length);
    const files = parsed.files.map(checkFile);
    try {
      writeJob(settings.stateDir, { kind, chatId, text }, { files, now });
    } catch (error) {
      throw new BoxCommandError(
        EX_IOERR,
        `cannot write the spool in ${settings.stateDir}: ${error}`,
      );
    }
    return 0;
  } catch (error) {
    if (!(error instanceof BoxCommandError)) throw error;
    printError(`forge-coordinator ${kind}: ${error.message}`);
    return error.status;
  }
}

/** What the arguments say. */
interface Parsed {
  chat?: number;
  files: string[];
  words: string[];
  /** The text is `-`: read it from stdin. */
  stdin: boolean;
}

/** Parses the arguments; throws {@linkcode BoxCommandError} (64) for bad ones. */
function parseArgs(kind: "send" | "ask", args: readonly string[]): Parsed {
  const usage = kind === "send"
    ? "usage: send [--chat ID] [--file PATH]... [TEXT... | -]"
    : "usage: ask [--chat ID] PROMPT... | -";
  const bad = (what: string) => new BoxCommandError(EX_USAGE, `${what}; ${usage}`);
  const parsed: Parsed = { files: [], words: [], stdin: false };
  // `deno task send -- …` passes its `--` on: one in front is not the text's.
  if (args[0] === "--") args = args.slice(1);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [option, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined) throw bad(`${option} needs a value`);
      return v;
    };
    if (arg === "--") {
      parsed.words.push(...args.slice(i + 1));
      break;
    } else if (option === "--chat") {
      const chat = value();
      if (!/^-?\d+$/.test(chat) || !Number.isSafeInteger(Number(chat))) {
        throw bad(`--chat "${chat}" is not a chat id`);
      }
      parsed.chat = Number(chat);
    } else if (option === "--file" && kind === "send") {
      parsed.files.push(value());
    } else if (arg.startsWith("-") && arg !== "-") {
      throw bad(`unknown option "${arg}"`);
    } else {
      parsed.words.push(arg);
    }
  }
  if (parsed.words.includes("-")) {
    if (parsed.words.length > 1) throw bad(`"-" (read the text from stdin) comes alone`);
    parsed.stdin = true;
    parsed.words = [];
  }
  if (!parsed.stdin && parsed.words.length === 0 && parsed.files.length === 0) {
    throw bad(kind === "send" ? "nothing to send" : "no prompt");
  }
  return parsed;
}

function checkText(kind: "send" | "ask", text: string, files: number) {
  if (text.trim() === "" && (kind === "ask" || files === 0)) {
    throw new BoxCommandError(
      EX_DATAERR,
      kind === "ask" ? "the prompt is empty" : "nothing to send",
    );
  }
  if (kind === "ask" && text.length > MAX_PROMPT) {
    throw new BoxCommandError(
      EX_DATAERR,
      `the prompt is ${text.length} characters long, over ${MAX_PROMPT}`,
    );
  }
}

/** A file to send: readable, regular, under Telegram's limit. */
function checkFile(path: string): { path: string; name: string; kind: JobFile["kind"] } {
  let sendable;
  try {
    if (!Deno.statSync(path).isFile) throw new TypeError("not a regular file");
    sendable = sendableFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new BoxCommandError(EX_DATAERR, `cannot send "${path}": ${why}`);
  }
  if (sendable.kind === "too big") {
    throw new BoxCommandError(
      EX_DATAERR,
      `cannot send "${path}": it is ${formatSize(sendable.size)}, over Telegram's 50 MB for a bot`,
    );
  }
  return { path, name: path.split("/").at(-1)!, kind: sendable.kind };
}
