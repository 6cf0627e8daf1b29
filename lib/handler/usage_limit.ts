/**
 * "Run me again later": a brain's own request (exit 75 and a `retry-after:` line), and the Claude
 * CLI's subscription usage limit, read from its words. Every wording lives here.
 *
 * The CLI's limit messages, as its 2.1.330 binary builds them (`strings bin/claude.exe`):
 * `` `You've hit your ${limit}${" · resets " + time}` `` where the limit is `5-hour limit`,
 * `weekly limit`, `Opus limit`, `Sonnet limit`, `usage limit`, `limit`, `monthly spend limit`, …;
 * the CLI's own list of limit-message prefixes also holds `You've reached your` and
 * `You're out of usage credits` (`… · resets <time>`). Elsewhere it says `usage limit resets at
 * 3pm` and `usage limit reached`; gateways answer `spend limit reached · resets Aug 8`; earlier
 * versions printed `5-hour limit reached ∙ resets 3pm` and `Claude AI usage limit
 * reached|<epoch seconds>`. Messages about the account rather than a limit that resets (a seat
 * type without usage credits, usage disabled by an admin) are not limits here: waiting would not
 * help.
 *
 * The time is the CLI's `toLocaleTimeString("en-US")` with the minutes left out on the hour and
 * `AM`/`PM` lowered: `3pm`, `3:30pm`; more than 24 h ahead it is a date, `Nov 28, 9am`, with the
 * year when it is not this one (`Nov 28, 2027, 9am`); limit messages add the zone the time is in,
 * `3pm (Europe/Berlin)`.
 *
 * @module
 */

/** The exit status of a brain that asks to be run again later (sysexits' EX_TEMPFAIL). */
export const EX_TEMPFAIL = 75;

/** The latest Date a `number` can hold, in ms since the epoch. */
const MAX_TIME = 8.64e15;

/**
 * How far in the past a time without a date may be and still mean today: a reset that just
 * passed (the CLI drops the seconds) must not become tomorrow's.
 */
const JUST_PASSED_MS = 60 * 60 * 1000;

/** When a brain asked to be run again later, from its output (ms since the epoch), or undefined. */
export function retryAfterLine(stdout: string, now: number): number | undefined {
  const first = stdout.split("\n", 1)[0].trim();
  const match = /^retry-after:\s*(\S.*)$/i.exec(first);
  if (match === null) return undefined;
  const value = match[1].trim();
  if (/^\d+(?:\.\d+)?$/.test(value)) {
    const at = Math.round(now + Number(value) * 1000);
    return Number.isFinite(at) && at <= MAX_TIME ? at : undefined;
  }
  return parseIsoTime(value);
}

/** `2026-03-01T15:00:00Z`, `…+01:00`, `…+0100`, or without an offset (local time); else undefined. */
function parseIsoTime(value: string): number | undefined {
  const match =
    /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i
      .exec(value);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((s) => Number(s ?? 0));
  const ms = Number((match[7] ?? "").padEnd(3, "0").slice(0, 3));
  if (!validDate({ year, month, day }) || hour > 23 || minute > 59 || second > 59) return undefined;
  const zone = match[8];
  if (zone === undefined) return new Date(year, month - 1, day, hour, minute, second, ms).getTime();
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (zone.toUpperCase() === "Z") return utc;
  const offset = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
  const minutes = Number(offset[2]) * 60 + Number(offset[3] ?? 0);
  if (Number(offset[2]) > 23 || Number(offset[3] ?? 0) > 59) return undefined;
  return utc - (offset[1] === "-" ? -1 : 1) * minutes * 60_000;
}

/** The older CLIs' form: the reset time in epoch seconds after a bar. */
const EPOCH_FORM = /Claude AI usage limit reached\|(\d{9,13})\b/;

/** The wordings of a subscription limit (see the module doc). */
const LIMIT_FORMS: readonly RegExp[] = [
  /You(?:'|’)ve (?:hit|reached) your [^\n·]{0,60}?\blimit\b/i,
  /\b(?:usage|spend|\d+-hour|weekly|session|daily|Opus|Sonnet) limit reached\b/i,
  /\blimit reached\s*[·∙•]\s*resets?\b/i,
  /\busage limit resets\b/i,
  /You(?:'|’)re out of (?:usage credits|extra usage)\b[^\n]*?\bresets\b/i,
];

/** `resets 3pm`, `resets at 3pm`, `reset at 3pm`: the phrase after it, up to the next `·`. */
const RESET_PHRASE = /\bresets?\s+(?:at\s+)?([^\n·∙•]+)/i;

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** `Nov 28, 2027, 9:30am (Europe/Berlin)`, each part but one of date and time optional. */
const RESET_TIME = new RegExp(
  "^(?:(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\\.?\\s+(\\d{1,2})" +
    "(?:,?\\s+(\\d{4}))?(?:,?\\s*(?:at\\s+)?))?" +
    "(?:(\\d{1,2})(?::(\\d{2}))?\\s*([ap])\\.?m\\.?(?![a-z])|(\\d{1,2}):(\\d{2})(?![\\d:]))?" +
    "\\s*(?:\\(([^)]+)\\))?",
  "i",
);

/** Options for {@linkcode claudeUsageLimit}. */
export interface ClaudeUsageLimitOptions {
  /** The zone a reset time is read in when the text names none. Default: the local zone. */
  timeZone?: string;
}

/**
 * The Claude CLI's subscription usage limit, from its result text / stdout / stderr, with the
 * reset time when it says one (ms since epoch), or undefined when the text is not a limit message.
 * A time without a date is its next occurrence after `now` (one that passed less than an hour ago
 * is kept: the reset just happened); it is read in the zone the text names, else in `timeZone`,
 * else in the local zone.
 */
export function claudeUsageLimit(
  text: string,
  now: number,
  options: ClaudeUsageLimitOptions = {},
): { resetsAt?: number } | undefined {
  const epoch = EPOCH_FORM.exec(text);
  if (epoch !== null) {
    const n = Number(epoch[1]);
    return { resetsAt: n < 1e12 ? n * 1000 : n };
  }
  for (const form of LIMIT_FORMS) {
    const match = form.exec(text);
    if (match === null) continue;
    const rest = text.slice(match.index);
    const phrase = RESET_PHRASE.exec(rest.split("\n", 2).join(" "));
    const resetsAt = phrase === null ? undefined : resetTime(phrase[1].trim(), now, options);
    return resetsAt === undefined ? {} : { resetsAt };
  }
  return undefined;
}

function resetTime(
  phrase: string,
  now: number,
  options: ClaudeUsageLimitOptions,
): number | undefined {
  const { timeZone } = options;
  const m = RESET_TIME.exec(phrase);
  if (m === null) return undefined;
  const [, monthName, dayText, yearText, h12, m12, ampm, h24, m24, zoneText] = m;
  const hasDate = monthName !== undefined;
  const hasTime = h12 !== undefined || h24 !== undefined;
  if (!hasDate && !hasTime) return undefined;

  let hour = 0;
  let minute = 0;
  if (h12 !== undefined) {
    hour = Number(h12);
    minute = Number(m12 ?? 0);
    if (hour < 1 || hour > 12) return undefined;
    hour = (hour % 12) + (ampm.toLowerCase() === "p" ? 12 : 0);
  } else if (h24 !== undefined) {
    hour = Number(h24);
    minute = Number(m24);
    if (hour > 23) return undefined;
  }
  if (minute > 59) return undefined;

  const zone = validZone(zoneText?.trim()) ?? validZone(timeZone);
  const today = datePartsAt(now, zone);
  if (!hasDate) {
    let at = wallTime({ ...today, hour, minute }, zone);
    if (at < now - JUST_PASSED_MS) {
      at = wallTime({ ...today, day: today.day + 1, hour, minute }, zone);
    }
    return at;
  }
  const month = MONTHS.indexOf(monthName.slice(0, 3).toLowerCase()) + 1;
  const day = Number(dayText);
  if (yearText !== undefined) {
    const year = Number(yearText);
    const date = { year, month, day };
    return validDate(date) ? wallTime({ ...date, hour, minute }, zone) : undefined;
  }
  // No year: this year's, or next year's once this year's has passed (a December message about January).
  for (const year of [today.year, today.year + 1]) {
    if (!validDate({ year, month, day })) continue;
    const at = wallTime({ year, month, day, hour, minute }, zone);
    if (at >= now - JUST_PASSED_MS) return at;
  }
  return undefined;
}

/** The zone if this runtime knows it (an IANA name such as `Europe/Berlin`, or `UTC`). */
function validZone(zone: string | undefined): string | undefined {
  if (zone === undefined || zone === "") return undefined;
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

interface WallParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The wall-clock reading at `at` in `zone` (the local zone when undefined). */
function partsAt(at: number, zone: string | undefined): WallParts {
  if (zone === undefined) {
    const d = new Date(at);
    return {
      year: d.getFullYear(),
      month: d.getMonth() + 1,
      day: d.getDate(),
      hour: d.getHours(),
      minute: d.getMinutes(),
      second: d.getSeconds(),
    };
  }
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  }).formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return {
    year: get("year"),
    month: get("month"),
    day: get("day"),
    hour: get("hour"),
    minute: get("minute"),
    second: get("second"),
  };
}

function datePartsAt(at: number, zone: string | undefined) {
  const { year, month, day } = partsAt(at, zone);
  return { year, month, day };
}

/** The instant a wall clock in `zone` reads this (a day past the month's end rolls over). */
function wallTime(wall: Omit<WallParts, "second">, zone: string | undefined): number {
  const { year, month, day, hour, minute } = wall;
  if (zone === undefined) return new Date(year, month - 1, day, hour, minute).getTime();
  const wanted = Date.UTC(year, month - 1, day, hour, minute);
  // Two rounds find the offset in force at that instant, across a DST change too.
  let at = wanted - offsetAt(wanted, zone);
  at = wanted - offsetAt(at, zone);
  return at;
}

/** How far `zone`'s wall clock is ahead of UTC at `at`, in ms. */
function offsetAt(at: number, zone: string): number {
  const p = partsAt(at, zone);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - Math.floor(at / 1000) * 1000;
}

function validDate(date: { year: number; month: number; day: number }): boolean {
  const { year, month, day } = date;
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}
