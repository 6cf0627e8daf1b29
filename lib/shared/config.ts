/**
 * The bot's configuration: read once from the environment, at the edge, into one typed object.
 *
 * Every malformed or missing setting is a {@linkcode ConfigError} that names its variable; the
 * entry points turn it into one line on stderr and exit status 78 (EX_CONFIG).
 *
 * @module
 */

/** Exit status for a configuration error (sysexits.h EX_CONFIG). */
export const EX_CONFIG = 78;

/** The validated configuration shared by the poll loop and the handlers. */
export interface Config {
  /** The bot token. Never logged, never in argv, never in a brain's environment. */
  token: string;
  /** Telegram user ids whose messages reach the brain. */
  authorizedUserIds: ReadonlySet<number>;
  /**
   * The chats whose messages may reach the brain (private chats are the user's id, groups
   * negative); `undefined` when `COORD_ALLOWED_CHAT_IDS` is unset: any chat of an authorized user.
   */
  allowedChatIds?: ReadonlySet<number>;
  /** The brain's working folder (created 0700 at start). */
  brainWorkdir: string;
  /** Bot API root without a trailing slash. */
  apiRoot: string;
  /** The brain's argv. */
  brainCommand: readonly string[];
  /** Persona / system-prompt file handed to the brain. */
  personaFile?: string;
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
  /** Where the per-chat lock files and turn queues live. */
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
  /**
   * True when the brain is the default Claude Code CLI (`COORD_BRAIN_CMD` unset): the bot then
   * keeps one conversation per chat with `--output-format json` and `--resume`.
   */
  claudeSessions: boolean;
  /** Add the Claude brain's cost, duration and turns under each answer (`COORD_SHOW_COST=1`). */
  showCost: boolean;
}

/** A setting that is missing or malformed. */
export class ConfigError extends Error {
  /** The environment variable at fault. */
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(message);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

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
  folderInfo?(path: string): { uid: number | null; mode: number | null } | null;
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

/** Telegram's token shape: the bot id, a colon, a secret of URL-safe characters. */
const TOKEN_PATTERN = /^\d+:[A-Za-z0-9_-]+$/;

/** Parses and validates the whole configuration; throws {@linkcode ConfigError} on the first fault. */
export function parseConfig(sources: ConfigSources): Config {
  const { env } = sources;
  const get = (name: string) => {
    const value = env[name]?.trim();
    return value === "" ? undefined : value;
  };

  const personaFile = get("COORD_PERSONA_FILE");
  if (personaFile !== undefined && !sources.isReadableFile(personaFile)) {
    throw new ConfigError(
      "COORD_PERSONA_FILE",
      `Cannot read COORD_PERSONA_FILE: no readable file at "${personaFile}"`,
    );
  }
  const customBrain = parseArgv("COORD_BRAIN_CMD", get("COORD_BRAIN_CMD"));
  const brainCommand = customBrain ?? defaultBrainCommand(personaFile);
  const transcribe = get("COORD_TRANSCRIBE_CMD");
  const stateDir = get("COORD_STATE_DIR") ?? defaultStateDir(get("XDG_STATE_HOME"), get("HOME"));
  const lockDir = get("COORD_LOCK_DIR") ?? defaultLockDir(get("XDG_RUNTIME_DIR"), sources.uid);
  if (sources.folderInfo !== undefined) checkLockDir(lockDir, sources);

  return {
    token: parseToken(sources),
    authorizedUserIds: parseUserIds(get("COORD_AUTHORIZED_USER_IDS")),
    allowedChatIds: parseChatIds(get("COORD_ALLOWED_CHAT_IDS")),
    brainWorkdir: get("COORD_BRAIN_WORKDIR") ?? `${stateDir.replace(/\/+$/, "")}/brain`,
    apiRoot: parseApiRoot(get("COORD_API_ROOT") ?? "https://api.telegram.org"),
    brainCommand,
    personaFile,
    brainTimeoutMs: parseNumber("COORD_BRAIN_TIMEOUT_S", get("COORD_BRAIN_TIMEOUT_S"), {
      fallback: 300,
      integer: false,
      min: 0.001,
    }) * 1000,
    brainMaxAttempts: parseNumber("COORD_BRAIN_MAX_ITERS", get("COORD_BRAIN_MAX_ITERS"), {
      fallback: 3,
      min: 1,
    }),
    maxConcurrentHandlers: parseNumber(
      "COORD_MAX_CONCURRENT_BRAINS",
      get("COORD_MAX_CONCURRENT_BRAINS"),
      { fallback: 4, min: 1 },
    ),
    maxBacklog: parseNumber("COORD_MAX_BACKLOG", get("COORD_MAX_BACKLOG"), {
      fallback: 1000,
      min: 1,
    }),
    downloadTimeoutMs: parseNumber("COORD_DOWNLOAD_TIMEOUT_S", get("COORD_DOWNLOAD_TIMEOUT_S"), {
      fallback: 600,
      integer: false,
      min: 0.001,
    }) * 1000,
    downloadStallMs: parseNumber("COORD_DOWNLOAD_STALL_S", get("COORD_DOWNLOAD_STALL_S"), {
      fallback: 60,
      integer: false,
      min: 0.001,
    }) * 1000,
    transcribeTimeoutMs: parseNumber(
      "COORD_TRANSCRIBE_TIMEOUT_S",
      get("COORD_TRANSCRIBE_TIMEOUT_S"),
      { fallback: 300, integer: false, min: 0.001 },
    ) * 1000,
    replyPatienceMs: parseNumber("COORD_REPLY_PATIENCE_S", get("COORD_REPLY_PATIENCE_S"), {
      fallback: 3600,
      integer: false,
      min: 0,
    }) * 1000,
    maxReplyParts: parseNumber("COORD_MAX_REPLY_PARTS", get("COORD_MAX_REPLY_PARTS"), {
      fallback: 5,
      min: 1,
    }),
    lockDir,
    stateDir,
    transcribeCommand: parseArgv("COORD_TRANSCRIBE_CMD", transcribe),
    pollTimeoutS: parsePollTimeout(get("COORD_POLL_TIMEOUT_S")),
    poisonLimit: parseNumber("COORD_POISON_LIMIT", get("COORD_POISON_LIMIT"), {
      fallback: 3,
      min: 1,
    }),
    spareHandlers: parseNumber("COORD_SPARE_HANDLERS", get("COORD_SPARE_HANDLERS"), {
      fallback: 1,
      min: 0,
      max: 16,
    }),
    waitNoteMs: parseNumber("COORD_WAIT_NOTE_S", get("COORD_WAIT_NOTE_S"), {
      fallback: 60,
      integer: false,
      min: 0,
    }) * 1000,
    claudeSessions: customBrain === undefined,
    showCost: parseFlag("COORD_SHOW_COST", get("COORD_SHOW_COST")),
  };
}

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
    pollTimeoutS: parsePollTimeout(get("COORD_POLL_TIMEOUT_S")),
  };
}

/**
 * Splits a command line: a JSON array of strings when it starts with `[`, else whitespace-separated
 * words. Returns `undefined` when unset.
 */
function parseArgv(variable: string, value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  let argv: unknown;
  if (value.startsWith("[")) {
    try {
      argv = JSON.parse(value);
    } catch {
      throw new ConfigError(variable, `Cannot parse ${variable}: invalid JSON array "${value}"`);
    }
    if (!Array.isArray(argv) || !argv.every((a) => typeof a === "string")) {
      throw new ConfigError(
        variable,
        `Cannot parse ${variable}: expected a JSON array of strings, got "${value}"`,
      );
    }
  } else {
    argv = value.split(/\s+/);
  }
  const words = argv as string[];
  if (words.length === 0 || words[0] === "") {
    throw new ConfigError(variable, `Cannot parse ${variable}: the command is empty`);
  }
  return words;
}

function parsePollTimeout(value: string | undefined): number {
  return parseNumber("COORD_POLL_TIMEOUT_S", value, { fallback: 30, min: 0, max: 50 });
}

function defaultBrainCommand(personaFile: string | undefined): string[] {
  return personaFile === undefined
    ? [...DEFAULT_BRAIN_COMMAND]
    : [...DEFAULT_BRAIN_COMMAND, "--append-system-prompt-file", personaFile];
}

function parseToken(sources: ConfigSources): string {
  const { env } = sources;
  const direct = env.TELEGRAM_BOT_TOKEN?.trim() || undefined;
  const file = env.TELEGRAM_BOT_TOKEN_FILE?.trim() || undefined;
  if (direct !== undefined && file !== undefined) {
    throw new ConfigError(
      "TELEGRAM_BOT_TOKEN",
      "Cannot use both TELEGRAM_BOT_TOKEN and TELEGRAM_BOT_TOKEN_FILE: set only one",
    );
  }
  if (direct !== undefined) return checkToken("TELEGRAM_BOT_TOKEN", direct);
  if (file === undefined) {
    throw new ConfigError(
      "TELEGRAM_BOT_TOKEN",
      "Missing TELEGRAM_BOT_TOKEN: set it, or TELEGRAM_BOT_TOKEN_FILE to a file that holds it",
    );
  }
  let text: string;
  try {
    text = sources.readTextFile(file);
  } catch (error) {
    const reason = error instanceof Error ? error.name : "unreadable";
    throw new ConfigError(
      "TELEGRAM_BOT_TOKEN_FILE",
      `Cannot read TELEGRAM_BOT_TOKEN_FILE: "${file}" (${reason})`,
    );
  }
  return checkToken("TELEGRAM_BOT_TOKEN_FILE", text.trim());
}

function checkToken(variable: string, token: string): string {
  // The value itself is never echoed: it is (almost) a secret even when malformed.
  if (!TOKEN_PATTERN.test(token)) {
    throw new ConfigError(
      variable,
      `Cannot parse ${variable}: expected a bot token like "123456:ABC-DEF...", got ${token.length} characters of another shape`,
    );
  }
  return token;
}

function parseUserIds(value: string | undefined): Set<number> {
  const variable = "COORD_AUTHORIZED_USER_IDS";
  if (value === undefined) {
    throw new ConfigError(
      variable,
      `Missing ${variable}: set the Telegram user ids allowed to talk`,
    );
  }
  const ids = new Set<number>();
  for (const part of value.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const id = Number(part);
    if (!/^\d+$/.test(part) || !Number.isSafeInteger(id) || id <= 0) {
      throw new ConfigError(
        variable,
        `Cannot parse ${variable}: expected comma-separated positive user ids, got "${part}"`,
      );
    }
    ids.add(id);
  }
  if (ids.size === 0) {
    throw new ConfigError(variable, `Cannot parse ${variable}: no user id in "${value}"`);
  }
  return ids;
}

function parseChatIds(value: string | undefined): Set<number> | undefined {
  const variable = "COORD_ALLOWED_CHAT_IDS";
  if (value === undefined) return undefined;
  const ids = new Set<number>();
  for (const part of value.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const id = Number(part);
    if (!/^-?\d+$/.test(part) || !Number.isSafeInteger(id) || id === 0) {
      throw new ConfigError(
        variable,
        `Cannot parse ${variable}: expected comma-separated chat ids (groups negative), got "${part}"`,
      );
    }
    ids.add(id);
  }
  if (ids.size === 0) {
    throw new ConfigError(variable, `Cannot parse ${variable}: no chat id in "${value}"`);
  }
  return ids;
}

/**
 * Refuses a lock folder another local user could write into: they could plant symlinks named like
 * the next lock files or tickets, or a ticket that blocks every turn. A missing folder is let
 * through: the handlers then warn and answer without the lock.
 */
function checkLockDir(lockDir: string, sources: ConfigSources): void {
  const variable = "COORD_LOCK_DIR";
  const info = sources.folderInfo!(lockDir);
  if (info === null) return;
  const uid = sources.uid();
  if (info.uid !== null && uid !== null && info.uid !== uid) {
    throw new ConfigError(
      variable,
      `Cannot use ${variable} "${lockDir}": it belongs to user ${info.uid}, not to us (${uid}); use a folder of our own such as $XDG_RUNTIME_DIR`,
    );
  }
  if (info.mode !== null && (info.mode & 0o022) !== 0) {
    const mode = (info.mode & 0o7777).toString(8).padStart(4, "0");
    throw new ConfigError(
      variable,
      `Cannot use ${variable} "${lockDir}": mode ${mode} lets other users write in it; use a folder only we can write (chmod 700), such as $XDG_RUNTIME_DIR`,
    );
  }
}

function parseApiRoot(value: string): string {
  const variable = "COORD_API_ROOT";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(
      variable,
      `Cannot parse ${variable}: expected an http(s) URL, got "${value}"`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(
      variable,
      `Cannot parse ${variable}: expected an http(s) URL, got "${value}"`,
    );
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new ConfigError(
      variable,
      `Cannot parse ${variable}: expected a plain root URL without query or credentials, got "${value}"`,
    );
  }
  return url.href.replace(/\/+$/, "");
}

function parseFlag(variable: string, value: string | undefined): boolean {
  if (value === undefined || value === "0") return false;
  if (value === "1") return true;
  throw new ConfigError(variable, `Cannot parse ${variable}: expected 0 or 1, got "${value}"`);
}

interface NumberRule {
  fallback: number;
  /** Default: true. */
  integer?: boolean;
  min: number;
  max?: number;
}

function parseNumber(variable: string, value: string | undefined, rule: NumberRule): number {
  const { fallback, integer = true, min, max = Number.MAX_SAFE_INTEGER } = rule;
  if (value === undefined) return fallback;
  const n = Number(value);
  const shapeOk = integer ? /^\d+$/.test(value) : /^\d+(\.\d+)?$/.test(value);
  if (!shapeOk || !Number.isFinite(n) || n < min || n > max) {
    const kind = integer ? "an integer" : "a number";
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(
      variable,
      `Cannot parse ${variable}: expected ${kind} ${range}, got "${value}"`,
    );
  }
  return n;
}

function defaultLockDir(runtimeDir: string | undefined, getUid: () => number | null): string {
  if (runtimeDir !== undefined) return runtimeDir;
  const uid = getUid();
  if (uid === null) {
    throw new ConfigError(
      "COORD_LOCK_DIR",
      "Missing COORD_LOCK_DIR: no XDG_RUNTIME_DIR and no uid",
    );
  }
  return `/run/user/${uid}`;
}

function defaultStateDir(stateHome: string | undefined, home: string | undefined): string {
  if (stateHome !== undefined) return `${stateHome}/forge-coordinator`;
  if (home === undefined) {
    throw new ConfigError(
      "COORD_STATE_DIR",
      "Missing COORD_STATE_DIR: no XDG_STATE_HOME and no HOME",
    );
  }
  return `${home}/.local/state/forge-coordinator`;
}

/** Options for {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /**
   * Check that the files named by the settings can be read. Default: true. The handlers pass
   * false: the poll process checked them at start, and a handler is not allowed to read them (the
   * brain reads the persona, not the handler).
   */
  checkFiles?: boolean;
}

/** Reads the configuration from this process's real environment. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const { checkFiles = true } = options;
  return parseConfig({
    folderInfo: checkFiles ? folderInfo : undefined,
    env: Deno.env.toObject(),
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

function folderInfo(path: string): { uid: number | null; mode: number | null } | null {
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
