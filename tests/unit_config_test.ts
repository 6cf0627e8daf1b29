/**
 * Unit tests for `lib/shared/config.ts`: `parseConfig()` against a fake environment and fake files.
 * The table: which variable fills which field, its default, its range, and that each refusal names
 * its variable. Parsing one value is tested in `unit_config_values_test.ts`; the token and folder
 * checks in `unit_config_files_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Config, type ConfigSources, parseConfig } from "../lib/shared/config.ts";
import { ConfigError } from "../lib/shared/config_values.ts";

const TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

/** The smallest environment that parses. */
const MINIMAL: Record<string, string> = {
  TELEGRAM_BOT_TOKEN: TOKEN,
  COORD_AUTHORIZED_USER_IDS: "1001",
  HOME: "/home/coord",
};

interface FakeSources extends ConfigSources {
  /** How often `uid()` was asked. */
  readonly uidCalls: number;
}

/** Sources with a fake environment, uid 1000, and an in-memory set of files. */
function sources(
  env: Record<string, string | undefined>,
  options: { files?: Record<string, string>; uid?: number | null } = {},
): FakeSources {
  const { files = {}, uid = 1000 } = options;
  let uidCalls = 0;
  return {
    env,
    uid() {
      uidCalls++;
      return uid;
    },
    readTextFile(path) {
      if (!(path in files)) throw new Deno.errors.NotFound(`No such file: ${path}`);
      return files[path];
    },
    isReadableFile: (path) => path in files,
    get uidCalls() {
      return uidCalls;
    },
  };
}

/** Parses `MINIMAL` with `overrides` on top (a value of `undefined` removes a variable). */
function parseWith(
  overrides: Record<string, string | undefined>,
  files?: Record<string, string>,
): Config {
  return parseConfig(sources({ ...MINIMAL, ...overrides }, { files }));
}

/** Asserts that `fn` throws a `ConfigError` naming `variable`, in `.variable` and in the message. */
function assertConfigError(fn: () => unknown, variable: string): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught}`);
  assert.equal(caught.name, "ConfigError");
  assert.equal(caught.variable, variable);
  assert.ok(
    caught.message.includes(variable),
    `the message should name ${variable}: ${caught.message}`,
  );
  return caught;
}

Deno.test("parseConfig() reads a full valid configuration", () => {
  const config = parseConfig(sources({
    TELEGRAM_BOT_TOKEN: TOKEN,
    COORD_AUTHORIZED_USER_IDS: "1001, 1002,1003",
    COORD_API_ROOT: "http://127.0.0.1:8081",
    COORD_BRAIN_CMD: '["my-brain", "--model", "big one"]',
    COORD_PERSONA_FILE: "/etc/coord/persona.md",
    COORD_BRAIN_TIMEOUT_S: "120",
    COORD_BRAIN_MAX_ITERS: "5",
    COORD_MAX_CONCURRENT_BRAINS: "8",
    COORD_LOCK_DIR: "/var/lock/coord",
    COORD_STATE_DIR: "/var/lib/coord",
    COORD_TRANSCRIBE_CMD: "whisper --lang en",
    COORD_POLL_TIMEOUT_S: "50",
    COORD_POISON_LIMIT: "2",
    COORD_SPARE_HANDLERS: "0",
    COORD_WAIT_NOTE_S: "90",
    COORD_MAX_BACKLOG: "50",
    COORD_DOWNLOAD_TIMEOUT_S: "30",
    COORD_DOWNLOAD_STALL_S: "2.5",
    COORD_TRANSCRIBE_TIMEOUT_S: "45",
    COORD_REPLY_PATIENCE_S: "120",
    COORD_MAX_REPLY_PARTS: "3",
    COORD_SHOW_COST: "1",
    COORD_ALLOWED_CHAT_IDS: "1001, -100200300",
    COORD_BRAIN_WORKDIR: "/home/coord/work",
  }, { files: { "/etc/coord/persona.md": "Be brief." } }));

  assert.deepEqual(config, {
    token: TOKEN,
    tokenSource: "TELEGRAM_BOT_TOKEN",
    authorizedUserIds: new Set([1001, 1002, 1003]),
    allowedChatIds: new Set([1001, -100200300]),
    brainWorkdir: "/home/coord/work",
    apiRoot: "http://127.0.0.1:8081",
    brainCommand: ["my-brain", "--model", "big one"],
    brainTimeoutMs: 120_000,
    brainMaxAttempts: 5,
    maxConcurrentHandlers: 8,
    maxBacklog: 50,
    downloadTimeoutMs: 30_000,
    downloadStallMs: 2500,
    transcribeTimeoutMs: 45_000,
    replyPatienceMs: 120_000,
    maxReplyParts: 3,
    lockDir: "/var/lock/coord",
    stateDir: "/var/lib/coord",
    transcribeCommand: ["whisper", "--lang", "en"],
    pollTimeoutS: 50,
    poisonLimit: 2,
    spareHandlers: 0,
    waitNoteMs: 90_000,
    brainKind: "plain",
    showCost: true,
    busyMode: "queue",
    approvals: "off",
    approvalTimeoutMs: 900_000,
  });
});

Deno.test("parseConfig() fills in every default", async (t) => {
  await t.step("for the settings that need no environment", () => {
    const config = parseWith({});
    assert.equal(config.apiRoot, "https://api.telegram.org");
    assert.deepEqual(config.brainCommand, ["claude", "-p"]);
    assert.equal(config.brainTimeoutMs, 300_000);
    assert.equal(config.brainMaxAttempts, 3);
    assert.equal(config.maxConcurrentHandlers, 4);
    assert.equal(config.transcribeCommand, undefined);
    assert.equal(config.pollTimeoutS, 30);
    assert.equal(config.poisonLimit, 3);
    assert.equal(config.spareHandlers, 0);
    assert.equal(config.waitNoteMs, 60_000);
    assert.equal(config.maxBacklog, 1000);
    assert.equal(config.downloadTimeoutMs, 600_000);
    assert.equal(config.downloadStallMs, 60_000);
    assert.equal(config.transcribeTimeoutMs, 300_000);
    assert.equal(config.replyPatienceMs, 3_600_000);
    assert.equal(config.maxReplyParts, 5);
    assert.equal(config.showCost, false);
    assert.equal(config.brainKind, "claude", "the default brain is run by the Claude driver");
  });

  await t.step("the brain gets the persona file when one is set", () => {
    const config = parseWith({ COORD_PERSONA_FILE: "/p.md" }, { "/p.md": "" });
    assert.deepEqual(config.brainCommand, [
      "claude",
      "-p",
      "--append-system-prompt-file",
      "/p.md",
    ]);
  });

  await t.step("the lock dir is XDG_RUNTIME_DIR, without asking for the uid", () => {
    const fake = sources({ ...MINIMAL, XDG_RUNTIME_DIR: "/run/user/42" });
    assert.equal(parseConfig(fake).lockDir, "/run/user/42");
    assert.equal(fake.uidCalls, 0);
  });

  await t.step("the lock dir is /run/user/<uid> without XDG_RUNTIME_DIR", () => {
    assert.equal(parseWith({}).lockDir, "/run/user/1000");
  });

  await t.step("the lock dir can't be guessed without XDG_RUNTIME_DIR and uid", () => {
    assertConfigError(() => parseConfig(sources(MINIMAL, { uid: null })), "COORD_LOCK_DIR");
  });

  await t.step("the state dir is under XDG_STATE_HOME when it is set", () => {
    const config = parseWith({ XDG_STATE_HOME: "/home/coord/.state" });
    assert.equal(config.stateDir, "/home/coord/.state/forge-coordinator");
  });

  await t.step("the state dir is under HOME without XDG_STATE_HOME", () => {
    assert.equal(parseWith({}).stateDir, "/home/coord/.local/state/forge-coordinator");
  });

  await t.step("the state dir can't be guessed without XDG_STATE_HOME and HOME", () => {
    assertConfigError(() => parseWith({ HOME: undefined }), "COORD_STATE_DIR");
  });

  await t.step("an empty or blank variable counts as unset", () => {
    const config = parseWith({
      COORD_BRAIN_CMD: "  ",
      COORD_POLL_TIMEOUT_S: "",
      COORD_API_ROOT: "",
    });
    assert.deepEqual(config.brainCommand, ["claude", "-p"]);
    assert.equal(config.pollTimeoutS, 30);
    assert.equal(config.apiRoot, "https://api.telegram.org");
  });

  await t.step("a blank TELEGRAM_BOT_TOKEN leaves the token to its file", () => {
    const config = parseWith(
      { TELEGRAM_BOT_TOKEN: " \n", TELEGRAM_BOT_TOKEN_FILE: "/run/secrets/token" },
      { "/run/secrets/token": TOKEN },
    );
    assert.equal(config.token, TOKEN);
  });
});

Deno.test("parseConfig() reads the token from TELEGRAM_BOT_TOKEN_FILE, trimmed", () => {
  const config = parseConfig(sources(
    { ...MINIMAL, TELEGRAM_BOT_TOKEN: undefined, TELEGRAM_BOT_TOKEN_FILE: "/run/secrets/token" },
    { files: { "/run/secrets/token": `\n  ${TOKEN}\n` } },
  ));
  assert.equal(config.token, TOKEN);
});

Deno.test("parseConfig() reads COORD_BRAIN_CMD", async (t) => {
  await t.step("trimmed first, so that words around blanks split cleanly", () => {
    const config = parseWith({ COORD_BRAIN_CMD: "  /opt/brain \t--fast   -v " });
    assert.deepEqual(config.brainCommand, ["/opt/brain", "--fast", "-v"]);
  });

  await t.step("ignoring the persona file when set", () => {
    const config = parseWith({ COORD_BRAIN_CMD: "brain", COORD_PERSONA_FILE: "/p" }, { "/p": "" });
    assert.deepEqual(config.brainCommand, ["brain"]);
  });

  await t.step("the transcriber's command follows the same rules", () => {
    assertConfigError(() => parseWith({ COORD_TRANSCRIBE_CMD: "[1]" }), "COORD_TRANSCRIBE_CMD");
  });
});

Deno.test("parseConfig() refuses malformed numbers", async (t) => {
  const integers = ["COORD_BRAIN_MAX_ITERS", "COORD_MAX_CONCURRENT_BRAINS", "COORD_POISON_LIMIT"];
  for (const variable of integers) {
    for (const bad of ["four", "0", "-1", "1.5", "1e3"]) {
      await t.step(`${variable}="${bad}"`, () => {
        const error = assertConfigError(() => parseWith({ [variable]: bad }), variable);
        assert.match(error.message, new RegExp(`got "${bad.replace(".", "\\.")}"`));
      });
    }
  }

  for (const bad of ["four", "0", "-1", "1.5.2"]) {
    await t.step(`COORD_BRAIN_TIMEOUT_S="${bad}"`, () => {
      assertConfigError(() => parseWith({ COORD_BRAIN_TIMEOUT_S: bad }), "COORD_BRAIN_TIMEOUT_S");
    });
  }

  for (const bad of ["51", "-1", "1.5", "thirty"]) {
    await t.step(`COORD_POLL_TIMEOUT_S="${bad}"`, () => {
      assertConfigError(() => parseWith({ COORD_POLL_TIMEOUT_S: bad }), "COORD_POLL_TIMEOUT_S");
    });
  }

  for (const bad of ["17", "-1", "1.5", "two"]) {
    await t.step(`COORD_SPARE_HANDLERS="${bad}"`, () => {
      assertConfigError(() => parseWith({ COORD_SPARE_HANDLERS: bad }), "COORD_SPARE_HANDLERS");
    });
  }
});

Deno.test("parseConfig() accepts numbers at the edges of their ranges", () => {
  assert.equal(parseWith({ COORD_BRAIN_TIMEOUT_S: "0.5" }).brainTimeoutMs, 500);
  assert.equal(parseWith({ COORD_BRAIN_TIMEOUT_S: "90.25" }).brainTimeoutMs, 90_250);
  assert.equal(parseWith({ COORD_BRAIN_MAX_ITERS: "1" }).brainMaxAttempts, 1);
  assert.equal(parseWith({ COORD_MAX_CONCURRENT_BRAINS: " 1 " }).maxConcurrentHandlers, 1);
  assert.equal(parseWith({ COORD_POLL_TIMEOUT_S: "0" }).pollTimeoutS, 0);
  assert.equal(parseWith({ COORD_POLL_TIMEOUT_S: "50" }).pollTimeoutS, 50);
  assert.equal(parseWith({ COORD_POISON_LIMIT: "1" }).poisonLimit, 1);
  assert.equal(parseWith({ COORD_SPARE_HANDLERS: "0" }).spareHandlers, 0);
  assert.equal(parseWith({ COORD_SPARE_HANDLERS: "16" }).spareHandlers, 16);
});

Deno.test("parseConfig() refuses a persona file it can't read", () => {
  const error = assertConfigError(
    () => parseWith({ COORD_PERSONA_FILE: "/missing/persona.md" }),
    "COORD_PERSONA_FILE",
  );
  assert.match(error.message, /"\/missing\/persona\.md"/);
});

Deno.test("parseConfig() without COORD_ALLOWED_CHAT_IDS lists no group, and puts the brain's folder under the state folder", () => {
  const config = parseWith({ COORD_STATE_DIR: "/s/" });
  assert.equal(config.allowedChatIds, undefined);
  assert.equal(config.brainWorkdir, "/s/brain");
});

Deno.test("parseConfig() refuses a lock folder that is not ours or that others can write", async (t) => {
  const withFolder = (info: { uid: number | null; mode: number | null } | null) =>
    parseConfig({
      ...sources({ ...MINIMAL, COORD_LOCK_DIR: "/some/locks" }),
      folderInfo: (path) => {
        assert.equal(path, "/some/locks");
        return info;
      },
    });
  await t.step("ours, 0700: fine", () => {
    assert.equal(withFolder({ uid: 1000, mode: 0o40700 }).lockDir, "/some/locks");
  });
  await t.step("ours, 0755: fine (only we can write)", () => {
    withFolder({ uid: 1000, mode: 0o40755 });
  });
  await t.step("missing: passes (the bot makes it, 0700, at start)", () => {
    withFolder(null);
  });
  await t.step("ours, 0777: refused", () => {
    const error = assertConfigError(
      () => withFolder({ uid: 1000, mode: 0o40777 }),
      "COORD_LOCK_DIR",
    );
    assert.match(error.message, /mode 0777 lets other users write in it/);
  });
  await t.step("another user's", () => {
    const error = assertConfigError(() => withFolder({ uid: 0, mode: 0o40700 }), "COORD_LOCK_DIR");
    assert.match(error.message, /belongs to user 0, not to us \(1000\)/);
  });
});

Deno.test("parseConfig() picks the brain's protocol by its program's name, or as set", async (t) => {
  const kind = (env: Record<string, string>) => parseWith(env).brainKind;
  await t.step("a command whose program is named claude gets the Claude driver", () => {
    assert.equal(kind({ COORD_BRAIN_CMD: "claude -p --model sonnet" }), "claude");
    assert.equal(kind({ COORD_BRAIN_CMD: '["/opt/bin/claude", "-p"]' }), "claude");
  });
  await t.step("any other program is plain", () => {
    assert.equal(kind({ COORD_BRAIN_CMD: "my-brain --claude" }), "plain");
    assert.equal(kind({ COORD_BRAIN_CMD: "/usr/bin/claude-wrapper" }), "plain");
  });
  await t.step("COORD_BRAIN_KIND decides either way", () => {
    assert.equal(kind({ COORD_BRAIN_CMD: "claude -p", COORD_BRAIN_KIND: "plain" }), "plain");
    assert.equal(kind({ COORD_BRAIN_CMD: "my-claude", COORD_BRAIN_KIND: "claude" }), "claude");
    assert.equal(kind({ COORD_BRAIN_KIND: "plain" }), "plain", "even for the default brain");
  });
  await t.step("anything else is refused with what it takes", () => {
    const error = assertConfigError(() => kind({ COORD_BRAIN_KIND: "Claude" }), "COORD_BRAIN_KIND");
    assert.equal(
      error.message,
      'Cannot parse COORD_BRAIN_KIND: expected "claude" or "plain", got "Claude"',
    );
  });
});

Deno.test("parseConfig() names the variable at fault, whichever setting it is", async (t) => {
  const faults: [string, Record<string, string | undefined>, string][] = [
    ["a malformed token", { TELEGRAM_BOT_TOKEN: "not-a-token" }, "TELEGRAM_BOT_TOKEN"],
    ["no token", { TELEGRAM_BOT_TOKEN: undefined }, "TELEGRAM_BOT_TOKEN"],
    [
      "an unreadable token file",
      { TELEGRAM_BOT_TOKEN: undefined, TELEGRAM_BOT_TOKEN_FILE: "/nowhere" },
      "TELEGRAM_BOT_TOKEN_FILE",
    ],
    ["no user ids", { COORD_AUTHORIZED_USER_IDS: undefined }, "COORD_AUTHORIZED_USER_IDS"],
    ["a user id of 0", { COORD_AUTHORIZED_USER_IDS: "0" }, "COORD_AUTHORIZED_USER_IDS"],
    ["a chat id of 0", { COORD_ALLOWED_CHAT_IDS: "0" }, "COORD_ALLOWED_CHAT_IDS"],
    ["an API root that is not http(s)", { COORD_API_ROOT: "ftp://x" }, "COORD_API_ROOT"],
    ["an empty brain command", { COORD_BRAIN_CMD: "[]" }, "COORD_BRAIN_CMD"],
    ["a flag that is not 0 or 1", { COORD_SHOW_COST: "yes" }, "COORD_SHOW_COST"],
    ["an unknown brain kind", { COORD_BRAIN_KIND: "gpt" }, "COORD_BRAIN_KIND"],
    ["a backlog of 0", { COORD_MAX_BACKLOG: "0" }, "COORD_MAX_BACKLOG"],
    ["0 reply parts", { COORD_MAX_REPLY_PARTS: "0" }, "COORD_MAX_REPLY_PARTS"],
    ["a download time limit of 0", { COORD_DOWNLOAD_TIMEOUT_S: "0" }, "COORD_DOWNLOAD_TIMEOUT_S"],
    ["a stall limit of 0", { COORD_DOWNLOAD_STALL_S: "0" }, "COORD_DOWNLOAD_STALL_S"],
    [
      "a transcriber time limit of 0",
      { COORD_TRANSCRIBE_TIMEOUT_S: "0" },
      "COORD_TRANSCRIBE_TIMEOUT_S",
    ],
    ["a negative patience", { COORD_REPLY_PATIENCE_S: "-1" }, "COORD_REPLY_PATIENCE_S"],
    ["a negative wait note", { COORD_WAIT_NOTE_S: "-1" }, "COORD_WAIT_NOTE_S"],
  ];
  for (const [name, overrides, variable] of faults) {
    await t.step(name, () => {
      const error = assertConfigError(() => parseWith(overrides), variable);
      assert.ok(!error.message.includes("not-a-token"), "the token is never echoed");
    });
  }
});

Deno.test("parseConfig() stops first on a settings file the unit names but that isn't there", async (t) => {
  await t.step("missing: COORD_ENV_FILE and the file are named, before any other setting", () => {
    const error = assertConfigError(
      () =>
        parseWith({
          COORD_ENV_FILE: "/home/me/.config/forge-coordinator/env",
          COORD_AUTHORIZED_USER_IDS: undefined,
        }),
      "COORD_ENV_FILE",
    );
    assert.match(
      error.message,
      /no readable file at "\/home\/me\/\.config\/forge-coordinator\/env"/,
    );
    assert.match(error.message, /forge-coordinator\.env\.example/);
  });
  await t.step("there: the settings are read as usual", () => {
    const config = parseWith({ COORD_ENV_FILE: "/e/env" }, { "/e/env": "" });
    assert.equal(config.token, TOKEN);
  });
});

Deno.test("parseConfig() names the token file the unit couldn't find, from its credential's fallback", async (t) => {
  const env = {
    ...MINIMAL,
    TELEGRAM_BOT_TOKEN: undefined,
    TELEGRAM_BOT_TOKEN_FILE:
      "/run/user/1000/credentials/forge-coordinator.service/telegram-bot-token",
    HOME: "/home/me",
    XDG_RUNTIME_DIR: "/run/user/1000",
  };
  const withCredential = (text: string, extra: Record<string, string> = {}) => () =>
    parseConfig(sources({ ...env, ...extra }, {
      files: { [env.TELEGRAM_BOT_TOKEN_FILE]: text },
    }));
  await t.step("%E is ~/.config", () => {
    const error = assertConfigError(
      withCredential("missing:%E/forge-coordinator/token\n"),
      "TELEGRAM_BOT_TOKEN_FILE",
    );
    assert.match(error.message, /no file at "\/home\/me\/\.config\/forge-coordinator\/token"/);
  });
  await t.step("or XDG_CONFIG_HOME; %h, %t and %% too; others stay", () => {
    const error = assertConfigError(
      withCredential("missing:%E/a:%h/b:%t/c:%%:%S/d", { XDG_CONFIG_HOME: "/cfg" }),
      "TELEGRAM_BOT_TOKEN_FILE",
    );
    assert.match(error.message, /no file at "\/cfg\/a:\/home\/me\/b:\/run\/user\/1000\/c:%:%S\/d"/);
  });
  await t.step("a token in the file: read, and its source is the file", () => {
    const config = parseConfig(sources(env, { files: { [env.TELEGRAM_BOT_TOKEN_FILE]: TOKEN } }));
    assert.equal(config.token, TOKEN);
    assert.equal(config.tokenSource, `TELEGRAM_BOT_TOKEN_FILE ("${env.TELEGRAM_BOT_TOKEN_FILE}")`);
  });
});

Deno.test("parseConfig() says a token file in systemd's credentials folder is the unit's copy of its LoadCredential= file", () => {
  const file = "/run/user/1000/credentials/forge-coordinator.service/telegram-bot-token";
  const config = parseConfig(sources({
    ...MINIMAL,
    TELEGRAM_BOT_TOKEN: undefined,
    TELEGRAM_BOT_TOKEN_FILE: file,
    CREDENTIALS_DIRECTORY: "/run/user/1000/credentials/forge-coordinator.service",
  }, { files: { [file]: TOKEN } }));
  assert.equal(
    config.tokenSource,
    `TELEGRAM_BOT_TOKEN_FILE ("${file}"), the unit's copy of the file its LoadCredential= names (systemctl --user cat forge-coordinator)`,
  );
});
