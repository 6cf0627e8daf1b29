/**
 * Unit tests for `lib/shared/desk_protocol.ts`: the lines the poll loop and the front desk say to
 * each other, read back, and whatever is not one of them refused.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type DeskJob,
  jobKey,
  jobUpdateId,
  parseDeskJob,
  parseDeskReport,
} from "../lib/shared/desk_protocol.ts";

Deno.test("parseDeskReport() reads each kind of report", () => {
  assert.deepEqual(parseDeskReport('{"ready":true}'), { ready: true });
  assert.deepEqual(parseDeskReport('{"acked":12}'), { acked: 12 });
  assert.deepEqual(parseDeskReport('{"done":13}'), { done: 13 });
  assert.deepEqual(parseDeskReport('{"withdraw":14}'), { withdraw: 14 });
  assert.deepEqual(parseDeskReport('{"acked":12,"extra":"ignored"}'), { acked: 12 });
});

Deno.test("parseDeskReport() rejects whatever is not a report", async (t) => {
  const bad = [
    "",
    "not json",
    '{"acked":1',
    "null",
    "42",
    '"acked"',
    "[]",
    "{}",
    '{"ready":false}',
    '{"ready":"yes"}',
    '{"acked":"12"}',
    '{"acked":1.5}',
    '{"done":null}',
    `{"done":${2 ** 60}}`,
    '{"cancelled":3}',
  ];
  for (const line of bad) {
    await t.step(JSON.stringify(line), () => assert.equal(parseDeskReport(line), undefined));
  }
});

Deno.test("parseDeskJob() reads each kind of job", () => {
  for (const kind of ["ack", "answer", "withdraw"] as const) {
    const job = { job: kind, update: { update_id: 7, message: { text: "hi" } } };
    assert.deepEqual(parseDeskJob(JSON.stringify(job)), job);
  }
});

Deno.test("parseDeskJob() throws a TypeError for whatever is not a job", async (t) => {
  const bad: [string, RegExp][] = [
    ["not json", /invalid JSON \(8 characters\)/],
    ["", /invalid JSON/],
    ["null", /expected \{job, update\} with an update_id/],
    ["[]", /expected/],
    ['{"job":"ack"}', /expected/],
    ['{"job":"brain","update":{"update_id":1}}', /expected/],
    ['{"job":"ack","update":{}}', /expected/],
    ['{"job":"ack","update":{"update_id":"1"}}', /expected/],
    ['{"job":"ack","update":{"update_id":1.5}}', /expected/],
    ['{"job":"ack","update":null}', /expected/],
  ];
  for (const [line, message] of bad) {
    await t.step(JSON.stringify(line), () => {
      assert.throws(
        () => parseDeskJob(line),
        (error) =>
          error instanceof TypeError && /^Cannot parse a desk job: /.test(error.message) &&
          message.test(error.message),
      );
    });
  }
});

Deno.test("jobUpdateId() and jobKey() name a job by its kind and update", () => {
  const job: DeskJob = { job: "answer", update: { update_id: 99 } };
  assert.equal(jobUpdateId(job), 99);
  assert.equal(jobKey(job), "answer:99");
  assert.notEqual(jobKey({ job: "ack", update: { update_id: 99 } }), jobKey(job));
});
