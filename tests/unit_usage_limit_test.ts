/**
 * Unit tests for `lib/handler/usage_limit.ts`. Every time is explicit: `now` is passed in, and zones are
 * named (the local-zone cases run with `TZ` as the process has it, and say so).
 *
 * @module
 */

import assert from "node:assert/strict";
import { claudeUsageLimit, EX_TEMPFAIL, retryAfterLine } from "../lib/handler/usage_limit.ts";

const HOUR = 3_600_000;
/** 2026-03-14 14:10 in Berlin (CET, UTC+1). */
const NOW = Date.UTC(2026, 2, 14, 13, 10);
const BERLIN = "Europe/Berlin";

Deno.test("EX_TEMPFAIL is sysexits' 75", () => {
  assert.equal(EX_TEMPFAIL, 75);
});

Deno.test("retryAfterLine() reads the brain's first line", async (t) => {
  await t.step("seconds", () => {
    assert.equal(retryAfterLine("retry-after: 2\n", NOW), NOW + 2_000);
    assert.equal(retryAfterLine("Retry-After:3600", NOW), NOW + HOUR);
    assert.equal(retryAfterLine("retry-after: 1.5\r\nmore text", NOW), NOW + 1_500);
    assert.equal(retryAfterLine("retry-after: 0", NOW), NOW);
  });
  await t.step("an ISO 8601 time", () => {
    assert.equal(
      retryAfterLine("retry-after: 2026-03-14T15:00:00Z\n", NOW),
      Date.UTC(2026, 2, 14, 15),
    );
    assert.equal(
      retryAfterLine("retry-after: 2026-03-14T15:00:00+01:00", NOW),
      Date.UTC(2026, 2, 14, 14),
    );
    assert.equal(
      retryAfterLine("retry-after: 2026-03-14T15:00-0130", NOW),
      Date.UTC(2026, 2, 14, 16, 30),
    );
    assert.equal(
      retryAfterLine("retry-after: 2026-03-14T15:00:00.250Z", NOW),
      Date.UTC(2026, 2, 14, 15, 0, 0, 250),
    );
    // Without an offset it is local time.
    assert.equal(
      retryAfterLine("retry-after: 2026-03-14T15:00:00", NOW),
      new Date(2026, 2, 14, 15).getTime(),
    );
  });
  await t.step("missing, garbage, not on the first line", () => {
    assert.equal(retryAfterLine("", NOW), undefined);
    assert.equal(retryAfterLine("the answer", NOW), undefined);
    assert.equal(retryAfterLine("retry-after:", NOW), undefined);
    assert.equal(retryAfterLine("retry-after: soon", NOW), undefined);
    assert.equal(retryAfterLine("retry-after: -5", NOW), undefined);
    assert.equal(retryAfterLine("retry-after: 1e3", NOW), undefined);
    assert.equal(retryAfterLine("retry-after: 9".padEnd(400, "9"), NOW), undefined);
    assert.equal(retryAfterLine("retry-after: 2026-02-30T10:00:00Z", NOW), undefined);
    assert.equal(retryAfterLine("retry-after: 2026-03-14T25:00:00Z", NOW), undefined);
    assert.equal(retryAfterLine("retry-after: 2026-03-14", NOW), undefined);
    assert.equal(retryAfterLine("retry-after: Sat, 14 Mar 2026 15:00:00 GMT", NOW), undefined);
    assert.equal(retryAfterLine("working on it\nretry-after: 2", NOW), undefined);
    assert.equal(retryAfterLine("x-retry-after: 2", NOW), undefined);
  });
});

Deno.test("claudeUsageLimit() knows each wording of the CLI", async (t) => {
  await t.step("You've hit your … limit · resets <time> (zone), as 2.1.330 words it", () => {
    assert.deepEqual(
      claudeUsageLimit("You've hit your 5-hour limit · resets 3pm (Europe/Berlin)", NOW),
      { resetsAt: Date.UTC(2026, 2, 14, 14) },
    );
    assert.deepEqual(
      claudeUsageLimit("You've hit your limit · resets 3:30pm (Europe/Berlin)", NOW),
      { resetsAt: Date.UTC(2026, 2, 14, 14, 30) },
    );
    assert.deepEqual(
      claudeUsageLimit("You’ve hit your usage limit · resets 6pm (UTC) · progress saved", NOW),
      { resetsAt: Date.UTC(2026, 2, 14, 18) },
    );
    assert.deepEqual(
      claudeUsageLimit("You've hit your weekly limit · resets Mar 18, 9am (America/New_York)", NOW),
      { resetsAt: Date.UTC(2026, 2, 18, 13) }, // EDT since March 8: UTC-4.
    );
    assert.deepEqual(
      claudeUsageLimit(
        "You've hit your Opus limit · resets Jan 2, 2027, 10am (Europe/Berlin)",
        NOW,
      ),
      { resetsAt: Date.UTC(2027, 0, 2, 9) },
    );
  });
  await t.step("other wordings of the same limit", () => {
    assert.deepEqual(
      claudeUsageLimit("5-hour limit reached ∙ resets 3pm", NOW, { timeZone: BERLIN }),
      {
        resetsAt: Date.UTC(2026, 2, 14, 14),
      },
    );
    assert.deepEqual(
      claudeUsageLimit(
        "Claude usage limit reached. Your limit will reset at 5pm (Europe/Berlin).",
        NOW,
      ),
      { resetsAt: Date.UTC(2026, 2, 14, 16) },
    );
    assert.deepEqual(
      claudeUsageLimit("Paused · usage limit resets at 3pm", NOW, { timeZone: BERLIN }),
      {
        resetsAt: Date.UTC(2026, 2, 14, 14),
      },
    );
    assert.deepEqual(claudeUsageLimit("You've reached your Fable limit for this week.", NOW), {});
    assert.deepEqual(claudeUsageLimit("You're out of usage credits · resets 4pm (UTC)", NOW), {
      resetsAt: Date.UTC(2026, 2, 14, 16),
    });
    assert.deepEqual(
      claudeUsageLimit(
        "API Error: spend limit reached · resets Aug 8 · request an increase",
        NOW,
        { timeZone: "UTC" },
      ),
      { resetsAt: Date.UTC(2026, 7, 8) },
    );
  });
  await t.step("the older epoch form", () => {
    assert.deepEqual(claudeUsageLimit("Claude AI usage limit reached|1773496800", NOW), {
      resetsAt: 1773496800_000,
    });
    assert.deepEqual(
      claudeUsageLimit("error\nClaude AI usage limit reached|1773496800123\n", NOW),
      {
        resetsAt: 1773496800123,
      },
    );
  });
  await t.step("a limit without a time it can read: {}", () => {
    assert.deepEqual(
      claudeUsageLimit("You've hit your monthly spend limit · /usage-credits to raise it", NOW),
      {},
    );
    assert.deepEqual(claudeUsageLimit("usage limit reached", NOW), {});
    assert.deepEqual(claudeUsageLimit("You've hit your limit · resets soon", NOW), {});
    assert.deepEqual(claudeUsageLimit("You've hit your limit · resets 13pm (UTC)", NOW), {});
  });
});

Deno.test("claudeUsageLimit() takes the next occurrence of a time", async (t) => {
  await t.step("past midnight: 1am read at 23:30 is tomorrow's", () => {
    const late = Date.UTC(2026, 2, 14, 22, 30); // 23:30 in Berlin.
    assert.deepEqual(claudeUsageLimit("You've hit your limit · resets 1am (Europe/Berlin)", late), {
      resetsAt: Date.UTC(2026, 2, 15, 0),
    });
  });
  await t.step("noon and midnight on the 12-hour clock", () => {
    assert.deepEqual(claudeUsageLimit("You've hit your limit · resets 12pm (UTC)", NOW), {
      resetsAt: Date.UTC(2026, 2, 15, 12),
    });
    assert.deepEqual(claudeUsageLimit("You've hit your limit · resets 12:15am (UTC)", NOW), {
      resetsAt: Date.UTC(2026, 2, 15, 0, 15),
    });
  });
  await t.step("a reset that passed a few minutes ago stays today's", () => {
    const after = Date.UTC(2026, 2, 14, 14, 5); // 15:05 in Berlin.
    assert.deepEqual(
      claudeUsageLimit("You've hit your limit · resets 3pm (Europe/Berlin)", after),
      {
        resetsAt: Date.UTC(2026, 2, 14, 14),
      },
    );
  });
  await t.step("a date without a year that passed is next year's", () => {
    const december = Date.UTC(2026, 11, 30, 12);
    assert.deepEqual(
      claudeUsageLimit("You've hit your weekly limit · resets Jan 2, 9am (UTC)", december),
      {
        resetsAt: Date.UTC(2027, 0, 2, 9),
      },
    );
  });
  await t.step("the zone: the text's, else the one given, else the local one", () => {
    const text = "You've hit your limit · resets 3pm";
    assert.deepEqual(claudeUsageLimit(text, NOW, { timeZone: "Asia/Tokyo" }), {
      resetsAt: Date.UTC(2026, 2, 15, 6),
    });
    assert.deepEqual(claudeUsageLimit(`${text} (UTC)`, NOW, { timeZone: "Asia/Tokyo" }), {
      resetsAt: Date.UTC(2026, 2, 14, 15),
    });
    assert.deepEqual(claudeUsageLimit(`${text} (Mars/Olympus)`, NOW, { timeZone: "UTC" }), {
      resetsAt: Date.UTC(2026, 2, 14, 15),
    });
    // Local: whatever TZ this process runs in, 3pm local after NOW's local date.
    const local = claudeUsageLimit(text, NOW)?.resetsAt;
    assert.ok(local !== undefined);
    const d = new Date(local);
    assert.equal(d.getHours() * 60 + d.getMinutes(), 15 * 60);
    assert.ok(local >= NOW - HOUR && local <= NOW + 24 * HOUR);
  });
  await t.step("across a DST change (Berlin springs forward on March 29)", () => {
    const before = Date.UTC(2026, 2, 28, 22); // 23:00 CET on the 28th.
    assert.deepEqual(
      claudeUsageLimit("You've hit your limit · resets 9am (Europe/Berlin)", before),
      {
        resetsAt: Date.UTC(2026, 2, 29, 7), // 09:00 CEST.
      },
    );
    // 01:30 is still CET (the clocks jump at 02:00), though 01:30 UTC is past the change.
    assert.deepEqual(
      claudeUsageLimit("You've hit your limit · resets 1:30am (Europe/Berlin)", before),
      { resetsAt: Date.UTC(2026, 2, 29, 0, 30) },
    );
  });
});

Deno.test("claudeUsageLimit() leaves other text alone", () => {
  for (
    const text of [
      "",
      "Not logged in · Please run /login",
      "Fixed the rate limiter; the limit is reached after 5 requests and resets every minute.",
      "JIT stack limit reached",
      "API Error: 529 Overloaded",
      "You've used 91% of your 5-hour limit · resets 3pm",
      "Your seat type doesn't include usage credits",
      "No conversation found with session ID: 4f1c2b7e",
    ]
  ) {
    assert.equal(claudeUsageLimit(text, NOW, { timeZone: BERLIN }), undefined, text);
  }
});
