/**
 * Unit tests for what `/status` says of the box: the schedules systemd has for the bot
 * (`lib/handler/schedules.ts`), jobs from the box and files on their way (`status.ts`); and the
 * desk showing an ask's prompt (`show_prompt.ts`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { listSchedules, parseTimers } from "../lib/handler/schedules.ts";
import { showPrompt } from "../lib/handler/show_prompt.ts";
import { statusText } from "../lib/handler/status.ts";
import type { StatusView } from "../lib/shared/line.ts";
import { createApi } from "../lib/shared/telegram.ts";
import { BotApiSimulator } from "./_helpers.ts";

/** What systemd 252's `systemctl --user list-timers --all --output=json` printed here. */
const LIST_TIMERS = JSON.stringify([
  {
    next: 1796715000000000,
    left: 1796715000000000,
    last: 0,
    passed: 0,
    unit: "forge-coordinator-schedule-morning.timer",
    activates: "forge-coordinator-schedule-morning.service",
  },
  {
    next: 0,
    left: 0,
    last: 1796600000000000,
    passed: 1796600000000000,
    unit: "forge-coordinator-schedule-backup-check.timer",
    activates: "forge-coordinator-schedule-backup-check.service",
  },
  { next: 1, last: 0, unit: "other.timer", activates: "other.service" },
]);

Deno.test("parseTimers() keeps the bot's schedules, by name, with their times in ms", () => {
  assert.deepEqual(parseTimers(LIST_TIMERS), [
    { name: "backup-check", next: undefined, last: 1796600000000 },
    { name: "morning", next: 1796715000000, last: undefined },
  ]);
  assert.deepEqual(parseTimers("[]"), []);
  assert.throws(() => parseTimers("{}"), TypeError);
});

Deno.test("listSchedules() asks systemctl for the bot's timers, and is quiet when it can't", async () => {
  const asked: string[][] = [];
  const found = await listSchedules({
    run: (command, args) => {
      asked.push([command, ...args]);
      return Promise.resolve(LIST_TIMERS);
    },
  });
  assert.deepEqual(asked, [[
    "systemctl",
    "--user",
    "list-timers",
    "--all",
    "--no-pager",
    "--output=json",
    "forge-coordinator-schedule-*",
  ]]);
  assert.equal(found?.length, 2);
  const failing = () => Promise.reject(new Error("Failed to connect to bus"));
  assert.equal(await listSchedules({ run: failing }), undefined);
  // A systemctl that hangs is given up at its deadline.
  const hanging = (_c: string, _a: string[], signal: AbortSignal) =>
    new Promise<string>((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    );
  assert.equal(await listSchedules({ run: hanging, timeoutMs: 20 }), undefined);
});

const VIEW: StatusView = {
  startedAt: "2026-01-05T07:00:00Z",
  live: 0,
  cap: 4,
  waiting: 0,
  waitingInAll: 0,
  delivering: 0,
};
const NOW = Date.parse("2026-01-05T07:10:00Z");

Deno.test("statusText() says how many jobs from the box wait and how many files are on their way", () => {
  const text = (box: StatusView["box"], spooled = 0) =>
    statusText({ view: { ...VIEW, box }, maxAttempts: 3, now: NOW, spooled });
  assert.ok(!text(undefined).includes("📬"));
  assert.ok(!text({ jobs: 0, files: 0 }).includes("📬"));
  assert.match(text({ jobs: 1, files: 0 }), /📬 1 job from the box waiting\.$/m);
  assert.match(text({ jobs: 1, files: 0 }, 2), /📬 3 jobs from the box waiting\.$/m);
  assert.match(
    text({ jobs: 0, files: 3 }),
    /📬 3 files waiting to be delivered\.$/m,
  );
  assert.match(
    text({ jobs: 2, files: 1 }),
    /📬 2 jobs from the box waiting; 1 file waiting to be delivered\.$/m,
  );
});

Deno.test("statusText() lists the schedules with their next run", () => {
  const text = statusText({
    view: VIEW,
    maxAttempts: 3,
    now: NOW,
    schedules: [
      { name: "morning", next: Date.parse("2026-01-06T07:30:00Z") },
      { name: "backup-check" },
    ],
  });
  assert.match(text, /^⏰ Schedule morning: next 2026-01-06 07:30 UTC \(in 24 h 20 min\)\.$/m);
  assert.match(text, /^⏰ Schedule backup-check: not planned \(its timer is stopped\)\.$/m);
});

Deno.test("showPrompt() shows the text as the bot's own message and resolves to its id", async () => {
  await using sim = await BotApiSimulator.start();
  sim.sendText(1001, "hello");
  const api = createApi(sim.token, { apiRoot: sim.apiRoot });
  const id = await showPrompt(1001, "⏰ Scheduled: brief me", { api });
  const shown = sim.botMessage(1001, id);
  assert.equal(shown?.text, "⏰ Scheduled: brief me");
  assert.equal(shown?.reply_to, undefined);
});
