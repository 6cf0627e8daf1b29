/**
 * The settings `forge-coordinator send` and `ask` read (`lib/loop/box_command.ts`): where the
 * spool is, and which chats may be written to. The same variables and defaults as the bot's own
 * (`config.ts`), but no token: the commands only write the spool, and must work where the token
 * can't be read (a timer's service, a brain).
 *
 * @module
 */

import { defaultStateDir } from "./config_files.ts";
import { parseChatIds, parseUserIds } from "./config_values.ts";

/** What `send` and `ask` need. */
export interface BoxSettings {
  stateDir: string;
  /** `COORD_AUTHORIZED_USER_IDS`, in its order (the first is `--chat`'s default). */
  authorizedUserIds: ReadonlySet<number>;
  /** `COORD_ALLOWED_CHAT_IDS`, if set. */
  allowedChatIds?: ReadonlySet<number>;
}

/** Parses what `send` and `ask` need; throws `ConfigError` like `parseConfig`. */
export function parseBoxSettings(env: Readonly<Record<string, string | undefined>>): BoxSettings {
  const get = (name: string) => env[name]?.trim() || undefined;
  return {
    stateDir: get("COORD_STATE_DIR") ?? defaultStateDir(get("XDG_STATE_HOME"), get("HOME")),
    authorizedUserIds: parseUserIds("COORD_AUTHORIZED_USER_IDS", get("COORD_AUTHORIZED_USER_IDS")),
    allowedChatIds: parseChatIds("COORD_ALLOWED_CHAT_IDS", get("COORD_ALLOWED_CHAT_IDS")),
  };
}
