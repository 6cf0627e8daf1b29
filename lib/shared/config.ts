/**
 * The bot's configuration: read once from the environment, at the edge, into one typed object.
 *
 * Every malformed or missing setting is a {@linkcode ConfigError} that names its variable; the
 * entry points turn it into one line on stderr and exit status 78 (EX_CONFIG).
 *
 * This module is the table: which variable fills which field, and its default (`parseConfig`), and
 * the one place that reads the real environment (`loadConfig`). Every variable the bot reads is
 * named here (the packaging test reads them from this file). Parsing one value is
 * `config_values.ts`; the token and the folders, checked against the system, `config_files.ts`.
 *
 * @module
 */

import {
  checkEnvFile,
  checkLockDir,
  checkPersonaFile,
  defaultLockDir,
  defaultStateDir,
  expandUnitPath,
  type FolderInfo,
  readToken,
  tokenSource,
} from "./config_files.ts";
import {
  ConfigError,
  type NumberRule,
  parseArgv,
  parseChatIds,
  parseChoice,
  parseFlag,
  parseNumber,
  parseRootUrl,
  parseSecondsAsMs,
  parseUserIds,
} from "./config_values.ts";

/** The validated configuration shared by the poll loop and the handlers. */
export interface Config {
  /** The bot token. Never logged, never in argv, never in a brain's environment. */
  token: string;
  /** Where the token came from (`TELEGRAM_BOT_TOKEN`, or the file): for a line that says so. */
  tokenSource: string;
  /** Telegram user ids whose messages reach the brain. */
  authorizedUserIds: ReadonlySet<number>;
  /**
   * The groups (negative ids) whose authorized members' messages may reach the brain, besides an
   * authorized user's own private chat, which always may; `undefined` when
   * `COORD_ALLOWED_CHAT_IDS` is unset: no group.
   */
  allowedChatIds?: ReadonlySet<number>;
  /** The brain's working folder (created 0700 at start). */
  brainWorkdir: string;
  /** Bot API root without a trailing slash. */
  apiRoot: string;
  /** The brain's argv. */
  brainCommand: readonly string[];
  /** One brain attempt's limit. */
  brainTimeoutMs: number;
  /** Brain attempts per message. */
  brainMaxAttempts: number;
  /** Messages worked on at once (download, transcription, brain, reply), across chats. */
  maxConcurrentHandlers: number;
  /** Journaled messages waiting or running beyond which the poll loop stops fetching. */
  maxBacklog: number;
  /** The longest a download (`getFile` and the transfer) may take, in ms. */
  downloadTimeoutMs: number;
  /** The longest a download may go without receiving a byte, in ms. */
  downloadStallMs: number;
  /** The longest the voice transcriber may run, in ms. */
  transcribeTimeoutMs: number;
  /** How long one reply call keeps waiting out transient failures, in ms. */
  replyPatienceMs: number;
  /** An answer longer than this many messages goes as its head plus one document. */
  maxReplyParts: number;
  /** Where the per-chat lock files live. */
  lockDir: string;
  /** Heartbeat and other state. */
  stateDir: string;
  /** The voice transcriber's argv (the audio file's path is appended), if set up. */
  transcribeCommand?: readonly string[];
  /** The `getUpdates` long-poll timeout in seconds. */
  pollTimeoutS: number;
  /** Handlers started for one message (across restarts) before the bot gives up on it. */
  poisonLimit: number;
  /** Handlers kept started ahead of their messages, for a fast acknowledgement. */
  spareHandlers: number;
  /** A reply to a message that waited at least this long for its turn says how long, in ms. */
  waitNoteMs: number;
  /** The brain's protocol (`COORD_BRAIN_KIND`): the Claude driver, or plain stdin/stdout. */
  brainKind: BrainKind;
  /** Add the Claude brain's cost, duration and turns under each answer (`COORD_SHOW_COST=1`). */
  showCost: boolean;
  /** What a plain message does while its chat's brain works (`COORD_BUSY_MODE`): wait, or steer. */
  busyMode: "queue" | "steer";
  /** Who answers a Claude brain's permission asks (`COORD_APPROVALS`): nobody, or the phone. */
  approvals: "off" | "phone";
  /** How long an ask waits for the person before it is denied, in ms. */
  approvalTimeoutMs: number;
}

/** The brain protocols (see {@linkcode Config.brainKind}). */
export type BrainKind = "claude" | "plain";

/** Where {@linkcode parseConfig} reads from: passed in so that it stays pure and testable. */
export interface ConfigSources {
  /** The environment. */
  env: Readonly<Record<string, string | undefined>>;
  /** Our user id (for the `/run/user/<uid>` default), or null where unknown; asked only if needed. */
  uid(): number | null;
  /** Reads a whole text file (the token file); throws when it can't. */
  readTextFile(path: string): string;
  /** Tells whether a path is a readable regular file (the persona file). */
  isReadableFile(path: string): boolean;
  /**
   * The owner and mode of a folder, or null when it doesn't exist. When given, the lock folder is
   * checked with it: it must be ours and writable by nobody else.
   */
  folderInfo?(path: string): FolderInfo | null;
}

/** Environment variables that carry the token: they never reach a brain. */
export const TOKEN_VARIABLES: readonly string[] = ["TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_TOKEN_FILE"];

/**
 * Variables meant for the poll process alone, never passed to handlers or brains: systemd's
 * credentials folder (the token file lives there), and its notification socket and watchdog
 * (a child that pinged it could make a stalled loop look alive).
 */
export const POLL_PROCESS_VARIABLES: readonly string[] = [
  "CREDENTIALS_DIRECTORY",
  "NOTIFY_SOCKET",
  "WATCHDOG_USEC",
  "WATCHDOG_PID",
];

/** The brain when `COORD_BRAIN_CMD` is not set: the Claude Code CLI in print mode. */
const DEFAULT_BRAIN_COMMAND: readonly string[] = ["claude", "-p"];

/**
 * Parses and validates the whole configuration; throws {@linkcode ConfigError} on the first fault.
 *
 * The returned object is the settings table: each field, the variable it comes from, its default.
 */
export function parseConfig(sources: ConfigSources): Config {
  const get = (name: string) => {
    const value = sources.env[name]?.trim();
    return value === "" ? undefined : value;
  };
  const number = (name: string, rule: NumberRule) => parseNumber(name, get(name), rule);
  const seconds = (name: string, rule: { fallback: number; min: number }) =>
    parseSecondsAsMs(name, get(name), rule);

  // First: without its settings file, every other setting would look missing.
  checkEnvFile(get("COORD_ENV_FILE"), (path) => sources.isReadableFile(path));
  const personaFile = get("COORD_PERSONA_FILE");
  checkPersonaFile(personaFile, (path) => sources.isReadableFile(path));
  const brainCommand = parseArgv("COORD_BRAIN_CMD", get("COORD_BRAIN_CMD")) ??
    defaultBrainCommand(personaFile);
  const brainKind = parseChoice("COORD_BRAIN_KIND", get("COORD_BRAIN_KIND"), BRAIN_KINDS);
  const stateDir = get("COORD_STATE_DIR") ?? defaultStateDir(get("XDG_STATE_HOME"), get("HOME"));
  const lockDir = get("COORD_LOCK_DIR") ?? defaultLockDir(get("XDG_RUNTIME_DIR"), sources.uid);
  if (sources.folderInfo !== undefined) {
    checkLockDir(lockDir, { info: sources.folderInfo(lockDir), uid: () => sources.uid() });
  }

  const token = { direct: get("TELEGRAM_BOT_TOKEN"), file: get("TELEGRAM_BOT_TOKEN_FILE") };
  return {
    token: readToken({
      ...token,
      readTextFile: (path) => sources.readTextFile(path),
      expand: (path) => expandUnitPath(path, sources.env),
    }),
    tokenSource: tokenSource(token, get("CREDENTIALS_DIRECTORY")),
    authorizedUserIds: parseUserIds("COORD_AUTHORIZED_USER_IDS", get("COORD_AUTHORIZED_USER_IDS")),
    allowedChatIds: parseChatIds("COORD_ALLOWED_CHAT_IDS", get("COORD_ALLOWED_CHAT_IDS")),
    brainWorkdir: get("COORD_BRAIN_WORKDIR") ?? `${stateDir.replace(/\/+$/, "")}/brain`,
    apiRoot: parseRootUrl("COORD_API_ROOT", get("COORD_API_ROOT") ?? "https://api.telegram.org"),
    brainCommand,
    brainTimeoutMs: seconds("COORD_BRAIN_TIMEOUT_S", { fallback: 300, min: 0.001 }),
    brainMaxAttempts: number("COORD_BRAIN_MAX_ITERS", { fallback: 3, min: 1 }),
    maxConcurrentHandlers: number("COORD_MAX_CONCURRENT_BRAINS", { fallback: 4, min: 1 }),
    maxBacklog: number("COORD_MAX_BACKLOG", { fallback: 1000, min: 1 }),
    downloadTimeoutMs: seconds("COORD_DOWNLOAD_TIMEOUT_S", { fallback: 600, min: 0.001 }),
    downloadStallMs: seconds("COORD_DOWNLOAD_STALL_S", { fallback: 60, min: 0.001 }),
    transcribeTimeoutMs: seconds("COORD_TRANSCRIBE_TIMEOUT_S", { fallback: 300, min: 0.001 }),
    replyPatienceMs: seconds("COORD_REPLY_PATIENCE_S", { fallback: 3600, min: 0 }),
    maxReplyParts: number("COORD_MAX_REPLY_PARTS", { fallback: 5, min: 1 }),
    lockDir,
    stateDir,
    transcribeCommand: parseArgv("COORD_TRANSCRIBE_CMD", get("COORD_TRANSCRIBE_CMD")),
    pollTimeoutS: number("COORD_POLL_TIMEOUT_S", POLL_TIMEOUT_RULE),
    poisonLimit: number("COORD_POISON_LIMIT", { fallback: 3, min: 1 }),
    spareHandlers: number("COORD_SPARE_HANDLERS", { fallback: 0, min: 0, max: 16 }),
    waitNoteMs: seconds("COORD_WAIT_NOTE_S", { fallback: 60, min: 0 }),
    brainKind: brainKind ?? kindOfCommand(brainCommand),
    showCost: parseFlag("COORD_SHOW_COST", get("COORD_SHOW_COST")),
    busyMode: parseChoice("COORD_BUSY_MODE", get("COORD_BUSY_MODE"), ["queue", "steer"]) ?? "queue",
    approvals: parseChoice("COORD_APPROVALS", get("COORD_APPROVALS"), ["off", "phone"]) ?? "off",
    approvalTimeoutMs: seconds("COORD_APPROVAL_TIMEOUT_S", { fallback: 900, min: 1 }),
  };
}

/** `COORD_POLL_TIMEOUT_S`: read by `parseConfig` and by the health check alike. */
const POLL_TIMEOUT_RULE: NumberRule = { fallback: 30, min: 0, max: 50 };

/** The settings `forge-coordinator health` needs: no token, no network. */
export interface HealthSettings {
  stateDir: string;
  pollTimeoutS: number;
}

/** Parses only what the health check needs; throws {@linkcode ConfigError} like `parseConfig`. */
export function parseHealthSettings(
  env: Readonly<Record<string, string | undefined>>,
): HealthSettings {
  const get = (name: string) => env[name]?.trim() || undefined;
  return {
    stateDir: get("COORD_STATE_DIR") ?? defaultStateDir(get("XDG_STATE_HOME"), get("HOME")),
    pollTimeoutS: parseNumber(
      "COORD_POLL_TIMEOUT_S",
      get("COORD_POLL_TIMEOUT_S"),
      POLL_TIMEOUT_RULE,
    ),
  };
}

const BRAIN_KINDS: readonly BrainKind[] = ["claude", "plain"];

/** `claude` for a command whose program is named `claude` (wherever it lives), else `plain`. */
export function kindOfCommand(command: readonly string[]): BrainKind {
  return command[0].split("/").at(-1) === "claude" ? "claude" : "plain";
}

function defaultBrainCommand(personaFile: string | undefined): string[] {
  return personaFile === undefined
    ? [...DEFAULT_BRAIN_COMMAND]
    : [...DEFAULT_BRAIN_COMMAND, "--append-system-prompt-file", personaFile];
}

/** Options for {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /**
   * Check that the files named by the settings can be read. Default: true. The handlers pass
   * false: the poll process checked them at start, and a handler is not allowed to read them (the
   * brain reads the persona, not the handler).
   */
  checkFiles?: boolean;
  /**
   * The token, when it came another way than the environment (a handler gets it over its stdin,
   * `line.ts`). Default: from `TELEGRAM_BOT_TOKEN` or `TELEGRAM_BOT_TOKEN_FILE`.
   */
  token?: string;
}

/** Reads the configuration from this process's real environment. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const { checkFiles = true, token } = options;
  const env: Record<string, string | undefined> = Deno.env.toObject();
  if (token !== undefined) {
    env.TELEGRAM_BOT_TOKEN = token;
    delete env.TELEGRAM_BOT_TOKEN_FILE;
  }
  return parseConfig({
    folderInfo: checkFiles ? folderInfo : undefined,
    env,
    uid() {
      try {
        return Deno.uid();
      } catch {
        return null;
      }
    },
    readTextFile: (path) => Deno.readTextFileSync(path),
    isReadableFile(path) {
      if (!checkFiles) return true;
      try {
        return Deno.statSync(path).isFile && (Deno.openSync(path).close(), true);
      } catch {
        return false;
      }
    },
  });
}

function folderInfo(path: string): FolderInfo | null {
  try {
    const info = Deno.statSync(path);
    return { uid: info.uid, mode: info.mode };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new ConfigError(
      "COORD_LOCK_DIR",
      `Cannot use COORD_LOCK_DIR "${path}": ${error instanceof Error ? error.name : "unreadable"}`,
    );
  }
}
