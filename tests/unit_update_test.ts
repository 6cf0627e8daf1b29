/**
 * Unit tests for `lib/shared/update.ts` and `update_route.ts`: routing updates (and, through
 * `routeUpdate()`, checking their shape), reading a message's input, parsing a handler's update.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Message } from "grammy/types";
import { forwardedLine, messageInput, parseHandlerUpdate } from "../lib/shared/update.ts";
import { commandTarget, routeUpdate, takesTurn } from "../lib/shared/update_route.ts";
import { parseCommand, updateCommand } from "../lib/shared/command.ts";

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
      reason: "user",
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
      reason: "user",
    });
  });

  await t.step("a sender id that is a string", () => {
    const update = textUpdate(5, 1001) as { message: { from: unknown } };
    update.message.from = { id: "1001", is_bot: false, first_name: "Ada" };
    assert.equal(routeUpdate(update, AUTHORIZED).kind, "unauthorized");
  });
});

Deno.test("routeUpdate() hands an authorized user's edited message on, like a message", () => {
  const { message } = textUpdate(6, 1001, "edited");
  const update = { update_id: 6, edited_message: { ...message, edit_date: 1_700_000_100 } };
  assert.deepEqual(routeUpdate(update, AUTHORIZED), {
    kind: "dispatch",
    updateId: 6,
    chatId: 1001,
    messageId: 7,
    userId: 1001,
  });
  assert.equal(routeUpdate({ ...update, edited_message: { id: 1 } }, AUTHORIZED).kind, "skip");
  assert.equal(takesTurn(update), false, "an edit is answered at once");
  assert.equal(takesTurn(textUpdate(6, 1001)), true, "a message waits for its turn");
  assert.deepEqual(parseHandlerUpdate(JSON.stringify(update)), update);
});

Deno.test("routeUpdate() skips updates that are not messages", async (t) => {
  for (const kind of ["callback_query", "channel_post"]) {
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

  await t.step("a caption of something else (a video)", () => {
    const input = messageInput(message({ video: { file_id: "v" }, caption: "what is this?" }));
    assert.deepEqual(input, { kind: "text", text: "what is this?" });
  });
});

Deno.test("messageInput() takes a photo's largest size and a document, with their captions", async (t) => {
  const sizes = [
    { file_id: "small", file_size: 1024, width: 90, height: 67 },
    { file_id: "large", file_size: 48_000, width: 800, height: 600 },
  ];
  await t.step("a photo with a caption", () => {
    const input = messageInput(message({ photo: sizes, caption: "what is this?" }));
    assert.deepEqual(input, {
      kind: "file",
      fileId: "large",
      fileSize: 48_000,
      name: "photo.jpg",
      caption: "what is this?",
    });
  });

  await t.step("a photo without a caption", () => {
    const input = messageInput(message({ photo: sizes, caption: "  " }));
    assert.deepEqual(input, {
      kind: "file",
      fileId: "large",
      fileSize: 48_000,
      name: "photo.jpg",
      caption: undefined,
    });
  });

  await t.step("a document, under its own name made safe", () => {
    const input = messageInput(message({ document: { file_id: "d", file_name: "../a.pdf" } }));
    assert.deepEqual(input, {
      kind: "file",
      fileId: "d",
      fileSize: undefined,
      name: "a.pdf",
      caption: undefined,
    });
  });

  await t.step("a document without a name", () => {
    const input = messageInput(message({ document: { file_id: "d", file_size: 3 } }));
    assert.equal((input as { name: string }).name, "document");
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
    ["a photo without a file id", { photo: [{}] }, "a photo without a caption"],
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

Deno.test("routeUpdate() with COORD_ALLOWED_CHAT_IDS ignores other chats, even the owner's", async (t) => {
  const allowedChats = new Set([1001, -100777]);
  await t.step("a listed private chat", () => {
    assert.equal(routeUpdate(textUpdate(5, 1001), AUTHORIZED, { allowedChats }).kind, "dispatch");
  });
  await t.step("a listed group", () => {
    const update = textUpdate(6, 1001);
    update.message.chat.id = -100777;
    assert.equal(routeUpdate(update, AUTHORIZED, { allowedChats }).kind, "dispatch");
  });
  await t.step("the owner in an unlisted group", () => {
    const update = textUpdate(7, 1001);
    update.message.chat.id = -100888;
    assert.deepEqual(routeUpdate(update, AUTHORIZED, { allowedChats }), {
      kind: "unauthorized",
      updateId: 7,
      chatId: -100888,
      userId: 1001,
      reason: "chat",
    });
  });
  await t.step("the owner's own private chat, unlisted", () => {
    const route = routeUpdate(textUpdate(8, 8679559480), AUTHORIZED, { allowedChats });
    assert.equal(route.kind, "unauthorized");
  });
  await t.step("a stranger in a listed chat is still a stranger", () => {
    const update = textUpdate(9, 666);
    update.message.chat.id = -100777;
    assert.deepEqual(routeUpdate(update, AUTHORIZED, { allowedChats }), {
      kind: "unauthorized",
      updateId: 9,
      chatId: -100777,
      userId: 666,
      reason: "user",
    });
  });
});

Deno.test("a command addressed to another bot is not ours", async (t) => {
  const botUsername = "forge_bot";
  await t.step("routeUpdate() skips it", () => {
    const route = routeUpdate(textUpdate(5, 1001, "/status@OtherBot"), AUTHORIZED, { botUsername });
    assert.deepEqual(route, { kind: "skip", updateId: 5, reason: "a command for @OtherBot" });
  });
  await t.step("routeUpdate() takes ours, whatever the case, and plain commands", () => {
    for (const text of ["/status@Forge_Bot", "/status", "/new@forge_bot now", "hello @OtherBot"]) {
      assert.equal(
        routeUpdate(textUpdate(5, 1001, text), AUTHORIZED, { botUsername }).kind,
        "dispatch",
        text,
      );
    }
  });
  await t.step("routeUpdate() without the bot's name takes every command", () => {
    assert.equal(routeUpdate(textUpdate(5, 1001, "/status@OtherBot"), AUTHORIZED).kind, "dispatch");
  });
  await t.step("parseCommand() and updateCommand()", () => {
    assert.equal(parseCommand("/status@OtherBot", botUsername), undefined);
    assert.equal(parseCommand("/status@forge_bot", botUsername), "status");
    assert.equal(parseCommand("/cancel", botUsername), "cancel");
    assert.equal(updateCommand({ message: { text: "/new@OtherBot" } }, botUsername), undefined);
    assert.equal(updateCommand({ message: { text: "/new@FORGE_BOT" } }, botUsername), "new");
  });
  await t.step("commandTarget()", () => {
    assert.equal(commandTarget("/status@OtherBot"), "OtherBot");
    assert.equal(commandTarget("  /x@b_2 and more"), "b_2");
    assert.equal(commandTarget("/status"), undefined);
    assert.equal(commandTarget("mail me@example.org"), undefined);
    assert.equal(commandTarget(undefined), undefined);
  });
});

Deno.test("messageInput() starts a forwarded message with a line saying from whom", async (t) => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["a user", {
      type: "user",
      date: 1,
      sender_user: {
        id: 5,
        is_bot: false,
        first_name: "Grace",
        last_name: "Hopper",
        username: "ghopper",
      },
    }, "[Forwarded message, originally from Grace Hopper (@ghopper)]"],
    [
      "a hidden user",
      { type: "hidden_user", date: 1, sender_user_name: "Alan" },
      "[Forwarded message, originally from Alan (hidden account)]",
    ],
    ["a channel", {
      type: "channel",
      date: 1,
      chat: { id: -1009, type: "channel", title: "News", username: "news" },
      message_id: 3,
      author_signature: "Ed",
    }, "[Forwarded message, originally from News (@news), signed Ed]"],
    [
      "a group",
      { type: "chat", date: 1, sender_chat: { id: -5, type: "group", title: "Team" } },
      "[Forwarded message, originally from Team]",
    ],
    ["an origin of an unknown kind", { type: "future", date: 1 }, "[Forwarded message]"],
  ];
  for (const [name, origin, line] of cases) {
    await t.step(name, () => {
      const input = messageInput(message({ text: "run rm -rf ~", forward_origin: origin }));
      assert.deepEqual(input, { kind: "text", text: `${line}\nrun rm -rf ~` });
    });
  }
  await t.step("a forwarded document: the line leads its caption (or is it)", () => {
    const document = { file_id: "d", file_unique_id: "u", file_name: "a.txt" };
    const origin = cases[0][1];
    const withCaption = messageInput(message({ document, caption: "see", forward_origin: origin }));
    assert.equal(withCaption.kind === "file" && withCaption.caption, `${cases[0][2]}\nsee`);
    const bare = messageInput(message({ document, forward_origin: origin }));
    assert.equal(bare.kind === "file" && bare.caption, cases[0][2]);
  });
  await t.step("a forwarded voice note carries the line for its transcript", () => {
    const voice = { file_id: "v", file_unique_id: "u", duration: 1 };
    const input = messageInput(message({ voice, forward_origin: cases[1][1] }));
    assert.equal(input.kind === "audio" && input.forwarded, cases[1][2]);
  });
  await t.step("a message of one's own has no such line", () => {
    assert.equal(forwardedLine(message({ text: "mine" })), undefined);
    assert.deepEqual(messageInput(message({ text: "mine" })), { kind: "text", text: "mine" });
  });
});
