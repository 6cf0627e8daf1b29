/**
 * How a handler process is started: the Deno binary, the narrowest permissions that work, and an
 * environment without the token (which it is told over its stdin, `handler_process.ts`).
 *
 * @module
 */

import type { Config } from "../shared/config.ts";
import { CGROUP_ENV } from "../shared/cgroup.ts";
import { handlerEnv } from "../shared/child_env.ts";
import { promptFile } from "../shared/system_prompt.ts";

/** How to start a handler. */
export interface HandlerLaunch {
  /** The executable (the Deno binary). */
  command: string;
  /** Its arguments (permissions, the script). Never the token. */
  args: readonly string[];
  /** The handler's complete environment (never the token). */
  env: Record<string, string>;
  /** The bot token, told to the handler first over its stdin. */
  token: string;
}

/** Options for {@linkcode handlerLaunch}. */
export interface HandlerLaunchOptions {
  /** The Deno executable (`Deno.execPath()`). */
  denoPath: string;
  /** Absolute path of `handler.ts`. */
  handlerPath: string;
  /** Absolute path of `deno.json` (the import map; the handler may start in any directory). */
  configPath: string;
  /** The poll process's environment. */
  env: Readonly<Record<string, string>>;
  /**
   * The bot's cgroup, when brains can run in cgroups of their own under it (`probeCgroup`); handed
   * to handlers as `COORD_CGROUP`. They need no permission for it beyond `--allow-run`: Deno
   * refuses `/sys` without `--allow-all` anyway, so a shell does the work. Default: none.
   */
  cgroup?: string;
}

/**
 * The handler's command line and environment. Permissions: the Bot API host only; read and write
 * in the lock and state folders only (the chat locks, the journal, attachments), and read the
 * persona file a Claude brain appends to its system prompt (the driver adds a line to it,
 * `lib/handler/claude_prompt.ts`); the environment (the brain inherits it); and run, which
 * spawning the brain and signalling its process group need.
 */
export function handlerLaunch(config: Config, options: HandlerLaunchOptions): HandlerLaunch {
  const { denoPath, handlerPath, configPath, env } = options;
  const dirs = [config.lockDir, config.stateDir].join(",");
  const persona = config.brainKind === "claude"
    ? promptFile(config.brainCommand, config.brainWorkdir)
    : undefined;
  // A comma would split the list: such a persona is left unread (the line is then left out).
  const readable = persona === undefined || persona.includes(",") ? dirs : `${dirs},${persona}`;
  const args = [
    "run",
    "--quiet",
    "--no-prompt",
    "--frozen",
    `--config=${configPath}`,
    `--allow-net=${apiHost(config.apiRoot)}`,
    "--allow-env",
    `--allow-read=${readable}`,
    `--allow-write=${dirs}`,
    // Our uid: the lock folder and the lock files must be ours (chat_lock.ts).
    "--allow-sys=uid",
    "--allow-run",
    handlerPath,
  ];
  const handler = handlerEnv(config, env);
  if (options.cgroup !== undefined) handler[CGROUP_ENV] = options.cgroup;
  return { command: denoPath, args, env: handler, token: config.token };
}

/** `host:port` of the API root, with the scheme's default port made explicit. */
export function apiHost(apiRoot: string): string {
  const url = new URL(apiRoot);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.hostname}:${port}`;
}
