/**
 * Unit tests for `lib/shared/log.ts`: redaction, the one-line format, and the configured sink.
 *
 * @module
 */

import assert from "node:assert/strict";
import { reset } from "@logtape/logtape";
import {
  getLog,
  oneLineFormatter,
  redact,
  setupLogging,
  writeEarlyLine,
} from "../lib/shared/log.ts";

const TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
/** Token-shaped, but not one we were told about. */
const STRAY = "987654321:AAFzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz";

/** Logging set up with a capturing sink; resets LogTape on dispose. */
async function capturedLogs(secrets: string[]): Promise<{ lines: string[] } & AsyncDisposable> {
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  await setupLogging({
    secrets,
    level: "debug",
    write: (bytes) => chunks.push(decoder.decode(bytes)),
  });
  return {
    get lines() {
      return chunks;
    },
    [Symbol.asyncDispose]: () => reset(),
  };
}

Deno.test("redact() replaces every listed secret", () => {
  assert.equal(
    redact("a SECRET and another SECRET, and PASS", ["SECRET", "PASS"]),
    "a [redacted] and another [redacted], and [redacted]",
  );
  assert.equal(redact("nothing here", [""]), "nothing here");
});

Deno.test("redact() replaces anything shaped like a bot token, even unlisted", () => {
  assert.equal(
    redact(`GET https://api.telegram.org/bot${STRAY}/getMe failed`, []),
    "GET https://api.telegram.org/bot[redacted]/getMe failed",
  );
  assert.equal(redact("at 12:30:45 in 2024", []), "at 12:30:45 in 2024", "times are not tokens");
});

Deno.test("oneLineFormatter() makes one redacted line of a multi-line record", () => {
  const format = oneLineFormatter([TOKEN]);
  const line = format({
    category: ["coord", "test"],
    level: "info",
    message: ["first\nsecond ", TOKEN, ""],
    rawMessage: "first\nsecond {token}",
    timestamp: Date.now(),
    properties: { token: TOKEN },
  });
  assert.ok(line.endsWith("\n"));
  assert.equal(line.indexOf("\n"), line.length - 1, `more than one line: ${JSON.stringify(line)}`);
  assert.match(line, /first\\nsecond \[redacted\]/);
  assert.ok(!line.includes(TOKEN));
});

Deno.test("setupLogging() writes the token nowhere", async (t) => {
  await using logs = await capturedLogs([TOKEN]);
  const log = getLog("test");

  await t.step("in a message", () => {
    log.info(`token is ${TOKEN}`);
    assert.match(logs.lines.at(-1)!, /token is \[redacted\]/);
  });

  await t.step("in a property", () => {
    log.warn("calling {url}", { url: `https://api.telegram.org/bot${TOKEN}/getUpdates` });
    assert.match(
      logs.lines.at(-1)!,
      /calling https:\/\/api\.telegram\.org\/bot\[redacted\]\/getUpdates/,
    );
  });

  await t.step("in an error, stack included", () => {
    log.error("failed: {error}", { error: new TypeError(`fetch ${TOKEN} refused\nsecond line`) });
    const line = logs.lines.at(-1)!;
    assert.match(line, /TypeError/);
    assert.match(line, /fetch \[redacted\] refused/);
  });

  await t.step("in an object", () => {
    log.info("request {request}", { request: { headers: { auth: TOKEN }, stray: STRAY } });
    assert.match(logs.lines.at(-1)!, /auth: "\[redacted\]".*stray: "\[redacted\]"/);
  });

  await t.step("when it is token-shaped but unlisted", () => {
    log.info(`another bot: ${STRAY}`);
    assert.match(logs.lines.at(-1)!, /another bot: \[redacted\]/);
  });

  assert.ok(logs.lines.length >= 5);
  for (const line of logs.lines) {
    assert.ok(!line.includes(TOKEN), line);
    assert.ok(!line.includes(STRAY), line);
    assert.ok(!line.includes("AAH") && !line.includes("AAF"), line);
  }
});

Deno.test("setupLogging() writes each record as exactly one line", async () => {
  await using logs = await capturedLogs([]);
  const log = getLog("test");
  log.info("one\ntwo\nthree");
  log.warn("value: {v}", { v: "multi\nline\nvalue" });
  log.error("boom: {error}", { error: new Error("with a stack") });
  assert.equal(logs.lines.length, 3);
  for (const line of logs.lines) {
    assert.equal(line.indexOf("\n"), line.length - 1, JSON.stringify(line));
  }
  assert.match(logs.lines[0], /one\\ntwo\\nthree/);
  assert.match(logs.lines[1], /multi\\nline\\nvalue/);
  assert.match(logs.lines[2], /with a stack\\n\s*at /);
});

Deno.test("setupLogging() honours the level and the coord category", async () => {
  const lines: string[] = [];
  await setupLogging({
    secrets: [],
    level: "warning",
    write: (bytes) => lines.push(new TextDecoder().decode(bytes)),
  });
  try {
    getLog("test").info("too low");
    getLog("test").warn("shown");
    const { getLogger } = await import("@logtape/logtape");
    getLogger(["elsewhere"]).error("not ours");
    assert.equal(lines.length, 1);
    assert.match(lines[0], /shown/);
    assert.match(lines[0], /coord/);
  } finally {
    await reset();
  }
});

Deno.test("setupLogging() writes for journald: a priority prefix per level and no timestamp", async (t) => {
  const run = async (journal: boolean | undefined, env?: string) => {
    const chunks: string[] = [];
    const before = Deno.env.get("JOURNAL_STREAM");
    if (env !== undefined) Deno.env.set("JOURNAL_STREAM", env);
    else Deno.env.delete("JOURNAL_STREAM");
    try {
      await setupLogging({
        secrets: [TOKEN],
        level: "debug",
        journal,
        write: (bytes) => chunks.push(new TextDecoder().decode(bytes)),
      });
      const log = getLog("journal-test");
      log.error("broke {token}", { token: TOKEN });
      log.warn("careful");
      log.info("fine");
      await reset();
      return chunks;
    } finally {
      if (before === undefined) Deno.env.delete("JOURNAL_STREAM");
      else Deno.env.set("JOURNAL_STREAM", before);
    }
  };
  await t.step("with JOURNAL_STREAM set", async () => {
    const lines = await run(undefined, "8:12345");
    assert.deepEqual(lines.map((l) => l.slice(0, 3)), ["<3>", "<4>", "<6>"]);
    assert.match(lines[0], /^<3>\S*ERR\S* coord·journal-test: broke \[redacted\]\n$/);
    for (const line of lines) assert.doesNotMatch(line, /\d{4}-\d\d-\d\d/, "no timestamp");
  });
  await t.step("without JOURNAL_STREAM", async () => {
    const lines = await run(undefined);
    assert.equal(lines.length, 3);
    for (const line of lines) {
      assert.doesNotMatch(line, /^</, "no priority prefix");
      assert.match(line, /^\d{4}-\d\d-\d\d /, "its own timestamp");
    }
  });
});

Deno.test("writeEarlyLine() writes one line, with its priority under journald", async (t) => {
  const written = (options: Parameters<typeof writeEarlyLine>[1]) => {
    const lines: string[] = [];
    writeEarlyLine("forge-coordinator: Missing X\nsecond", {
      ...options,
      write: (bytes) => lines.push(new TextDecoder().decode(bytes)),
    });
    return lines;
  };
  await t.step("an error, for journald", () => {
    assert.deepEqual(written({ journal: true }), ["<3>forge-coordinator: Missing X second\n"]);
  });
  await t.step("a warning, for journald", () => {
    assert.deepEqual(written({ journal: true, level: "warning" }), [
      "<4>forge-coordinator: Missing X second\n",
    ]);
  });
  await t.step("in a terminal: no prefix", () => {
    assert.deepEqual(written({ journal: false }), ["forge-coordinator: Missing X second\n"]);
  });
});
