/**
 * The environment each kind of child gets, in one place: a handler gets the bot's without the
 * token in any form (it comes over the handler's stdin, `line.ts`: a brain can read its parent's
 * environment in `/proc`) and without systemd's socket or credentials; a brain or transcriber gets
 * the same, plus the message's ids.
 *
 * @module
 */

import { CGROUP_ENV } from "./cgroup.ts";
import { type Config, POLL_PROCESS_VARIABLES, TOKEN_VARIABLES } from "./config.ts";

/** A handler's environment: the poll process's, minus the token and what is only its own. */
export function handlerEnv(
  config: Config,
  env: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = { ...env };
  for (const name of [...TOKEN_VARIABLES, ...POLL_PROCESS_VARIABLES]) delete out[name];
  // Set by the poll process alone, and only when it checked that the cgroup can be used.
  delete out[CGROUP_ENV];
  // Resolved once here, so a handler never has to guess a default differently.
  out.COORD_LOCK_DIR = config.lockDir;
  out.COORD_STATE_DIR = config.stateDir;
  out.COORD_BRAIN_WORKDIR = config.brainWorkdir;
  return out;
}

/** The bot's environment as any brain gets it: without the token in any form, or systemd's. */
export function brainBaseEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = { ...env };
  for (const name of [...TOKEN_VARIABLES, ...POLL_PROCESS_VARIABLES]) delete out[name];
  return out;
}

/** A brain's or transcriber's environment: the bot's, minus the token, plus the message's ids. */
export function childEnv(
  env: Readonly<Record<string, string>>,
  ids: { updateId: number; chatId: number; messageId: number },
): Record<string, string> {
  const out = brainBaseEnv(env);
  // Set per message, only for one with attachments.
  delete out.COORD_ATTACHMENTS;
  out.COORD_CHAT_ID = String(ids.chatId);
  out.COORD_MESSAGE_ID = String(ids.messageId);
  out.COORD_UPDATE_ID = String(ids.updateId);
  return out;
}
