/**
 * The environment each kind of child gets, in one place: a handler gets the bot's, with the token
 * itself (never its file, never systemd's socket or credentials); a brain or transcriber gets the
 * bot's without the token in any form, plus the message's ids.
 *
 * @module
 */

import { CGROUP_ENV } from "./cgroup.ts";
import { type Config, POLL_PROCESS_VARIABLES, TOKEN_VARIABLES } from "./config.ts";

/** A handler's environment: the poll process's, minus what is only its own, plus the token. */
export function handlerEnv(
  config: Config,
  env: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = { ...env };
  delete out.TELEGRAM_BOT_TOKEN_FILE;
  for (const name of POLL_PROCESS_VARIABLES) delete out[name];
  // Set by the poll process alone, and only when it checked that the cgroup can be used.
  delete out[CGROUP_ENV];
  out.TELEGRAM_BOT_TOKEN = config.token;
  // Resolved once here, so a handler never has to guess a default differently.
  out.COORD_LOCK_DIR = config.lockDir;
  out.COORD_STATE_DIR = config.stateDir;
  out.COORD_BRAIN_WORKDIR = config.brainWorkdir;
  return out;
}

/** A brain's or transcriber's environment: the bot's, minus the token, plus the message's ids. */
export function childEnv(
  env: Readonly<Record<string, string>>,
  ids: { updateId: number; chatId: number; messageId: number },
): Record<string, string> {
  const out: Record<string, string> = { ...env };
  for (const name of [...TOKEN_VARIABLES, ...POLL_PROCESS_VARIABLES]) delete out[name];
  // Set per message, only for one with attachments.
  delete out.COORD_ATTACHMENTS;
  out.COORD_CHAT_ID = String(ids.chatId);
  out.COORD_MESSAGE_ID = String(ids.messageId);
  out.COORD_UPDATE_ID = String(ids.updateId);
  return out;
}
