/**
 * Unit tests for `lib/shared/update_route.ts`: what becomes of an update. `routeUpdate()` (a
 * handler, unauthorized, or skipped; `COORD_ALLOWED_CHAT_IDS`; a command for another bot),
 * `commandTarget()`, `takesTurn()`, and the Stop presses: `stopTarget()` and `draftIdOf()`.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  commandTarget,
  draftIdOf,
  routeUpdate,
  stopTarget,
  takesTurn,
} from "../lib/shared/update_route.ts";

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

/** A press of the 🛑 button with `data` on the bot's message 40 in `chatId`, by `userId`. */
function buttonPress(updateId: number, userId: number, chatId = userId, data = "stop:12") {
  return {
    update_id: updateId,
    callback_query: {
      id: "4000000000000",
      from: { id: userId, is_bot: false, first_name: "Ada" },
      message: { message_id: 40, date: 1_700_000_000, chat: { id: chatId, type: "private" } },
      chat_instance: "-7010",
      data,
    },
  };
}

/** A press of Stop on draft `draftId` in `chatId` (Bot API 10.3). */
function draftStop(updateId: number, chatId: number, draftId: unknown) {
  return {
    update_id: updateId,
    stopped_message_generation: { chat: { id: chatId, type: "private" }, draft_id: draftId },
  };
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

/** A text message from `userId` in the group `chatId`. */
function groupUpdate(updateId: number, userId: number, chatId: number, text = "hello") {
  const update = textUpdate(updateId, userId, text);
  update.message.chat = { id: chatId, type: "supergroup", title: "Team" } as never;
  return update;
}

Deno.test("routeUpdate() dispatches from a listed group chat and for ids above 2^32", () => {
  const update = groupUpdate(6, 8679559480, -1001234567890);
  const allowedChats = new Set([-1001234567890]);
  assert.deepEqual(routeUpdate(update, AUTHORIZED, { allowedChats }), {
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

  await t.step("a sender id that is a string: malformed, skipped", () => {
    const update = textUpdate(5, 1001) as { message: { from: unknown } };
    update.message.from = { id: "1001", is_bot: false, first_name: "Ada" };
    assert.deepEqual(routeUpdate(update, AUTHORIZED), {
      kind: "skip",
      updateId: 5,
      reason: "malformed: message.from.id is not an integer of 0 or more",
    });
  });

  await t.step("nobody is authorized", () => {
    assert.equal(routeUpdate(textUpdate(5, 1001), new Set()).kind, "unauthorized");
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
});

Deno.test("routeUpdate() hands a Stop press on, from its presser", async (t) => {
  await t.step("the 🛑 button of a progress message", () => {
    assert.deepEqual(routeUpdate(buttonPress(20, 1001), AUTHORIZED), {
      kind: "dispatch",
      updateId: 20,
      chatId: 1001,
      messageId: 40,
      userId: 1001,
    });
  });
  await t.step("the button in a listed group: the group's chat, the presser's id", () => {
    const allowedChats = new Set([-100777]);
    assert.deepEqual(routeUpdate(buttonPress(21, 1001, -100777), AUTHORIZED, { allowedChats }), {
      kind: "dispatch",
      updateId: 21,
      chatId: -100777,
      messageId: 40,
      userId: 1001,
    });
  });
  await t.step("a button whose message is too old to be sent along: the presser's chat", () => {
    const press = buttonPress(22, 1001) as { callback_query: Record<string, unknown> };
    delete press.callback_query.message;
    assert.deepEqual(routeUpdate(press, AUTHORIZED), {
      kind: "dispatch",
      updateId: 22,
      chatId: 1001,
      messageId: 0,
      userId: 1001,
    });
  });
  await t.step("a stranger's press is unauthorized", () => {
    assert.deepEqual(routeUpdate(buttonPress(23, 666, 1001), AUTHORIZED), {
      kind: "unauthorized",
      updateId: 23,
      chatId: 1001,
      userId: 666,
      reason: "user",
    });
  });
  await t.step("the Stop of a draft in a private chat: the chat is the person", () => {
    assert.deepEqual(routeUpdate(draftStop(24, 8679559480, 13), AUTHORIZED), {
      kind: "dispatch",
      updateId: 24,
      chatId: 8679559480,
      messageId: 0,
      userId: 8679559480,
    });
  });
  await t.step("the Stop of a draft in another person's chat is unauthorized", () => {
    assert.equal(routeUpdate(draftStop(25, 666, 13), AUTHORIZED).kind, "unauthorized");
  });
  await t.step("the Stop of a draft said to be in a group names no one: unauthorized", () => {
    const route = routeUpdate(draftStop(26, -100777, 13), AUTHORIZED);
    assert.deepEqual(route, {
      kind: "unauthorized",
      updateId: 26,
      chatId: -100777,
      userId: undefined,
      reason: "user",
    });
  });
});

Deno.test("routeUpdate() skips updates that are not messages or presses", async (t) => {
  for (const kind of ["callback_query", "channel_post", "message_reaction"]) {
    await t.step(kind, () => {
      const route = routeUpdate({ update_id: 9, [kind]: { id: 1 } }, AUTHORIZED);
      assert.equal(route.kind, "skip");
      assert.equal(route.updateId, 9);
      assert.match((route as { reason: string }).reason, new RegExp(kind));
    });
  }
  await t.step("nothing but an update_id", () => {
    assert.deepEqual(routeUpdate({ update_id: 9 }, AUTHORIZED), {
      kind: "skip",
      updateId: 9,
      reason: "not a message (empty)",
    });
  });
  await t.step("no update_id at all", () => {
    assert.deepEqual(routeUpdate(null, AUTHORIZED), {
      kind: "skip",
      updateId: undefined,
      reason: "no update_id",
    });
  });
});

Deno.test("routeUpdate() takes groups only when COORD_ALLOWED_CHAT_IDS lists them", async (t) => {
  const allowedChats = new Set([-100777]);
  const ignored = (updateId: number, chatId: number, userId = 1001) => ({
    kind: "unauthorized",
    updateId,
    chatId,
    userId,
    reason: "chat",
  });
  await t.step("an authorized user's private chat, with or without a list", () => {
    assert.equal(routeUpdate(textUpdate(5, 1001), AUTHORIZED).kind, "dispatch");
    assert.equal(routeUpdate(textUpdate(5, 1001), AUTHORIZED, { allowedChats }).kind, "dispatch");
  });
  await t.step("a group, with no list: ignored", () => {
    assert.deepEqual(routeUpdate(groupUpdate(6, 1001, -100777), AUTHORIZED), ignored(6, -100777));
  });
  await t.step("a listed group", () => {
    const route = routeUpdate(groupUpdate(6, 1001, -100777), AUTHORIZED, { allowedChats });
    assert.equal(route.kind, "dispatch");
  });
  await t.step("the owner in an unlisted group", () => {
    const route = routeUpdate(groupUpdate(7, 1001, -100888), AUTHORIZED, { allowedChats });
    assert.deepEqual(route, ignored(7, -100888));
  });
  await t.step("a chat said to be private that is not the sender's own is a group", () => {
    const update = textUpdate(8, 1001);
    update.message.chat.id = 8679559480;
    assert.deepEqual(routeUpdate(update, AUTHORIZED), ignored(8, 8679559480));
  });
  await t.step("a stranger in a listed group is still a stranger", () => {
    assert.deepEqual(routeUpdate(groupUpdate(9, 666, -100777), AUTHORIZED, { allowedChats }), {
      kind: "unauthorized",
      updateId: 9,
      chatId: -100777,
      userId: 666,
      reason: "user",
    });
  });
  await t.step("an edit, a command and a Stop press in an unlisted group", () => {
    const { message } = groupUpdate(10, 8679559480, -100888);
    const edit = { update_id: 10, edited_message: message };
    const command = groupUpdate(11, 8679559480, -100888, "/status");
    const press = buttonPress(12, 8679559480, -100888);
    for (const update of [edit, command, press]) {
      const route = routeUpdate(update, AUTHORIZED, { allowedChats });
      assert.equal((route as { reason?: string }).reason, "chat", JSON.stringify(update));
    }
  });
});

Deno.test("routeUpdate() skips a command addressed to another bot", async (t) => {
  const botUsername = "forge_bot";
  await t.step("/status@OtherBot", () => {
    const route = routeUpdate(textUpdate(5, 1001, "/status@OtherBot"), AUTHORIZED, { botUsername });
    assert.deepEqual(route, { kind: "skip", updateId: 5, reason: "a command for @OtherBot" });
  });
  await t.step("an edit into /status@OtherBot", () => {
    const { message } = textUpdate(6, 1001, "/status@OtherBot");
    const route = routeUpdate({ update_id: 6, edited_message: message }, AUTHORIZED, {
      botUsername,
    });
    assert.deepEqual(route, { kind: "skip", updateId: 6, reason: "a command for @OtherBot" });
  });
  await t.step("another bot's command of any name, even one we don't know", () => {
    const route = routeUpdate(textUpdate(7, 1001, "/start2@OtherBot"), AUTHORIZED, {
      botUsername,
    });
    assert.equal(route.kind, "skip");
  });
  await t.step("ours, whatever the case or an @ in the name given, and plain commands", () => {
    const texts = ["/status@Forge_Bot", "/status", "/new@forge_bot now", "hello @OtherBot"];
    for (const name of [botUsername, "@forge_bot"]) {
      for (const text of texts) {
        const route = routeUpdate(textUpdate(5, 1001, text), AUTHORIZED, { botUsername: name });
        assert.equal(route.kind, "dispatch", `${text} as ${name}`);
      }
    }
  });
  await t.step("a stranger's command for another bot is unauthorized first", () => {
    const route = routeUpdate(textUpdate(8, 666, "/status@OtherBot"), AUTHORIZED, { botUsername });
    assert.equal(route.kind, "unauthorized");
  });
  await t.step("without the bot's name, every command is taken", () => {
    assert.equal(routeUpdate(textUpdate(5, 1001, "/status@OtherBot"), AUTHORIZED).kind, "dispatch");
  });
});

Deno.test("commandTarget() finds the bot a command is addressed to", async (t) => {
  const cases: [string | undefined, string | undefined][] = [
    ["/status@OtherBot", "OtherBot"],
    ["  /x@b_2 and more", "b_2"],
    ["/status@OtherBot\nthe rest", "OtherBot"],
    ["/status", undefined],
    ["/status@", undefined],
    ["/status@OtherBot, please", undefined],
    ["mail me@example.org", undefined],
    ["say /status@OtherBot", undefined],
    [undefined, undefined],
  ];
  for (const [text, target] of cases) {
    await t.step(
      JSON.stringify(text) ?? "undefined",
      () => assert.equal(commandTarget(text), target),
    );
  }
});

Deno.test("takesTurn() says which updates wait for their chat's turn: a message for the brain", async (t) => {
  const cases: [string, unknown, boolean][] = [
    ["a text message", textUpdate(1, 1001), true],
    ["a message of another command (for the brain)", textUpdate(1, 1001, "/start"), true],
    ["a photo without a caption", {
      update_id: 1,
      message: { message_id: 7, date: 0, chat: { id: 1001 }, photo: [{ file_id: "p" }] },
    }, true],
    ["/status", textUpdate(1, 1001, "/status"), false],
    ["/cancel now", textUpdate(1, 1001, "/cancel now"), false],
    ["/New@forge_bot", textUpdate(1, 1001, "/New@forge_bot"), false],
    ["a caption that reads like a command (it goes to the brain)", {
      update_id: 1,
      message: { ...textUpdate(1, 1001).message, text: undefined, caption: "/new" },
    }, true],
    ["an edit", { update_id: 1, edited_message: textUpdate(1, 1001).message }, false],
    ["a press of the 🛑 button", buttonPress(1, 1001), false],
    ["a Stop on a draft", draftStop(1, 1001, 2), false],
    ["null", null, false],
    ["a message that is not an object", { update_id: 1, message: "hi" }, false],
  ];
  for (const [name, update, waits] of cases) {
    await t.step(name, () => assert.equal(takesTurn(update), waits));
  }
});

Deno.test("stopTarget() finds the message a Stop press is for", async (t) => {
  await t.step("the 🛑 button's stop:<update id>", () => {
    assert.equal(stopTarget(buttonPress(30, 1001, 1001, "stop:12")), 12);
    assert.equal(stopTarget(buttonPress(30, 1001, 1001, "stop:8679559480")), 8679559480);
  });
  await t.step("a draft's Stop, through its draft id", () => {
    assert.equal(stopTarget(draftStop(31, 1001, draftIdOf(12))), 12);
  });
  const none: [string, unknown][] = [
    ["other button data", buttonPress(32, 1001, 1001, "more:12")],
    ["stop without a number", buttonPress(32, 1001, 1001, "stop:")],
    ["stop with more after it", buttonPress(32, 1001, 1001, "stop:12:x")],
    ["a negative id", buttonPress(32, 1001, 1001, "stop:-12")],
    ["draft id 0", draftStop(33, 1001, 0)],
    ["a negative draft id", draftStop(33, 1001, -5)],
    ["a draft id that is a string", draftStop(33, 1001, "13")],
    ["a fractional draft id", draftStop(33, 1001, 1.5)],
    ["a message", textUpdate(34, 1001, "stop:12")],
    ["null", null],
  ];
  for (const [name, update] of none) {
    await t.step(`none for ${name}`, () => assert.equal(stopTarget(update), undefined));
  }
});

Deno.test("draftIdOf() gives each message a non-zero draft id that stopTarget() reads back", () => {
  for (const updateId of [0, 1, 12, 940961529, 2 ** 40]) {
    const draftId = draftIdOf(updateId);
    assert.notEqual(draftId, 0, `update ${updateId}`);
    assert.ok(Number.isSafeInteger(draftId) && draftId > 0, `update ${updateId}: ${draftId}`);
    assert.equal(stopTarget(draftStop(1, 1001, draftId)), updateId);
  }
  assert.notEqual(draftIdOf(1), draftIdOf(2));
});
