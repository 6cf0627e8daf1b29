/**
 * Unit tests for `lib/update.ts`: routing updates, reading a message's input, parsing a handler's
 * update.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Message } from "grammy/types";
import { messageInput, parseHandlerUpdate, routeUpdate } from "../lib/update.ts";

const AUTHORIZED = new Set([1001, 8679559480]);

/** A private-chat text message from `userId`. */
function textUpdate(updateId: number, userId: number, text = "hello") {
  return {
    update_id: updateId,
    message: {
      message_id: 7,
      date: 1_700_000_000,
      chat: { id: userId, type: "private", first_name: "Ada" },
      from: { id: userId, is_bot: false, first_name: "Ada" },
      text,
    },
  };
}

/** A message with the usual fields and `extra` on top. */
function message(extra: Record<string, unknown>): Message {
  return {
    message_id: 7,
    date: 1_700_000_000,
    chat: { id: 1001, type: "private", first_name: "Ada" },
    from: { id: 1001, is_bot: false, first_name: "Ada" },
    ...extra,
  } as unknown as Message;
}

Deno.test("routeUpdate() dispatches an authorized user's message", () => {
  assert.deepEqual(routeUpdate(textUpdate(5, 1001), AUTHORIZED), {
    kind: "dispatch",
    updateId: 5,
    chatId: 1001,
    messageId: 7,
    userId: 1001,
  });
});

Deno.test("routeUpdate() dispatches from a group chat and for ids above 2^32", () => {
  const update = textUpdate(6, 8679559480);
  update.message.chat.id = -1001234567890;
  assert.deepEqual(routeUpdate(update, AUTHORIZED), {
    kind: "dispatch",
    updateId: 6,
    chatId: -1001234567890,
    messageId: 7,
    userId: 8679559480,
  });
});

Deno.test("routeUpdate() marks a message from anyone else as unauthorized", async (t) => {
  await t.step("another user", () => {
    assert.deepEqual(routeUpdate(textUpdate(5, 666), AUTHORIZED), {
      kind: "unauthorized",
      updateId: 5,
      chatId: 666,
      userId: 666,
    });
  });

  await t.step("no sender", () => {
    const update: Record<string, unknown> = textUpdate(5, 1001);
    delete (update.message as Record<string, unknown>).from;
    assert.deepEqual(routeUpdate(update, AUTHORIZED), {
      kind: "unauthorized",
      updateId: 5,
      chatId: 1001,
      userId: undefined,
    });
  });

  await t.step("a sender id that is a string", () => {
    const update = textUpdate(5, 1001) as { message: { from: unknown } };
    update.message.from = { id: "1001", is_bot: false, first_name: "Ada" };
    assert.equal(routeUpdate(update, AUTHORIZED).kind, "unauthorized");
  });
});

Deno.test("routeUpdate() skips updates that are not messages", async (t) => {
  for (const kind of ["edited_message", "callback_query", "channel_post"]) {
    await t.step(kind, () => {
      const route = routeUpdate({ update_id: 9, [kind]: { id: 1 } }, AUTHORIZED);
      assert.equal(route.kind, "skip");
      assert.equal(route.updateId, 9);
      assert.match((route as { reason: string }).reason, new RegExp(kind));
    });
  }
});

Deno.test("routeUpdate() skips malformed updates with a reason", async (t) => {
  const malformed: [string, unknown, number | undefined][] = [
    ["no update_id", { message: textUpdate(1, 1001).message }, undefined],
    ["a string update_id", { ...textUpdate(1, 1001), update_id: "1" }, undefined],
    ["a negative update_id", { ...textUpdate(1, 1001), update_id: -1 }, undefined],
    ["a message that is not an object", { update_id: 3, message: "hi" }, 3],
    ["a message that is an array", { update_id: 3, message: [] }, 3],
    ["a message without a chat", { update_id: 3, message: { message_id: 1, date: 0 } }, 3],
    [
      "a string chat id",
      { update_id: 3, message: { message_id: 1, date: 0, chat: { id: "1001" } } },
      3,
    ],
    [
      "a string message id",
      { update_id: 3, message: { message_id: "1", date: 0, chat: { id: 1001 } } },
      3,
    ],
  ];
  for (const [name, update, updateId] of malformed) {
    await t.step(name, () => {
      const route = routeUpdate(update, AUTHORIZED);
      assert.equal(route.kind, "skip");
      assert.equal(route.updateId, updateId);
      assert.ok((route as { reason: string }).reason.length > 0);
    });
  }
});

Deno.test("routeUpdate() never throws on any JSON value", () => {
  const values: unknown[] = [null, [], 42, "x", true, {}, { update_id: null }, [{ update_id: 1 }]];
  for (const value of values) {
    const route = routeUpdate(value, AUTHORIZED);
    assert.equal(route.kind, "skip", JSON.stringify(value));
  }
});

Deno.test("messageInput() takes text, then a caption", async (t) => {
  await t.step("text", () => {
    assert.deepEqual(messageInput(message({ text: "hi there" })), {
      kind: "text",
      text: "hi there",
    });
  });

  await t.step("a photo's caption", () => {
    const input = messageInput(message({ photo: [{ file_id: "p" }], caption: "what is this?" }));
    assert.deepEqual(input, { kind: "text", text: "what is this?" });
  });
});

Deno.test("messageInput() takes a voice note or an audio file for transcription", async (t) => {
  await t.step("voice", () => {
    const input = messageInput(message({ voice: { file_id: "v1", duration: 3, file_size: 2048 } }));
    assert.deepEqual(input, { kind: "audio", fileId: "v1", fileSize: 2048 });
  });

  await t.step("audio", () => {
    const input = messageInput(message({ audio: { file_id: "a1", duration: 3 } }));
    assert.deepEqual(input, { kind: "audio", fileId: "a1", fileSize: undefined });
  });
});

Deno.test("messageInput() describes what it can't take", async (t) => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["a sticker", { sticker: { file_id: "s" } }, "a sticker"],
    ["a photo without a caption", { photo: [{ file_id: "p" }] }, "a photo without a caption"],
    ["a document", { document: { file_id: "d" } }, "a document without a caption"],
    ["a location", { location: { latitude: 0, longitude: 0 } }, "a location"],
    ["an empty text", { text: "" }, "an empty message"],
    ["a whitespace text", { text: " \n\t " }, "an empty message"],
    ["nothing known", {}, "this kind of message"],
  ];
  for (const [name, extra, what] of cases) {
    await t.step(name, () => {
      assert.deepEqual(messageInput(message(extra)), { kind: "unsupported", what });
    });
  }
});

Deno.test("parseHandlerUpdate() returns a message update", () => {
  const update = textUpdate(11, 1001, "ping");
  const parsed = parseHandlerUpdate(JSON.stringify(update));
  assert.deepEqual(parsed, update);
  assert.equal(parsed.message.text, "ping");
});

Deno.test("parseHandlerUpdate() throws TypeError on what is not a message update", async (t) => {
  const bad: [string, string][] = [
    ["invalid JSON", "{not json"],
    ["an empty line", ""],
    ["null", "null"],
    ["an edited message", JSON.stringify({ update_id: 1, edited_message: { message_id: 1 } })],
    ["a message without a chat", JSON.stringify({ update_id: 1, message: { message_id: 1 } })],
  ];
  for (const [name, text] of bad) {
    await t.step(name, () => {
      assert.throws(() => parseHandlerUpdate(text), TypeError);
    });
  }
});
