/**
 * Unit tests for `lib/shared/config_values.ts`: each parser of one setting's value, called
 * directly. Good values, every kind of bad one with the exact message (which names the variable
 * and quotes the value), and the edges of each range. Which variable holds what, and its default,
 * is `parseConfig()`'s table, tested in `unit_config_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  ConfigError,
  EX_CONFIG,
  parseArgv,
  parseChatIds,
  parseFlag,
  parseNumber,
  parseRootUrl,
  parseSecondsAsMs,
  parseUserIds,
} from "../lib/shared/config_values.ts";

Deno.test("ConfigError names its variable; a configuration error exits with EX_CONFIG (78)", () => {
  const error = new ConfigError("COORD_X", "Cannot parse COORD_X: no");
  assert.ok(error instanceof Error);
  assert.equal(error.name, "ConfigError");
  assert.equal(error.variable, "COORD_X");
  assert.equal(error.message, "Cannot parse COORD_X: no");
  assert.equal(EX_CONFIG, 78);
});

Deno.test("parseArgv() splits a command line: a JSON array, or words", async (t) => {
  const cases: [string, string[]][] = [
    ["claude -p", ["claude", "-p"]],
    ["/opt/brain\t--fast \n -v", ["/opt/brain", "--fast", "-v"]],
    ["brain", ["brain"]],
    ['["/opt/my brain", "two words", "--x"]', ["/opt/my brain", "two words", "--x"]],
    ['["brain"]', ["brain"]],
    ['["brain", ""]', ["brain", ""]],
    ['{"not": "an array"}', ['{"not":', '"an', 'array"}']],
  ];
  for (const [value, argv] of cases) {
    await t.step(value, () => assert.deepEqual(parseArgv("COORD_BRAIN_CMD", value), argv));
  }
  await t.step("unset", () => assert.equal(parseArgv("COORD_BRAIN_CMD", undefined), undefined));
});

Deno.test("parseArgv() refuses a command it can't run, naming the variable", async (t) => {
  const cases: [string, string][] = [
    ['["unclosed"', 'Cannot parse COORD_TRANSCRIBE_CMD: invalid JSON array "["unclosed""'],
    ["[brain]", 'Cannot parse COORD_TRANSCRIBE_CMD: invalid JSON array "[brain]"'],
    [
      '["ok", 3]',
      'Cannot parse COORD_TRANSCRIBE_CMD: expected a JSON array of strings, got "["ok", 3]"',
    ],
    [
      '[["nested"]]',
      'Cannot parse COORD_TRANSCRIBE_CMD: expected a JSON array of strings, got "[["nested"]]"',
    ],
    ["[]", "Cannot parse COORD_TRANSCRIBE_CMD: the command is empty"],
    ['[""]', "Cannot parse COORD_TRANSCRIBE_CMD: the command is empty"],
    ['["", "brain"]', "Cannot parse COORD_TRANSCRIBE_CMD: the command is empty"],
    ["", "Cannot parse COORD_TRANSCRIBE_CMD: the command is empty"],
  ];
  for (const [value, message] of cases) {
    await t.step(value || "(empty)", () => {
      assert.throws(() => parseArgv("COORD_TRANSCRIBE_CMD", value), {
        name: "ConfigError",
        variable: "COORD_TRANSCRIBE_CMD",
        message,
      });
    });
  }
});

Deno.test("parseNumber() reads a whole number within its range, or the fallback when unset", async (t) => {
  const rule = { fallback: 30, min: 0, max: 50 };
  const cases: [string | undefined, number][] = [
    [undefined, 30],
    ["0", 0],
    ["1", 1],
    ["50", 50],
    ["007", 7],
  ];
  for (const [value, n] of cases) {
    await t.step(String(value), () => assert.equal(parseNumber("COORD_N", value, rule), n));
  }
  await t.step("no max: up to the largest safe integer", () => {
    const rule = { fallback: 1, min: 1 };
    assert.equal(parseNumber("COORD_N", "9007199254740991", rule), Number.MAX_SAFE_INTEGER);
  });
  await t.step("the fallback is not checked against the range", () => {
    assert.equal(parseNumber("COORD_N", undefined, { fallback: -1, min: 1 }), -1);
  });
});

Deno.test("parseNumber() refuses what is not a number in range, saying the range", async (t) => {
  const ranged = { fallback: 30, min: 1, max: 50 };
  const open = { fallback: 3, min: 1 };
  const cases: [string, typeof open, string][] = [
    ["four", open, 'expected an integer >= 1, got "four"'],
    ["0", open, 'expected an integer >= 1, got "0"'],
    ["-1", open, 'expected an integer >= 1, got "-1"'],
    ["+1", open, 'expected an integer >= 1, got "+1"'],
    ["1.5", open, 'expected an integer >= 1, got "1.5"'],
    ["1e3", open, 'expected an integer >= 1, got "1e3"'],
    ["0x10", open, 'expected an integer >= 1, got "0x10"'],
    [" 1", open, 'expected an integer >= 1, got " 1"'],
    ["", open, 'expected an integer >= 1, got ""'],
    ["9007199254740992", open, 'expected an integer >= 1, got "9007199254740992"'],
    ["51", ranged, 'expected an integer from 1 to 50, got "51"'],
    ["0", ranged, 'expected an integer from 1 to 50, got "0"'],
    ["Infinity", ranged, 'expected an integer from 1 to 50, got "Infinity"'],
  ];
  for (const [value, rule, detail] of cases) {
    await t.step(`"${value}" (${"max" in rule ? "1 to 50" : ">= 1"})`, () => {
      assert.throws(() => parseNumber("COORD_POISON_LIMIT", value, rule), {
        name: "ConfigError",
        variable: "COORD_POISON_LIMIT",
        message: `Cannot parse COORD_POISON_LIMIT: ${detail}`,
      });
    });
  }
});

Deno.test("parseNumber() with integer: false takes a decimal fraction, never an exponent", async (t) => {
  const rule = { fallback: 1, min: 0.5, max: 2, integer: false };
  for (const [value, n] of [["0.5", 0.5], ["1", 1], ["1.25", 1.25], ["2", 2], ["2.000", 2]]) {
    await t.step(`"${value}"`, () => assert.equal(parseNumber("COORD_R", String(value), rule), n));
  }
  for (const value of ["0.49", "2.01", ".5", "1.", "1.5.2", "5e-1", "-1", "NaN"]) {
    await t.step(`refuses "${value}"`, () => {
      assert.throws(() => parseNumber("COORD_R", value, rule), {
        name: "ConfigError",
        variable: "COORD_R",
        message: `Cannot parse COORD_R: expected a number from 0.5 to 2, got "${value}"`,
      });
    });
  }
});

Deno.test("parseSecondsAsMs() reads seconds, fractions too, as milliseconds", async (t) => {
  const rule = { fallback: 300, min: 0.001 };
  const cases: [string | undefined, number][] = [
    [undefined, 300_000],
    ["0.001", 1],
    ["2.5", 2500],
    ["90.25", 90_250],
    ["3600", 3_600_000],
  ];
  for (const [value, ms] of cases) {
    await t.step(String(value), () => {
      assert.equal(parseSecondsAsMs("COORD_BRAIN_TIMEOUT_S", value, rule), ms);
    });
  }
  await t.step("0 where the minimum is 0", () => {
    assert.equal(parseSecondsAsMs("COORD_WAIT_NOTE_S", "0", { fallback: 60, min: 0 }), 0);
  });
  for (const value of ["0", "0.0009", "-1", "five", "1m", "1e3"]) {
    await t.step(`refuses "${value}"`, () => {
      assert.throws(() => parseSecondsAsMs("COORD_BRAIN_TIMEOUT_S", value, rule), {
        name: "ConfigError",
        variable: "COORD_BRAIN_TIMEOUT_S",
        message: `Cannot parse COORD_BRAIN_TIMEOUT_S: expected a number >= 0.001, got "${value}"`,
      });
    });
  }
});

Deno.test("parseFlag() takes 1 as on, 0 or unset as off, and nothing else", async (t) => {
  assert.equal(parseFlag("COORD_SHOW_COST", "1"), true);
  assert.equal(parseFlag("COORD_SHOW_COST", "0"), false);
  assert.equal(parseFlag("COORD_SHOW_COST", undefined), false);
  for (const value of ["yes", "true", "on", "2", "01", ""]) {
    await t.step(`refuses "${value}"`, () => {
      assert.throws(() => parseFlag("COORD_SHOW_COST", value), {
        name: "ConfigError",
        variable: "COORD_SHOW_COST",
        message: `Cannot parse COORD_SHOW_COST: expected 0 or 1, got "${value}"`,
      });
    });
  }
});

Deno.test("parseRootUrl() takes a plain http(s) root, without trailing slashes", async (t) => {
  const cases: [string, string][] = [
    ["https://api.telegram.org", "https://api.telegram.org"],
    ["https://api.telegram.org/", "https://api.telegram.org"],
    ["http://127.0.0.1:8081", "http://127.0.0.1:8081"],
    ["http://localhost:8081/tg//", "http://localhost:8081/tg"],
    ["HTTPS://API.Example.COM/Root", "https://api.example.com/Root"],
    ["https://api.example.com:443/", "https://api.example.com"],
  ];
  for (const [value, root] of cases) {
    await t.step(value, () => assert.equal(parseRootUrl("COORD_API_ROOT", value), root));
  }
});

Deno.test("parseRootUrl() refuses what is not a plain http(s) root, quoting it", async (t) => {
  const notHttp = "expected an http(s) URL";
  const notPlain = "expected a plain root URL without query or credentials";
  const cases: [string, string][] = [
    ["not a url", notHttp],
    ["api.telegram.org", notHttp],
    ["ftp://api.example.com", notHttp],
    ["file:///etc/passwd", notHttp],
    ["https://api.example.com/?x=1", notPlain],
    ["https://api.example.com/#top", notPlain],
    ["https://u:p@api.example.com", notPlain],
    ["https://u@api.example.com", notPlain],
  ];
  for (const [value, detail] of cases) {
    await t.step(value, () => {
      assert.throws(() => parseRootUrl("COORD_API_ROOT", value), {
        name: "ConfigError",
        variable: "COORD_API_ROOT",
        message: `Cannot parse COORD_API_ROOT: ${detail}, got "${value}"`,
      });
    });
  }
});

Deno.test("parseUserIds() reads a required list of positive user ids", async (t) => {
  const cases: [string, number[]][] = [
    ["1001", [1001]],
    ["1001, 1002,1003", [1001, 1002, 1003]],
    [" 1001 , 42 ,, ", [1001, 42]],
    ["5,5", [5]],
    ["8679559480", [8679559480]],
    ["9007199254740991", [Number.MAX_SAFE_INTEGER]],
  ];
  for (const [value, ids] of cases) {
    await t.step(value, () => {
      assert.deepEqual(parseUserIds("COORD_AUTHORIZED_USER_IDS", value), new Set(ids));
    });
  }
});

Deno.test("parseUserIds() refuses a missing, empty or malformed list, quoting the culprit", async (t) => {
  const variable = "COORD_AUTHORIZED_USER_IDS";
  const malformed = (part: string) =>
    `Cannot parse ${variable}: expected comma-separated positive user ids, got "${part}"`;
  const cases: [string | undefined, string][] = [
    [undefined, `Missing ${variable}: set the Telegram user ids allowed to talk`],
    ["", `Cannot parse ${variable}: no user id in ""`],
    [" , ,", `Cannot parse ${variable}: no user id in " , ,"`],
    ["12,abc", malformed("abc")],
    ["-5", malformed("-5")],
    ["0", malformed("0")],
    ["1.5", malformed("1.5")],
    ["1e3", malformed("1e3")],
    ["1001 1002", malformed("1001 1002")],
    ["9007199254740992", malformed("9007199254740992")],
  ];
  for (const [value, message] of cases) {
    await t.step(String(JSON.stringify(value)), () => {
      assert.throws(() => parseUserIds(variable, value), {
        name: "ConfigError",
        variable,
        message,
      });
    });
  }
});

Deno.test("parseChatIds() reads an optional list of chat ids, groups negative", async (t) => {
  const variable = "COORD_ALLOWED_CHAT_IDS";
  await t.step("unset: no list", () => assert.equal(parseChatIds(variable, undefined), undefined));
  await t.step("private chats and groups", () => {
    assert.deepEqual(
      parseChatIds(variable, "1001, -1001234567890,-42"),
      new Set([1001, -1001234567890, -42]),
    );
  });
  const malformed = (part: string) =>
    `Cannot parse ${variable}: expected comma-separated chat ids (groups negative), got "${part}"`;
  const cases: [string, string][] = [
    ["me", malformed("me")],
    ["0", malformed("0")],
    ["-0", malformed("-0")],
    ["--3", malformed("--3")],
    ["+3", malformed("+3")],
    ["1.5", malformed("1.5")],
    ["-9007199254740992", malformed("-9007199254740992")],
    [",", `Cannot parse ${variable}: no chat id in ","`],
    ["", `Cannot parse ${variable}: no chat id in ""`],
  ];
  for (const [value, message] of cases) {
    await t.step(`refuses "${value}"`, () => {
      assert.throws(() => parseChatIds(variable, value), {
        name: "ConfigError",
        variable,
        message,
      });
    });
  }
});
