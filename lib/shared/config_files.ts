/**
 * The settings that are checked against the system, not only parsed: the token (given, or read
 * from its file, and never echoed), the persona file (readable), the state and lock folders'
 * defaults (XDG, then `HOME` or the uid), and the lock folder's owner and mode.
 *
 * Each takes what it reads as an explicit input (the environment's values, a file reader, the
 * folder's owner and mode), so `parseConfig` stays pure; `loadConfig` passes the real ones.
 *
 * @module
 */

import { ConfigError } from "./config_values.ts";

/** A folder's owner and mode bits (`null` where the system doesn't say). */
export interface FolderInfo {
  uid: number | null;
  mode: number | null;
}

/** Telegram's token shape: the bot id, a colon, a secret of URL-safe characters. */
const TOKEN_PATTERN = /^\d+:[A-Za-z0-9_-]+$/;

/**
 * What the unit's credential holds when its token file is missing: the unit's fallback
 * (`SetCredential=telegram-bot-token:missing:<the file>`, which systemd hands over instead of
 * failing with 243/CREDENTIALS), so that the bot can name the file that isn't there.
 */
export const MISSING_TOKEN_MARK = "missing:";

/** Where {@linkcode readToken} finds the token. */
export interface TokenSources {
  /** `TELEGRAM_BOT_TOKEN`, trimmed; `undefined` when unset or blank. */
  direct: string | undefined;
  /** `TELEGRAM_BOT_TOKEN_FILE`, trimmed; `undefined` when unset or blank. */
  file: string | undefined;
  /** Reads a whole text file; throws when it can't. */
  readTextFile(path: string): string;
  /** Turns the unit's specifiers (`%h`, `%E`, `%t`) into paths. Default: leaves them. */
  expand?(path: string): string;
}

/**
 * Where the token came from, for a line that says to check it (never the token itself). A file in
 * systemd's credentials folder (`credentialsDir`, `$CREDENTIALS_DIRECTORY`) is the unit's copy of
 * the file its `LoadCredential=` names, which is the one to fix.
 */
export function tokenSource(
  sources: Pick<TokenSources, "direct" | "file">,
  credentialsDir?: string,
): string {
  const { file } = sources;
  if (file === undefined) return "TELEGRAM_BOT_TOKEN";
  const copy = credentialsDir !== undefined &&
    file.startsWith(`${credentialsDir.replace(/\/+$/, "")}/`);
  return copy
    ? `TELEGRAM_BOT_TOKEN_FILE ("${file}"), the unit's copy of the file its LoadCredential= names (systemctl --user cat forge-coordinator)`
    : `TELEGRAM_BOT_TOKEN_FILE ("${file}")`;
}

/** The token, given directly or read from its file (exactly one of them), its shape checked. */
export function readToken(sources: TokenSources): string {
  const { direct, file } = sources;
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
  const token = text.trim();
  if (token.startsWith(MISSING_TOKEN_MARK)) {
    const missing = (sources.expand ?? ((path) => path))(token.slice(MISSING_TOKEN_MARK.length));
    throw new ConfigError(
      "TELEGRAM_BOT_TOKEN_FILE",
      `Cannot read the bot token: there is no file at "${missing}", which the unit hands over as TELEGRAM_BOT_TOKEN_FILE (LoadCredential=); put the token there (mode 600), then start the unit again`,
    );
  }
  return checkToken("TELEGRAM_BOT_TOKEN_FILE", token);
}

/**
 * A user unit's path as systemd would have made it: `%h` home, `%E` the config folder, `%t` the
 * runtime folder, `%%` a percent sign; any other specifier is left as it is.
 */
export function expandUnitPath(path: string, env: Readonly<Record<string, string | undefined>>) {
  const home = env.HOME;
  const specifiers: Record<string, string | undefined> = {
    h: home,
    E: env.XDG_CONFIG_HOME ?? (home === undefined ? undefined : `${home}/.config`),
    t: env.XDG_RUNTIME_DIR,
    "%": "%",
  };
  return path.replace(/%(.)/g, (all, letter: string) => specifiers[letter] ?? all);
}

/**
 * Refuses a settings file that the unit names (`COORD_ENV_FILE`, beside its
 * `EnvironmentFile=-<file>`) but that isn't there: systemd would start the bot without its
 * settings, and the first missing one would be blamed instead of the file.
 */
export function checkEnvFile(
  path: string | undefined,
  isReadable: (path: string) => boolean,
): void {
  if (path !== undefined && !isReadable(path)) {
    throw new ConfigError(
      "COORD_ENV_FILE",
      `Cannot read the settings: there is no readable file at "${path}" (COORD_ENV_FILE, the unit's EnvironmentFile=); copy systemd/forge-coordinator.env.example there (mode 600) and fill it in`,
    );
  }
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

/** Refuses a persona file that `isReadable` says can't be read; an unset one passes. */
export function checkPersonaFile(
  path: string | undefined,
  isReadable: (path: string) => boolean,
): void {
  if (path !== undefined && !isReadable(path)) {
    throw new ConfigError(
      "COORD_PERSONA_FILE",
      `Cannot read COORD_PERSONA_FILE: no readable file at "${path}"`,
    );
  }
}

/** The state folder when `COORD_STATE_DIR` is unset: under `XDG_STATE_HOME`, else under `HOME`. */
export function defaultStateDir(stateHome: string | undefined, home: string | undefined): string {
  if (stateHome !== undefined) return `${stateHome}/forge-coordinator`;
  if (home === undefined) {
    throw new ConfigError(
      "COORD_STATE_DIR",
      "Missing COORD_STATE_DIR: no XDG_STATE_HOME and no HOME",
    );
  }
  return `${home}/.local/state/forge-coordinator`;
}

/**
 * The lock folder when `COORD_LOCK_DIR` is unset: `XDG_RUNTIME_DIR`, else `/run/user/<uid>`
 * (`getUid` is asked only then).
 */
export function defaultLockDir(
  runtimeDir: string | undefined,
  getUid: () => number | null,
): string {
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

/** What {@linkcode checkLockDir} knows of the lock folder and of us. */
export interface LockDirFacts {
  /** The folder's owner and mode, or null when it doesn't exist. */
  info: FolderInfo | null;
  /** Our user id, or null where unknown. */
  uid(): number | null;
}

/**
 * Refuses a lock folder another local user could write into: they could plant a file named like
 * a chat's next lock file, held by them, that blocks that chat's brains for good. A missing folder
 * passes: the bot creates it, 0700, before anything runs (and each handler checks it again).
 */
export function checkLockDir(lockDir: string, facts: LockDirFacts): void {
  const variable = "COORD_LOCK_DIR";
  const { info } = facts;
  if (info === null) return;
  const uid = facts.uid();
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

/**
 * True when stderr goes to journald (systemd sets `JOURNAL_STREAM`): each line then carries its
 * priority prefix. Read with the rest of the configuration, for the logger.
 */
export function underJournald(): boolean {
  try {
    return (Deno.env.get("JOURNAL_STREAM") ?? "") !== "";
  } catch {
    return false;
  }
}
