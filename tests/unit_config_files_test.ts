/**
 * Unit tests for `lib/shared/config_files.ts`, called directly with fake readers and folder facts:
 * the token (given, or read from its file; never echoed), the persona file, the state and lock
 * folders' defaults, and the lock folder's owner and mode. How `parseConfig()` feeds them from the
 * environment is tested in `unit_config_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  checkLockDir,
  checkPersonaFile,
  defaultLockDir,
  defaultStateDir,
  type FolderInfo,
  readToken,
} from "../lib/shared/config_files.ts";

const TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

/** A token file reader over `files`, keeping the paths it was asked for. */
function reader(files: Record<string, string> = {}) {
  const asked: string[] = [];
  const readTextFile = (path: string) => {
    asked.push(path);
    if (!(path in files)) throw new Deno.errors.NotFound(`No such file: ${path}`);
    return files[path];
  };
  return { asked, readTextFile };
}

Deno.test("readToken() takes TELEGRAM_BOT_TOKEN as it is, without reading any file", () => {
  const files = reader({ "/t": "987:other" });
  assert.equal(readToken({ direct: TOKEN, file: undefined, ...files }), TOKEN);
  assert.equal(readToken({ direct: "1:a", file: undefined, ...files }), "1:a");
  assert.equal(readToken({ direct: "42:A-b_c", file: undefined, ...files }), "42:A-b_c");
  assert.deepEqual(files.asked, []);
});

Deno.test("readToken() reads TELEGRAM_BOT_TOKEN_FILE and trims it", () => {
  const files = reader({ "/run/secrets/token": `\n  ${TOKEN}\r\n` });
  assert.equal(readToken({ direct: undefined, file: "/run/secrets/token", ...files }), TOKEN);
  assert.deepEqual(files.asked, ["/run/secrets/token"]);
});

Deno.test("readToken() refuses a missing, doubled or unreadable token, naming the variable", async (t) => {
  await t.step("neither", () => {
    assert.throws(() => readToken({ direct: undefined, file: undefined, ...reader() }), {
      name: "ConfigError",
      variable: "TELEGRAM_BOT_TOKEN",
      message:
        "Missing TELEGRAM_BOT_TOKEN: set it, or TELEGRAM_BOT_TOKEN_FILE to a file that holds it",
    });
  });
  await t.step("both, without reading the file", () => {
    const files = reader({ "/t": TOKEN });
    assert.throws(() => readToken({ direct: TOKEN, file: "/t", ...files }), {
      name: "ConfigError",
      variable: "TELEGRAM_BOT_TOKEN",
      message: "Cannot use both TELEGRAM_BOT_TOKEN and TELEGRAM_BOT_TOKEN_FILE: set only one",
    });
    assert.deepEqual(files.asked, []);
  });
  const unreadable: [string, () => never, string][] = [
    ["missing", () => {
      throw new Deno.errors.NotFound("No such file");
    }, "NotFound"],
    ["not allowed", () => {
      throw new Deno.errors.PermissionDenied("Permission denied");
    }, "PermissionDenied"],
    ["a reader that throws something else", () => {
      throw "no";
    }, "unreadable"],
  ];
  for (const [name, readTextFile, reason] of unreadable) {
    await t.step(`a token file, ${name}`, () => {
      assert.throws(() => readToken({ direct: undefined, file: "/nowhere", readTextFile }), {
        name: "ConfigError",
        variable: "TELEGRAM_BOT_TOKEN_FILE",
        message: `Cannot read TELEGRAM_BOT_TOKEN_FILE: "/nowhere" (${reason})`,
      });
    });
  }
});

Deno.test("readToken() refuses a token of another shape and never echoes it", async (t) => {
  const shape = (variable: string, length: number) =>
    `Cannot parse ${variable}: expected a bot token like "123456:ABC-DEF...", got ${length} characters of another shape`;
  const malformed = [
    "not-a-token",
    "123456:has spaces inside",
    ":AAH",
    "abc:def",
    "123456:",
    "123456:AAH/etc",
    "123456:AAH\n789:BBB",
  ];
  for (const token of malformed) {
    await t.step(`TELEGRAM_BOT_TOKEN ${JSON.stringify(token)}`, () => {
      assert.throws(() => readToken({ direct: token, file: undefined, ...reader() }), {
        name: "ConfigError",
        variable: "TELEGRAM_BOT_TOKEN",
        message: shape("TELEGRAM_BOT_TOKEN", token.length),
      });
    });
  }
  await t.step("in the token file, measured after trimming", () => {
    const secret = "987654321:oops this leaked";
    const files = reader({ "/t": `${secret}\n` });
    assert.throws(() => readToken({ direct: undefined, file: "/t", ...files }), {
      name: "ConfigError",
      variable: "TELEGRAM_BOT_TOKEN_FILE",
      message: shape("TELEGRAM_BOT_TOKEN_FILE", secret.length),
    });
  });
  await t.step("an empty token file", () => {
    assert.throws(() => readToken({ direct: undefined, file: "/t", ...reader({ "/t": "\n" }) }), {
      name: "ConfigError",
      variable: "TELEGRAM_BOT_TOKEN_FILE",
      message: shape("TELEGRAM_BOT_TOKEN_FILE", 0),
    });
  });
});

Deno.test("checkPersonaFile() passes an unset or readable file and refuses any other", () => {
  const asked: string[] = [];
  const isReadable = (path: string) => (asked.push(path), path === "/etc/coord/persona.md");
  checkPersonaFile(undefined, isReadable);
  assert.deepEqual(asked, [], "an unset persona file is not looked for");
  checkPersonaFile("/etc/coord/persona.md", isReadable);
  assert.throws(() => checkPersonaFile("/missing/persona.md", isReadable), {
    name: "ConfigError",
    variable: "COORD_PERSONA_FILE",
    message: 'Cannot read COORD_PERSONA_FILE: no readable file at "/missing/persona.md"',
  });
  assert.deepEqual(asked, ["/etc/coord/persona.md", "/missing/persona.md"]);
});

Deno.test("defaultStateDir() is under XDG_STATE_HOME, else under HOME", () => {
  assert.equal(defaultStateDir("/x/state", "/home/coord"), "/x/state/forge-coordinator");
  assert.equal(defaultStateDir("/x/state", undefined), "/x/state/forge-coordinator");
  assert.equal(
    defaultStateDir(undefined, "/home/coord"),
    "/home/coord/.local/state/forge-coordinator",
  );
  assert.throws(() => defaultStateDir(undefined, undefined), {
    name: "ConfigError",
    variable: "COORD_STATE_DIR",
    message: "Missing COORD_STATE_DIR: no XDG_STATE_HOME and no HOME",
  });
});

Deno.test("defaultLockDir() is XDG_RUNTIME_DIR, else /run/user/<uid>, asking for the uid only then", () => {
  let uidCalls = 0;
  const uid = (value: number | null) => () => (uidCalls++, value);
  assert.equal(defaultLockDir("/run/user/42", uid(1000)), "/run/user/42");
  assert.equal(uidCalls, 0);
  assert.equal(defaultLockDir(undefined, uid(1000)), "/run/user/1000");
  assert.equal(defaultLockDir(undefined, uid(0)), "/run/user/0");
  assert.equal(uidCalls, 2);
  assert.throws(() => defaultLockDir(undefined, uid(null)), {
    name: "ConfigError",
    variable: "COORD_LOCK_DIR",
    message: "Missing COORD_LOCK_DIR: no XDG_RUNTIME_DIR and no uid",
  });
});

Deno.test("checkLockDir() passes a lock folder that is ours and that nobody else can write", async (t) => {
  const passes: [string, FolderInfo | null, number | null][] = [
    ["0700", { uid: 1000, mode: 0o40700 }, 1000],
    ["0755: others may read, not write", { uid: 1000, mode: 0o40755 }, 1000],
    ["1700: the sticky bit alone", { uid: 1000, mode: 0o41700 }, 1000],
    ["missing: the bot makes it, 0700, at start", null, 1000],
    ["an owner the system doesn't say", { uid: null, mode: 0o40700 }, 1000],
    ["our uid unknown", { uid: 0, mode: 0o40700 }, null],
    ["a mode the system doesn't say", { uid: 1000, mode: null }, 1000],
  ];
  for (const [name, info, uid] of passes) {
    await t.step(name, () => checkLockDir("/some/locks", { info, uid: () => uid }));
  }
});

Deno.test("checkLockDir() refuses a lock folder that others can write, giving its mode", async (t) => {
  for (const mode of [0o777, 0o1777, 0o775, 0o757, 0o720, 0o702]) {
    const shown = mode.toString(8).padStart(4, "0");
    await t.step(shown, () => {
      const info = { uid: 1000, mode: 0o40000 | mode };
      assert.throws(() => checkLockDir("/some/locks", { info, uid: () => 1000 }), {
        name: "ConfigError",
        variable: "COORD_LOCK_DIR",
        message:
          `Cannot use COORD_LOCK_DIR "/some/locks": mode ${shown} lets other users write in it; use a folder only we can write (chmod 700), such as $XDG_RUNTIME_DIR`,
      });
    });
  }
});

Deno.test("checkLockDir() refuses another user's lock folder, before looking at its mode", () => {
  const message =
    'Cannot use COORD_LOCK_DIR "/tmp": it belongs to user 0, not to us (1000); use a folder of our own such as $XDG_RUNTIME_DIR';
  for (const mode of [0o40700, 0o41777]) {
    assert.throws(() => checkLockDir("/tmp", { info: { uid: 0, mode }, uid: () => 1000 }), {
      name: "ConfigError",
      variable: "COORD_LOCK_DIR",
      message,
    });
  }
});
