/**
 * The settings `forge-coordinator send` and `ask` read (`lib/loop/box_command.ts`): where the
 * spool is, and which chats may be written to. The same variables and defaults as the bot's own
 * (`config.ts`), but no token: the commands only write the spool, and must work where the token
 * can't be read (a timer's service, a brain). Where `COORD_AUTHORIZED_USER_IDS` is not set (a
 * person's shell, when the settings live in the unit), the chats the bot recorded at its last
 * start are taken (`spool/chats.json`, `spool_job.ts`).
 *
 * @module
 */

import { defaultStateDir } from "./config_files.ts";
import { ConfigError, parseChatIds, parseUserIds } from "./config_values.ts";
import { recordedChats } from "./spool_job.ts";

/** What `send` and `ask` need. */
export interface BoxSettings {
  stateDir: string;
  /** `COORD_AUTHORIZED_USER_IDS`, in its order (the first is `--chat`'s default). */
  authorizedUserIds: ReadonlySet<number>;
  /** `COORD_ALLOWED_CHAT_IDS`, if set. */
  allowedChatIds?: ReadonlySet<number>;
}

/** Options for {@linkcode parseBoxSettings}. */
export interface BoxSettingsOptions {
  /** Reads the chats the bot recorded. Default: `Deno.readTextFileSync`. */
  readTextFile?: (path: string) => string;
}

/** Parses what `send` and `ask` need (see the module doc); throws `ConfigError` like `parseConfig`. */
export function parseBoxSettings(
  env: Readonly<Record<string, string | undefined>>,
  options: BoxSettingsOptions = {},
): BoxSettings {
  const get = (name: string) => env[name]?.trim() || undefined;
  const stateDir = get("COORD_STATE_DIR") ?? defaultStateDir(get("XDG_STATE_HOME"), get("HOME"));
  const ids = get("COORD_AUTHORIZED_USER_IDS");
  if (ids === undefined) {
    const recorded = recordedChats(stateDir, options.readTextFile);
    if (recorded === undefined) {
      throw new ConfigError(
        "COORD_AUTHORIZED_USER_IDS",
        `Missing COORD_AUTHORIZED_USER_IDS, and no bot has recorded its chats in ${stateDir}/spool: set it (and COORD_STATE_DIR, if the bot's is not the default), or start the bot once`,
      );
    }
    return {
      stateDir,
      authorizedUserIds: recorded.authorized,
      allowedChatIds: recorded.allowedChats,
    };
  }
  return {
    stateDir,
    authorizedUserIds: parseUserIds("COORD_AUTHORIZED_USER_IDS", ids),
    allowedChatIds: parseChatIds("COORD_ALLOWED_CHAT_IDS", get("COORD_ALLOWED_CHAT_IDS")),
  };
}
