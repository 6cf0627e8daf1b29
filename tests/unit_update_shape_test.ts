/**
 * Unit tests for `lib/shared/update_shape.ts`, table-driven: every recorded shape of an update
 * (`tests/fixtures/updates.json`, from Telegram's documentation and real updates, and those the
 * simulator's phone sends) with each of its fields, one at a time, changed to every other type or
 * removed. Whatever comes in, nothing the bot does with an update throws: it is either a clean
 * skip (routed `skip`, or ignored as `unauthorized`), or handled; and a field of the type table
 * holding a wrong type is always a skip that names it.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Message } from "grammy/types";
import { checkFields, type FieldType, UPDATE_KINDS } from "../lib/shared/update_shape.ts";
import { messageInput, parseHandlerUpdate, quotedText } from "../lib/shared/update.ts";
import { parseCommand } from "../lib/shared/command.ts";
import { commandTarget, routeUpdate, stopTarget, takesTurn } from "../lib/shared/update_route.ts";
import { BotApiSimulator, projectPath } from "./_helpers.ts";

const USER = 8679559480;

/** The recorded shapes: the fixture file, then what the simulator's phone sends. */
async function recordedShapes(): Promise<Record<string, unknown>[]> {
  const file = JSON.parse(Deno.readTextFileSync(projectPath("tests/fixtures/updates.json")));
  await using sim = await BotApiSimulator.start();
  const bytes = new TextEncoder().encode("x");
  const text = sim.sendText(USER, "hello");
  const sent = [
    text,
    sim.sendText(USER, "/cancel", { replyTo: text.message!.message_id }),
    sim.sendPhoto(USER, { caption: "a photo" }),
    sim.sendDocument(USER, bytes, { fileName: "a.pdf", caption: "a file" }),
    sim.sendVoice(USER, bytes),
    sim.sendAudio(USER, bytes),
    sim.sendSticker(USER),
    sim.editText(USER, text.message!.message_id, "hello, edited"),
    sim.sendText(-100500, "in a group", { fromId: USER }),
  ];
  return [...file, ...JSON.parse(JSON.stringify(sent))];
}

/** Every path to a value in `value` (object keys and list indexes), parents before children. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== "object" || value === null) return [];
  const entries = Array.isArray(value)
    ? value.map((v, i) => [i, v] as const)
    : Object.entries(value);
  return entries.flatMap(([key, child]) => [[...prefix, key], ...pathsOf(child, [...prefix, key])]);
}

/** A value of each JSON type, and "absent". */
const REPLACEMENTS: [string, unknown][] = [
  ["a string", "x"],
  ["an integer", 7],
  ["a negative integer", -1],
  ["a fraction", 1.5],
  ["a boolean", true],
  ["null", null],
  ["a list", []],
  ["an object", {}],
  ["absent", undefined],
];

/** A path as the table's checks name it: `message.photo[1].file_id`. */
function shown(path: (string | number)[]): string {
  return path.map((key, i) => typeof key === "number" ? `[${key}]` : i === 0 ? key : `.${key}`)
    .join("");
}

/** `update` with the value at `path` replaced (or removed, for `undefined`). */
function withValue(update: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(update) as Record<string | number, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (value === undefined) {
    if (Array.isArray(at)) at.splice(Number(last), 1);
    else delete at[last];
  } else {
    at[last] = value;
  }
  return copy;
}

/** The type the table gives the field at `path`, if it lists it. */
function tableType(path: (string | number)[]): FieldType | undefined {
  let type: FieldType | undefined = UPDATE_KINDS[String(path[0])];
  for (const key of path.slice(1)) {
    if (type === undefined || typeof type === "string") return undefined;
    type = "items" in type ? (typeof key === "number" ? type.items : undefined) : type.fields[key];
  }
  return type;
}

/** Everything the bot does with an update, as the poll loop, the desk and a handler would. */
function handle(update: unknown): string {
  const options = { allowedChats: new Set([-1002003004005, -100500]), botUsername: "forge_bot" };
  const route = routeUpdate(update, new Set([USER]), options);
  if (route.kind !== "dispatch") return route.kind;
  takesTurn(update);
  stopTarget(update);
  const parsed = parseHandlerUpdate(JSON.stringify(update)) as {
    message?: Message;
    edited_message?: Message;
  };
  const message = parsed.message ?? parsed.edited_message;
  if (message !== undefined) {
    parseCommand(message.text);
    commandTarget(message.text);
    const input = messageInput(message);
    if (input.kind === "text") quotedText(input.text, input.origin);
    if (input.kind === "file") quotedText(input.caption ?? "", input.origin);
  }
  return "dispatch";
}

Deno.test("every recorded shape of an update is taken as it is", async () => {
  for (const update of await recordedShapes()) {
    const outcome = handle(update);
    assert.ok(outcome === "dispatch", `${outcome}: ${JSON.stringify(update).slice(0, 200)}`);
  }
});

Deno.test("every field of every recorded update, of any other type or absent: handled, or skipped cleanly", async () => {
  let tried = 0;
  let skippedForType = 0;
  for (const update of await recordedShapes()) {
    for (const path of pathsOf(update)) {
      if (path.length === 1 && path[0] === "update_id") continue;
      const original = path.reduce(
        (v: unknown, k) => (v as Record<string | number, unknown>)[k],
        update as unknown,
      );
      for (const [name, value] of REPLACEMENTS) {
        if (value === original) continue;
        const changed = withValue(update, path, value);
        const where = `${path.join(".")} as ${name} in update ${
          (update as { update_id: number }).update_id
        }`;
        let outcome: string;
        try {
          outcome = handle(changed);
        } catch (error) {
          throw new assert.AssertionError({ message: `threw for ${where}: ${error}` });
        }
        tried++;
        const type = tableType(path);
        const problem = type === undefined || value === undefined
          ? undefined
          : checkFields(value, { type, path: shown(path) });
        if (problem !== undefined) {
          // A field the bot reads, of the wrong type: always a skip that names it.
          const updateId = (update as { update_id: number }).update_id;
          const route = routeUpdate(changed, new Set([USER]));
          assert.deepEqual(
            route,
            { kind: "skip", updateId, reason: `malformed: ${problem}` },
            where,
          );
          skippedForType++;
        } else {
          assert.ok(["dispatch", "skip", "unauthorized"].includes(outcome), where);
        }
      }
    }
  }
  assert.ok(tried > 2000, `${tried} variants tried`);
  assert.ok(skippedForType > 500, `${skippedForType} skipped for a field's type`);
});

Deno.test("checkFields() names the first field of the wrong type, and passes what the table doesn't list", () => {
  const at = { type: UPDATE_KINDS.message, path: "message" };
  assert.equal(checkFields({ message_id: 1, chat: { id: 1 } }, at), undefined);
  assert.equal(
    checkFields(
      { message_id: 1, chat: { id: 1 }, photo: [{ file_id: "a" }, { file_id: 2 }] },
      at,
    ),
    "message.photo[1].file_id is not a string",
  );
  assert.equal(
    checkFields(
      { message_id: 1, chat: { id: 1 }, unknown_field: { any: "thing" } },
      at,
    ),
    undefined,
  );
  assert.equal(
    checkFields({ chat: { id: 1 } }, at),
    "message.message_id is missing",
  );
});
