/**
 * Unit tests for `lib/shared/child_env.ts`: what a handler's environment holds (`handlerEnv()`)
 * and what a brain's or transcriber's does (`childEnv()`), along the real chain poll process →
 * handler → brain. That systemd's `NOTIFY_SOCKET`, `CREDENTIALS_DIRECTORY` and `WATCHDOG_*` reach
 * neither is tested in `unit_launch_test.ts`; `unit_handle_test.ts` has the first `childEnv()`
 * check (both token variables out, the ids in).
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Config, parseConfig, TOKEN_VARIABLES } from "../lib/shared/config.ts";
import { childEnv, handlerEnv } from "../lib/shared/child_env.ts";

const TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const SECRET = TOKEN.split(":")[1];

/** The poll process's environment under systemd: the token in a credentials file. */
const POLL_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: "/usr/bin:/bin",
  HOME: "/home/coord",
  LANG: "C.UTF-8",
  XDG_RUNTIME_DIR: "/run/user/1000",
  XDG_STATE_HOME: "/home/coord/.local/state",
  TELEGRAM_BOT_TOKEN_FILE: "/run/credentials/forge-coordinator.service/token",
  COORD_AUTHORIZED_USER_IDS: "1001",
  ANTHROPIC_API_KEY: "sk-ant-brain-key",
});

/** The configuration `parseConfig()` makes of `env`, reading the token file. */
function configOf(env: Readonly<Record<string, string>>): Config {
  const readTextFile = () => `${TOKEN}\n`;
  return parseConfig({ env, uid: () => 1000, readTextFile, isReadableFile: () => true });
}

Deno.test("handlerEnv() gives a handler no token in any form (it comes over the line), and the folders as resolved", () => {
  // POLL_ENV is frozen: a handlerEnv() that changed its input would throw here.
  const env = handlerEnv(configOf(POLL_ENV), POLL_ENV);
  assert.deepEqual(env, {
    PATH: "/usr/bin:/bin",
    HOME: "/home/coord",
    LANG: "C.UTF-8",
    XDG_RUNTIME_DIR: "/run/user/1000",
    XDG_STATE_HOME: "/home/coord/.local/state",
    COORD_AUTHORIZED_USER_IDS: "1001",
    ANTHROPIC_API_KEY: "sk-ant-brain-key",
    // Unset in the environment: the defaults the poll process worked out, so that a handler
    // never guesses them differently.
    COORD_LOCK_DIR: "/run/user/1000",
    COORD_STATE_DIR: "/home/coord/.local/state/forge-coordinator",
    COORD_BRAIN_WORKDIR: "/home/coord/.local/state/forge-coordinator/brain",
  });
});

Deno.test("handlerEnv() puts the config's values over what the environment held, and drops the token given in it", () => {
  const env = Object.freeze({
    ...POLL_ENV,
    TELEGRAM_BOT_TOKEN_FILE: "",
    TELEGRAM_BOT_TOKEN: ` ${TOKEN} `,
    COORD_LOCK_DIR: " /var/lock/coord ",
    COORD_STATE_DIR: "/var/lib/coord",
    COORD_BRAIN_WORKDIR: "",
  });
  const out = handlerEnv(configOf(env), env);
  for (const name of TOKEN_VARIABLES) assert.equal(name in out, false, `${name} is there`);
  assert.equal(out.COORD_LOCK_DIR, "/var/lock/coord");
  assert.equal(out.COORD_STATE_DIR, "/var/lib/coord");
  assert.equal(out.COORD_BRAIN_WORKDIR, "/var/lib/coord/brain", "blank counts as unset");
});

Deno.test("childEnv() keeps the token from a brain in every form, even from a handler's environment", () => {
  const handler = Object.freeze(handlerEnv(configOf(POLL_ENV), POLL_ENV));
  const brain = childEnv(handler, { updateId: 900, chatId: 1001, messageId: 42 });
  for (const name of TOKEN_VARIABLES) assert.equal(name in brain, false, `${name} is there`);
  for (const [name, value] of Object.entries(brain)) {
    assert.ok(!value.includes(SECRET), `${name} holds the token`);
  }
  assert.equal(brain.ANTHROPIC_API_KEY, "sk-ant-brain-key", "the brain's own keys stay");
  assert.equal(brain.COORD_BRAIN_WORKDIR, "/home/coord/.local/state/forge-coordinator/brain");
});

Deno.test("childEnv() sets this message's ids over any in the environment, and drops COORD_ATTACHMENTS", () => {
  const env = Object.freeze({
    PATH: "/usr/bin",
    COORD_CHAT_ID: "1",
    COORD_MESSAGE_ID: "2",
    COORD_UPDATE_ID: "3",
    COORD_ATTACHMENTS: "/s/attachments/3/photo.jpg",
    COORD_STATE_DIR: "/s",
  });
  const ids = { updateId: 940961529, chatId: -1001234567890, messageId: 8679559480 };
  assert.deepEqual(childEnv(env, ids), {
    PATH: "/usr/bin",
    COORD_STATE_DIR: "/s",
    COORD_CHAT_ID: "-1001234567890",
    COORD_MESSAGE_ID: "8679559480",
    COORD_UPDATE_ID: "940961529",
  });
});
