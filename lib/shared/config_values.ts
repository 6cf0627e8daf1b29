/**
 * One setting's value, parsed: a command line, a number or a duration, a flag, a URL, a list of
 * ids. Each parser takes the variable's name and its raw value (`undefined` when unset), and
 * returns the typed value or throws a {@linkcode ConfigError} that names the variable.
 *
 * The parsers know no variable of their own: which variable holds what is `parseConfig`'s table
 * (`config.ts`), the one place that names them.
 *
 * @module
 */

/** Exit status for a configuration error (sysexits.h EX_CONFIG). */
export const EX_CONFIG = 78;

/** A setting that is missing or malformed. */
export class ConfigError extends Error {
  /** The environment variable at fault. */
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(message);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

/**
 * Splits a command line: a JSON array of strings when it starts with `[`, else whitespace-separated
 * words. Returns `undefined` when unset.
 */
export function parseArgv(variable: string, value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  let argv: unknown;
  if (value.startsWith("[")) {
    try {
      argv = JSON.parse(value);
    } catch {
      throw new ConfigError(variable, `Cannot parse ${variable}: invalid JSON array "${value}"`);
    }
    if (!Array.isArray(argv) || !argv.every((a) => typeof a === "string")) {
      throw new ConfigError(
        variable,
        `Cannot parse ${variable}: expected a JSON array of strings, got "${value}"`,
      );
    }
  } else {
    argv = value.split(/\s+/);
  }
  const words = argv as string[];
  if (words.length === 0 || words[0] === "") {
    throw new ConfigError(variable, `Cannot parse ${variable}: the command is empty`);
  }
  return words;
}

/** What a numeric setting accepts, and its value when unset. */
export interface NumberRule {
  /** The value when the variable is unset. */
  fallback: number;
  /** Whole numbers only. Default: true. */
  integer?: boolean;
  /** The smallest value accepted. */
  min: number;
  /** The largest value accepted. Default: `Number.MAX_SAFE_INTEGER`. */
  max?: number;
}

/** Parses a number within `rule`'s range (no sign, no exponent); `rule.fallback` when unset. */
export function parseNumber(variable: string, value: string | undefined, rule: NumberRule): number {
  const { fallback, integer = true, min, max = Number.MAX_SAFE_INTEGER } = rule;
  if (value === undefined) return fallback;
  const n = Number(value);
  const shapeOk = integer ? /^\d+$/.test(value) : /^\d+(\.\d+)?$/.test(value);
  if (!shapeOk || !Number.isFinite(n) || n < min || n > max) {
    const kind = integer ? "an integer" : "a number";
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(
      variable,
      `Cannot parse ${variable}: expected ${kind} ${range}, got "${value}"`,
    );
  }
  return n;
}

/**
 * Parses a duration given in seconds (fractions allowed) into milliseconds; `fallback` and `min`
 * are in seconds, as the person writes them.
 */
export function parseSecondsAsMs(
  variable: string,
  value: string | undefined,
  rule: { fallback: number; min: number },
): number {
  return parseNumber(variable, value, { ...rule, integer: false }) * 1000;
}

/** Parses a flag: `1` is on; `0` or unset is off. */
export function parseFlag(variable: string, value: string | undefined): boolean {
  if (value === undefined || value === "0") return false;
  if (value === "1") return true;
  throw new ConfigError(variable, `Cannot parse ${variable}: expected 0 or 1, got "${value}"`);
}

/** Parses one of `choices`; `undefined` when unset. */
export function parseChoice<T extends string>(
  variable: string,
  value: string | undefined,
  choices: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if ((choices as readonly string[]).includes(value)) return value as T;
  const expected = choices.map((c) => `"${c}"`).join(" or ");
  throw new ConfigError(variable, `Cannot parse ${variable}: expected ${expected}, got "${value}"`);
}

/** Parses a plain http(s) root URL (no query, fragment or credentials), without trailing slashes. */
export function parseRootUrl(variable: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(
      variable,
      `Cannot parse ${variable}: expected an http(s) URL, got "${value}"`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(
      variable,
      `Cannot parse ${variable}: expected an http(s) URL, got "${value}"`,
    );
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new ConfigError(
      variable,
      `Cannot parse ${variable}: expected a plain root URL without query or credentials, got "${value}"`,
    );
  }
  return url.href.replace(/\/+$/, "");
}

/** Parses a required list of Telegram user ids (comma-separated, positive). */
export function parseUserIds(variable: string, value: string | undefined): Set<number> {
  if (value === undefined) {
    throw new ConfigError(
      variable,
      `Missing ${variable}: set the Telegram user ids allowed to talk`,
    );
  }
  return parseIds(variable, value, USER_IDS);
}

/** Parses an optional list of chat ids (comma-separated, groups negative); `undefined` when unset. */
export function parseChatIds(variable: string, value: string | undefined): Set<number> | undefined {
  return value === undefined ? undefined : parseIds(variable, value, CHAT_IDS);
}

/** Which ids a list takes, and how its faults are told. */
interface IdRule {
  /** The shape of one id. */
  pattern: RegExp;
  /** Whether a safe integer of that shape is an id. */
  accepts(id: number): boolean;
  /** What the list should have held, for the message. */
  expected: string;
  /** One id, for the message of an empty list. */
  noun: string;
}

const USER_IDS: IdRule = {
  pattern: /^\d+$/,
  accepts: (id) => id > 0,
  expected: "comma-separated positive user ids",
  noun: "user id",
};

const CHAT_IDS: IdRule = {
  pattern: /^-?\d+$/,
  accepts: (id) => id !== 0,
  expected: "comma-separated chat ids (groups negative)",
  noun: "chat id",
};

function parseIds(variable: string, value: string, rule: IdRule): Set<number> {
  const ids = new Set<number>();
  for (const part of value.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const id = Number(part);
    if (!rule.pattern.test(part) || !Number.isSafeInteger(id) || !rule.accepts(id)) {
      throw new ConfigError(
        variable,
        `Cannot parse ${variable}: expected ${rule.expected}, got "${part}"`,
      );
    }
    ids.add(id);
  }
  if (ids.size === 0) {
    throw new ConfigError(variable, `Cannot parse ${variable}: no ${rule.noun} in "${value}"`);
  }
  return ids;
}
