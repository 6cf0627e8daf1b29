/**
 * Faithfulness tests of the Bot API simulator, over real HTTP with `fetch`.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { File, Message, Update, User } from "grammy/types";
import { ALLOWED_REACTIONS } from "./sim/emoji.ts";
import { parseEntitiesError } from "./sim/markdown.ts";
import { BotApiSimulator, type RecordedCall, type UploadedFile } from "./sim/simulator.ts";
import { waitUntil } from "./_helpers.ts";

type Encoding = "json" | "form" | "query" | "multipart";

interface CallOptions {
  /** How parameters travel. Default: `"json"`. */
  encoding?: Encoding;
  /** Token in the URL. Default: the simulator's. */
  token?: string;
  /** Cancels the request. Default: none. */
  signal?: AbortSignal;
}

interface Envelope<T> {
  ok: boolean;
  result?: T;
  error_code?: number;
  description?: string;
  parameters?: Record<string, unknown>;
}

interface Answer<T> {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: Envelope<T> | undefined;
}

const CHAT = 8679559480; // above 2^32, as real ids are
const OTHER_CHAT = 424242;
const MiB = 1024 * 1024;

async function read<T>(response: Response): Promise<Answer<T>> {
  const text = await response.text();
  let json: Envelope<T> | undefined;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** Calls a Bot API method of the simulator the way a client would. */
async function callApi<T = unknown>(
  sim: BotApiSimulator,
  method: string,
  params: Record<string, unknown> = {},
  options: CallOptions = {},
): Promise<Answer<T>> {
  const { encoding = "json", token = sim.token, signal } = options;
  let url = `${sim.apiRoot}/bot${token}/${method}`;
  const init: RequestInit = { method: "POST", signal };
  const flat = Object.entries(params).map(([name, value]): [string, string] => [
    name,
    typeof value === "string" ? value : JSON.stringify(value),
  ]);
  switch (encoding) {
    case "json":
      init.headers = { "content-type": "application/json" };
      init.body = JSON.stringify(params);
      break;
    case "form":
      init.body = new URLSearchParams(flat);
      break;
    case "query":
      init.method = "GET";
      url += `?${new URLSearchParams(flat)}`;
      break;
    case "multipart": {
      const form = new FormData();
      for (const [name, value] of flat) form.append(name, value);
      init.body = form;
      break;
    }
  }
  return read<T>(await fetch(url, init));
}

function assertError(answer: Answer<unknown>, code: number, description: string): void {
  assert.equal(answer.status, code, answer.text);
  assert.equal(answer.headers.get("content-type"), "application/json");
  assert.deepEqual(answer.json, { ok: false, error_code: code, description });
}

function lastCall(sim: BotApiSimulator): RecordedCall {
  const call = sim.calls.at(-1);
  assert.ok(call, "no call was recorded");
  return call;
}

Deno.test("BotApiSimulator listens on 127.0.0.1 and reports its API root without a trailing slash", async () => {
  await using sim = await BotApiSimulator.start();
  assert.equal(sim.apiRoot, `http://127.0.0.1:${sim.port}`);
  assert.ok(sim.port > 0);
  assert.equal(sim.token, "123456:TEST-sim-token-abcdefghijklmnopqrstuvwxyz");
  const me = await callApi<User>(sim, "getMe");
  assert.equal(me.json?.result?.id, 123456);
  assert.equal(me.json?.result?.is_bot, true);
});

Deno.test("BotApiSimulator reads parameters from the query, urlencoded, JSON and multipart bodies", async (t) => {
  for (const encoding of ["query", "form", "json", "multipart"] as const) {
    await t.step(`${encoding}: JSON-typed fields arrive parsed and ids as numbers`, async () => {
      await using sim = await BotApiSimulator.start();
      const update = sim.sendText(CHAT, "hi");
      const messageId = update.message!.message_id;
      const sent = await callApi<Message>(sim, "sendMessage", {
        chat_id: CHAT,
        text: "hello",
        reply_parameters: { message_id: messageId },
      }, { encoding });
      assert.equal(sent.status, 200, sent.text);
      assert.equal(sent.json?.result?.reply_to_message?.message_id, messageId);
      assert.deepEqual(lastCall(sim).params, {
        chat_id: CHAT,
        text: "hello",
        reply_parameters: { message_id: messageId },
      });
      const reacted = await callApi(sim, "setMessageReaction", {
        chat_id: CHAT,
        message_id: messageId,
        reaction: [{ type: "emoji", emoji: "👀" }],
      }, { encoding });
      assert.deepEqual(reacted.json, { ok: true, result: true });
      assert.deepEqual(lastCall(sim).params.reaction, [{ type: "emoji", emoji: "👀" }]);
      assert.equal(sim.reaction(CHAT, messageId), "👀");
    });
  }
});

Deno.test("BotApiSimulator answers tokens, paths and method names like the Bot API", async (t) => {
  await using sim = await BotApiSimulator.start();

  await t.step("a well-formed but wrong token gets 401 Unauthorized", async () => {
    assertError(
      await callApi(sim, "getMe", {}, { token: "654321:WRONG-token" }),
      401,
      "Unauthorized",
    );
  });
  await t.step("a malformed token gets 404 Not Found", async () => {
    assertError(await callApi(sim, "getMe", {}, { token: "not-a-token" }), 404, "Not Found");
    assertError(await read(await fetch(`${sim.apiRoot}/bot/getMe`)), 404, "Not Found");
  });
  await t.step("an unknown method gets 404 Not Found: method not found", async () => {
    assertError(await callApi(sim, "sendTelepathy"), 404, "Not Found: method not found");
  });
  await t.step("method names are case-insensitive and recorded in camelCase", async () => {
    const answer = await callApi(sim, "GETME", {}, { encoding: "query" });
    assert.equal(answer.status, 200);
    assert.equal(lastCall(sim).method, "getMe");
  });
  await t.step("success is the ok envelope with application/json", async () => {
    const answer = await callApi(sim, "deleteWebhook", { drop_pending_updates: false });
    assert.equal(answer.headers.get("content-type"), "application/json");
    assert.deepEqual(answer.json, { ok: true, result: true });
  });
  await t.step("every call is recorded, failures included, in order", () => {
    const calls = sim.calls;
    assert.deepEqual(calls.map((call) => call.seq), calls.map((_, i) => i + 1));
    assert.deepEqual(
      calls.map((call) => [call.method, call.status]),
      [
        ["getMe", 401],
        ["getMe", 404],
        ["getMe", 404],
        ["sendTelepathy", 404],
        ["getMe", 200],
        ["deleteWebhook", 200],
      ],
    );
    assert.equal(calls[0].description, "Unauthorized");
    for (const call of calls) {
      assert.ok(call.endedAt !== undefined && call.endedAt >= call.at);
    }
  });
});

Deno.test("The phone queues updates with increasing ids and per-chat message ids", async (t) => {
  await using sim = await BotApiSimulator.start();

  await t.step("sendText builds a private text message from the person", () => {
    const before = Math.floor(Date.now() / 1000);
    const update = sim.sendText(CHAT, "Simple text");
    assert.equal(update.update_id, 1);
    const message = update.message!;
    assert.equal(message.message_id, 1);
    assert.equal(message.text, "Simple text");
    assert.deepEqual(message.chat, {
      id: CHAT,
      type: "private",
      first_name: "Tester",
      username: `tester${CHAT}`,
    });
    assert.equal(message.from?.id, CHAT);
    assert.equal(message.from?.is_bot, false);
    assert.ok(message.date >= before && message.date <= Math.ceil(Date.now() / 1000));
  });
  await t.step("message ids count per chat, update ids across chats", () => {
    assert.equal(sim.sendText(OTHER_CHAT, "x").message!.message_id, 1);
    const third = sim.sendText(CHAT, "again", { fromId: 7 });
    assert.equal(third.update_id, 3);
    assert.equal(third.message!.message_id, 2);
    assert.equal(third.message!.from?.id, 7);
  });
  await t.step("the bot's messages share the chat's message id sequence", async () => {
    const sent = await callApi<Message>(sim, "sendMessage", { chat_id: CHAT, text: "reply" });
    assert.equal(sent.json?.result?.message_id, 3);
    assert.equal(sim.sendText(CHAT, "next").message!.message_id, 4);
  });
  await t.step("media messages carry Telegram's fields", () => {
    const voice = sim.sendVoice(CHAT, new Uint8Array(11), { duration: 3, caption: "c" }).message!;
    assert.equal(voice.voice?.duration, 3);
    assert.equal(voice.voice?.mime_type, "audio/ogg");
    assert.equal(voice.voice?.file_size, 11);
    assert.equal(voice.caption, "c");
    const audio = sim.sendAudio(CHAT, new Uint8Array(5)).message!.audio!;
    assert.ok(audio.performer && audio.title && audio.file_name && audio.file_id);
    const sticker = sim.sendSticker(CHAT).message!.sticker!;
    assert.equal(sticker.type, "regular");
    assert.equal(typeof sticker.is_animated, "boolean");
    const photo = sim.sendPhoto(CHAT, { caption: "look" }).message!;
    assert.equal(photo.caption, "look");
    assert.ok(photo.photo!.length >= 2);
    assert.ok(photo.photo![0].width < photo.photo!.at(-1)!.width, "smallest first");
    const document = sim.sendDocument(CHAT, new Uint8Array(3), { fileName: "notes.txt" })
      .message!.document!;
    assert.equal(document.file_name, "notes.txt");
    assert.equal(document.file_size, 3);
  });
  await t.step("enqueueUpdate queues raw updates and assigns update_id when absent", async () => {
    const raw = sim.enqueueUpdate({ message: { text: "no chat at all" } });
    assert.equal(typeof raw.update_id, "number");
    const explicit = sim.enqueueUpdate({ update_id: 500, edited_message: {} });
    assert.equal(explicit.update_id, 500);
    assert.equal(sim.sendText(CHAT, "after").update_id, 501);
    const got = await callApi<Update[]>(sim, "getUpdates", { offset: raw.update_id });
    assert.deepEqual(got.json?.result?.map((u) => u.update_id), [raw.update_id, 500, 501]);
    assert.deepEqual(got.json?.result?.[0], raw);
  });
});

Deno.test("getUpdates confirms updates below the offset and counts a negative offset from the end", async (t) => {
  await using sim = await BotApiSimulator.start();
  for (let i = 1; i <= 5; i++) sim.sendText(CHAT, `m${i}`);
  const ids = async (offset: number) =>
    (await callApi<Update[]>(sim, "getUpdates", { offset })).json?.result?.map((u) => u.update_id);

  await t.step("without an offset every queued update comes", async () => {
    assert.deepEqual(await ids(0), [1, 2, 3, 4, 5]);
  });
  await t.step("an offset forgets the updates below it", async () => {
    assert.deepEqual(await ids(3), [3, 4, 5]);
    assert.deepEqual(await ids(-5), [3, 4, 5], "1 and 2 are gone for good");
  });
  await t.step("a negative offset keeps only the last updates", async () => {
    assert.deepEqual(await ids(-2), [4, 5]);
    assert.deepEqual(await ids(1), [4, 5], "3 was forgotten by the negative offset");
  });
});

Deno.test("getUpdates clamps limit to 1..100 and timeout to 0..50 instead of refusing", async (t) => {
  await using sim = await BotApiSimulator.start();
  for (let i = 0; i < 102; i++) sim.sendText(CHAT, `m${i}`);
  const count = async (params: Record<string, unknown>) => {
    const answer = await callApi<Update[]>(sim, "getUpdates", params);
    assert.equal(answer.status, 200, answer.text);
    return answer.json!.result!.length;
  };
  await t.step(
    "limit 0 gives one update",
    async () => assert.equal(await count({ offset: 1, limit: 0 }), 1),
  );
  await t.step(
    "limit 500 gives 100",
    async () => assert.equal(await count({ offset: 2, limit: 500 }), 100),
  );
  await t.step("no limit gives 100", async () => assert.equal(await count({ offset: 3 }), 100));
  await t.step("a negative timeout is a short poll", async () => {
    assert.equal(await count({ offset: 200, timeout: -5 }), 0);
  });
  await t.step("timeout 100 is accepted as a long poll", async () => {
    const poll = callApi<Update[]>(sim, "getUpdates", { offset: 201, timeout: 100 });
    await sim.waitForCall((c) => c.method === "getUpdates" && c.params.offset === 201, {
      includePending: true,
    });
    sim.sendText(CHAT, "wake");
    const answer = await poll;
    assert.deepEqual(answer.json?.result?.map((u) => u.message?.text), ["wake"]);
  });
});

Deno.test("A waiting long poll returns within a few milliseconds of a new update", async () => {
  await using sim = await BotApiSimulator.start();
  const poll = callApi<Update[]>(sim, "getUpdates", { timeout: 30 });
  await sim.waitForCall((c) => c.method === "getUpdates", { includePending: true });
  const sentAt = performance.now();
  sim.sendText(CHAT, "one");
  sim.sendText(CHAT, "two");
  const answer = await poll;
  const elapsed = performance.now() - sentAt;
  assert.deepEqual(answer.json?.result?.map((u) => u.message?.text), ["one", "two"]);
  assert.ok(elapsed < 1_000, `took ${elapsed} ms`);
});

Deno.test("getUpdates honours allowed_updates: a list filters, [] is the default, omitted keeps it", async (t) => {
  await using sim = await BotApiSimulator.start();
  const kinds = async (params: Record<string, unknown>) =>
    (await callApi<Update[]>(sim, "getUpdates", params)).json?.result?.map((u) =>
      Object.keys(u).find((k) => k !== "update_id")
    );
  let offset = 0;
  const queueAll = () => {
    const first = sim.enqueueUpdate({ message_reaction: {} }).update_id;
    sim.enqueueUpdate({ callback_query: {} });
    sim.enqueueUpdate({ chat_member: {} });
    sim.sendText(CHAT, "text");
    offset = first;
  };

  await t.step("omitted at first: all but chat_member and message_reaction(_count)", async () => {
    queueAll();
    assert.deepEqual(await kinds({ offset }), ["callback_query", "message"]);
  });
  await t.step("a list lets only its kinds through", async () => {
    queueAll();
    assert.deepEqual(await kinds({ offset, allowed_updates: ["message", "message_reaction"] }), [
      "message_reaction",
      "message",
    ]);
  });
  await t.step("omitted later: the previous setting stays", async () => {
    queueAll();
    assert.deepEqual(await kinds({ offset }), ["message_reaction", "message"]);
  });
  await t.step("an empty list goes back to the default", async () => {
    queueAll();
    assert.deepEqual(await kinds({ offset, allowed_updates: [] }), ["callback_query", "message"]);
  });
  await t.step("in a form it travels JSON-encoded", async () => {
    queueAll();
    const answer = await callApi<Update[]>(
      sim,
      "getUpdates",
      { offset, allowed_updates: ["chat_member"] },
      { encoding: "form" },
    );
    assert.deepEqual(answer.json?.result?.map((u) => Object.keys(u)[1]), ["chat_member"]);
  });
});

Deno.test("editText() queues an edited_message with edit_date, only when allowed_updates asks for it", async (t) => {
  await using sim = await BotApiSimulator.start();
  const first = sim.sendText(CHAT, "helo", { entities: [{ type: "bold", offset: 0, length: 4 }] });
  const id = first.message!.message_id;
  const photo = sim.sendPhoto(CHAT, { caption: "old caption" }).message!.message_id;

  await t.step("the whole message as it now is, with its date and an edit_date", () => {
    const edited = sim.editText(CHAT, id, "hello").edited_message!;
    assert.equal(edited.message_id, id);
    assert.equal(edited.text, "hello");
    assert.equal(edited.date, first.message!.date);
    assert.ok(typeof edited.edit_date === "number" && edited.edit_date >= edited.date);
    assert.equal(edited.entities, undefined, "the old entities don't fit the new text");
    assert.deepEqual(edited.chat, first.message!.chat);
  });
  await t.step("a photo's caption is what changes", () => {
    const edited = sim.editText(CHAT, photo, "new caption").edited_message!;
    assert.equal(edited.caption, "new caption");
    assert.equal(edited.text, undefined);
    assert.ok(Array.isArray(edited.photo));
  });
  await t.step("a list without edited_message drops it", async () => {
    const answer = await callApi<Update[]>(sim, "getUpdates", { allowed_updates: ["message"] });
    assert.deepEqual(answer.json?.result?.map((u) => u.update_id), [1, 2]);
  });
  await t.step("a list with it lets it through", async () => {
    sim.editText(CHAT, id, "hello!");
    const answer = await callApi<Update[]>(sim, "getUpdates", {
      offset: 3,
      allowed_updates: ["message", "edited_message"],
    });
    assert.deepEqual(answer.json?.result?.map((u) => u.edited_message?.text), ["hello!"]);
  });
  await t.step("a message that is not there can't be edited", () => {
    assert.throws(() => sim.editText(CHAT, 99, "x"), RangeError);
  });
});

Deno.test("getUpdates applies the anti-flood rules to a repeated offset", async (t) => {
  await using sim = await BotApiSimulator.start();
  for (let i = 0; i < 3; i++) sim.sendText(CHAT, `m${i}`);

  await t.step("the same offset again within 0.5 s gets one update", async () => {
    const first = await callApi<Update[]>(sim, "getUpdates", { offset: 1 });
    const second = await callApi<Update[]>(sim, "getUpdates", { offset: 1 });
    assert.equal(first.json?.result?.length, 3);
    assert.equal(second.json?.result?.length, 1);
  });
  await t.step(
    "the same offset again within 3 s turns a short poll into a 3 s long poll",
    async () => {
      await callApi(sim, "getUpdates", { offset: 10, timeout: 0 });
      const poll = callApi<Update[]>(sim, "getUpdates", { offset: 10, timeout: 0 });
      const [, second] = await sim.waitForCalls((c) => c.params.offset === 10, 2, {
        includePending: true,
        description: "the second short poll to arrive",
      });
      // a short poll would already have been answered with []: this one is still waiting
      assert.equal(second.status, 0);
      sim.sendText(CHAT, "late");
      const answer = await poll;
      assert.deepEqual(answer.json?.result?.map((u) => u.message?.text), ["late"]);
    },
  );
});

Deno.test("A second waiting long poll makes the older one fail with 409 Conflict", async (t) => {
  await using sim = await BotApiSimulator.start();
  const conflict =
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
  const arrived = (offset: number) =>
    sim.waitForCall((c) => c.method === "getUpdates" && c.params.offset === offset, {
      includePending: true,
    });

  await t.step("the older gets 409 at once and the newer takes over", async () => {
    const older = callApi<Update[]>(sim, "getUpdates", { offset: 1, timeout: 30 });
    await arrived(1);
    const newer = callApi<Update[]>(sim, "getUpdates", { offset: 2, timeout: 30 });
    assertError(await older, 409, conflict);
    await arrived(2);
    sim.sendText(CHAT, "for the newer");
    const answer = await newer;
    assert.deepEqual(answer.json?.result?.map((u) => u.message?.text), ["for the newer"]);
  });
  await t.step("a further 409 within 3 s is delayed by 3 s", async () => {
    const older = callApi<Update[]>(sim, "getUpdates", { offset: 3, timeout: 30 });
    await arrived(3);
    const startedAt = performance.now();
    const newer = callApi<Update[]>(sim, "getUpdates", { offset: 4, timeout: 30 });
    assertError(await older, 409, conflict);
    const waited = performance.now() - startedAt;
    assert.ok(waited >= 2_900, `answered after ${waited} ms`);
    await sim.close();
    assert.deepEqual((await newer).json, { ok: true, result: [] });
  });
});

Deno.test("A long poll whose client disconnects is dropped cleanly", async () => {
  await using sim = await BotApiSimulator.start();
  const controller = new AbortController();
  const poll = callApi(sim, "getUpdates", { timeout: 30 }, { signal: controller.signal });
  await sim.waitForCall((c) => c.method === "getUpdates", { includePending: true });
  controller.abort();
  await assert.rejects(poll, (error: unknown) => (error as Error).name === "AbortError");
  const dropped = await sim.waitForCall((c) => c.dropped === true, { description: "the drop" });
  assert.equal(dropped.status, 0);
  // the simulator still serves the next poll normally
  sim.sendText(CHAT, "still here");
  const next = await callApi<Update[]>(sim, "getUpdates", { offset: 1, timeout: 30 });
  assert.equal(next.json?.result?.[0]?.message?.text, "still here");
});

Deno.test("close() answers a waiting long poll with an empty result", async () => {
  const sim = await BotApiSimulator.start();
  const poll = callApi<Update[]>(sim, "getUpdates", { timeout: 30 });
  await sim.waitForCall((c) => c.method === "getUpdates", { includePending: true });
  await sim.close();
  assert.deepEqual((await poll).json, { ok: true, result: [] });
  await sim.close(); // idempotent
});

Deno.test("sendMessage needs a chat the person has written in", async (t) => {
  await using sim = await BotApiSimulator.start();
  await t.step("an unknown chat gets 400 chat not found", async () => {
    assertError(
      await callApi(sim, "sendMessage", { chat_id: CHAT, text: "hi" }),
      400,
      "Bad Request: chat not found",
    );
  });
  await t.step("after a message from the person it returns the Message", async () => {
    sim.sendText(CHAT, "hello");
    const answer = await callApi<Message>(sim, "sendMessage", { chat_id: CHAT, text: "hi there" });
    const message = answer.json!.result!;
    assert.equal(message.message_id, 2);
    assert.equal(message.text, "hi there");
    assert.equal(message.chat.id, CHAT);
    assert.deepEqual(message.from, {
      id: 123456,
      is_bot: true,
      first_name: "Forge Sim",
      username: "forge_sim_bot",
    });
    assert.ok(Math.abs(message.date - Date.now() / 1000) < 5);
    assert.equal(message.reply_to_message, undefined);
    assert.deepEqual(sim.botMessages(CHAT).map((m) => [m.message_id, m.text]), [[2, "hi there"]]);
  });
});

Deno.test("sendMessage checks the text length after entity parsing", async (t) => {
  await using sim = await BotApiSimulator.start();
  sim.sendText(CHAT, "hello");
  const send = (text: unknown, parse_mode?: string) =>
    callApi<Message>(sim, "sendMessage", {
      chat_id: CHAT,
      text,
      ...(parse_mode ? { parse_mode } : {}),
    });

  await t.step("empty, absent or blank text is refused", async () => {
    assertError(await send(""), 400, "Bad Request: message text is empty");
    assertError(await send(undefined), 400, "Bad Request: message text is empty");
    assertError(await send(" \n "), 400, "Bad Request: message text is empty");
    assertError(await send("**", "Markdown"), 400, "Bad Request: message text is empty");
  });
  await t.step("4096 characters pass and 4097 are too long", async () => {
    assert.equal((await send("a".repeat(4096))).status, 200);
    assertError(await send("a".repeat(4097)), 400, "Bad Request: message is too long");
  });
  await t.step("markup does not count towards the 4096", async () => {
    const answer = await send(`*${"a".repeat(4096)}*`, "Markdown");
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json?.result?.text, "a".repeat(4096));
  });
  await t.step("over 32768 bytes raw the text is too long", async () => {
    assertError(await send("é".repeat(16_385)), 400, "Bad Request: text is too long");
  });
});

Deno.test("sendMessage refuses what Telegram cannot parse", async (t) => {
  await using sim = await BotApiSimulator.start();
  sim.sendText(CHAT, "hello");
  const send = (text: string, parse_mode: string) =>
    callApi<Message>(sim, "sendMessage", { chat_id: CHAT, text, parse_mode });

  await t.step("Markdown: an unclosed entity, with its UTF-8 byte offset", async () => {
    assertError(
      await send("Grüße *bold", "Markdown"),
      400,
      "Bad Request: can't parse entities: Can't find end of the entity starting at byte offset 8",
    );
  });
  await t.step("Markdown: balanced entities parse into plain text", async () => {
    const answer = await send("*b* _i_ `c` [link](https://example.com) ```\npre```", "Markdown");
    assert.equal(answer.json?.result?.text, "b i c link pre");
    assert.equal(
      sim.botMessages(CHAT).at(-1)?.rawText,
      "*b* _i_ `c` [link](https://example.com) ```\npre```",
    );
    assert.equal(sim.botMessages(CHAT).at(-1)?.parse_mode, "Markdown");
  });
  await t.step("MarkdownV2: an unescaped reserved character", async () => {
    assertError(
      await send("Done.", "MarkdownV2"),
      400,
      "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'",
    );
    assert.equal((await send("Done\\.", "MarkdownV2")).json?.result?.text, "Done.");
  });
  await t.step("MarkdownV2: an unclosed entity", async () => {
    assertError(
      await send("x *bold", "MarkdownV2"),
      400,
      "Bad Request: can't parse entities: Can't find end of Bold entity at byte offset 2",
    );
  });
  await t.step("HTML: an unclosed or unknown tag", async () => {
    assertError(
      await send("<b>bold", "HTML"),
      400,
      "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
    );
    assertError(
      await send("<blink>x</blink>", "HTML"),
      400,
      'Bad Request: can\'t parse entities: Unsupported start tag "blink" at byte offset 0',
    );
    assert.equal((await send("<b>a</b> &lt;3", "HTML")).json?.result?.text, "a <3");
  });
  await t.step("an unknown parse_mode", async () => {
    assertError(await send("x", "Markdown3"), 400, "Bad Request: unsupported parse_mode");
  });
});

Deno.test("parseEntitiesError() reports what Telegram reports", async (t) => {
  await t.step("undefined for text that parses", () => {
    assert.equal(parseEntitiesError("*a* _b_", "Markdown"), undefined);
    assert.equal(parseEntitiesError("\\*a\\*", "Markdown"), undefined);
    assert.equal(parseEntitiesError("||s|| __u__ ~x~ `a.b`", "MarkdownV2"), undefined);
    assert.equal(parseEntitiesError("<i>a</i>", "html"), undefined);
  });
  await t.step("errors with byte offsets", () => {
    assert.equal(
      parseEntitiesError("👀 [link", "Markdown"),
      "Can't find end of the entity starting at byte offset 5",
    );
    assert.equal(
      parseEntitiesError("```js\ncode", "Markdown"),
      "Can't find end of the entity starting at byte offset 0",
    );
    assert.equal(
      parseEntitiesError("<b>x</i>", "HTML"),
      'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"',
    );
    assert.equal(parseEntitiesError("x", "markdown3"), "unsupported parse_mode");
  });
});

Deno.test("sendMessage replies with reply_parameters or the old reply_to_message_id", async (t) => {
  await using sim = await BotApiSimulator.start();
  const target = sim.sendText(CHAT, "question").message!.message_id;
  const send = (params: Record<string, unknown>, encoding: "json" | "form" = "json") =>
    callApi<Message>(sim, "sendMessage", { chat_id: CHAT, text: "answer", ...params }, {
      encoding,
    });

  await t.step("reply_parameters links the reply", async () => {
    const answer = await send({ reply_parameters: { message_id: target } }, "form");
    assert.equal(answer.json?.result?.reply_to_message?.text, "question");
    assert.equal(sim.botMessages(CHAT).at(-1)?.reply_to, target);
  });
  await t.step("reply_to_message_id links the reply", async () => {
    const answer = await send({ reply_to_message_id: target });
    assert.equal(answer.json?.result?.reply_to_message?.message_id, target);
  });
  await t.step("a missing target is refused", async () => {
    const missing = "Bad Request: message to be replied not found";
    assertError(await send({ reply_parameters: { message_id: 99 } }), 400, missing);
    assertError(await send({ reply_to_message_id: 99 }), 400, missing);
  });
  await t.step("a deleted target is missing too", async () => {
    const doomed = sim.sendText(CHAT, "oops").message!.message_id;
    sim.deleteMessage(CHAT, doomed);
    assertError(
      await send({ reply_parameters: { message_id: doomed } }),
      400,
      "Bad Request: message to be replied not found",
    );
  });
  await t.step("allow_sending_without_reply sends without the link", async () => {
    const modern = await send({
      reply_parameters: { message_id: 99, allow_sending_without_reply: true },
    });
    assert.equal(modern.status, 200);
    assert.equal(modern.json?.result?.reply_to_message, undefined);
    const old = await send({ reply_to_message_id: 99, allow_sending_without_reply: true }, "form");
    assert.equal(old.status, 200);
    assert.equal(old.json?.result?.reply_to_message, undefined);
    assert.equal(sim.botMessages(CHAT).at(-1)?.reply_to, undefined);
  });
});

Deno.test("setMessageReaction accepts one emoji from Telegram's list on a live message", async (t) => {
  await using sim = await BotApiSimulator.start();
  const id = sim.sendText(CHAT, "hello").message!.message_id;
  const react = (reaction: unknown, messageId: number = id) =>
    callApi(sim, "setMessageReaction", {
      chat_id: CHAT,
      message_id: messageId,
      ...(reaction === undefined ? {} : { reaction }),
    }, { encoding: "form" });
  const emoji = (value: string) => [{ type: "emoji", emoji: value }];

  await t.step("an allowed emoji is set and returns true", async () => {
    assert.deepEqual((await react(emoji("👀"))).json, { ok: true, result: true });
    assert.equal(sim.reaction(CHAT, id), "👀");
    await react(emoji("❤‍🔥"));
    assert.equal(sim.reaction(CHAT, id), "❤‍🔥");
  });
  await t.step("an emoji outside the list is REACTION_INVALID", async () => {
    for (const value of ["❌", "✅", "⏳", "🤖", "❤\uFE0F"]) {
      assertError(await react(emoji(value)), 400, "Bad Request: REACTION_INVALID");
    }
    assert.equal(sim.reaction(CHAT, id), "❤‍🔥", "a refused reaction changes nothing");
  });
  await t.step("more than one is REACTIONS_TOO_MANY", async () => {
    assertError(
      await react([...emoji("👍"), ...emoji("👎")]),
      400,
      "Bad Request: REACTIONS_TOO_MANY",
    );
  });
  await t.step("a missing, deleted or non-positive message is not found", async () => {
    const missing = "Bad Request: message to react not found";
    assertError(await react(emoji("👍"), 99), 400, missing);
    assertError(await react(emoji("👍"), 0), 400, missing);
    const doomed = sim.sendText(CHAT, "gone").message!.message_id;
    sim.deleteMessage(CHAT, doomed);
    assertError(await react(emoji("👍"), doomed), 400, missing);
  });
  await t.step("unparseable JSON is refused", async () => {
    assertError(await react("[{"), 400, "Bad Request: can't parse reaction types JSON object");
  });
  await t.step("an empty or absent reaction removes it", async () => {
    await react(emoji("👍"));
    await react([]);
    assert.equal(sim.reaction(CHAT, id), undefined);
    await react(emoji("👍"));
    assert.deepEqual((await react(undefined)).json, { ok: true, result: true });
    assert.equal(sim.reaction(CHAT, id), undefined);
  });
  await t.step("the list holds the 73 plain forms", () => {
    assert.equal(ALLOWED_REACTIONS.size, 73);
    assert.ok(ALLOWED_REACTIONS.has("\u2764") && !ALLOWED_REACTIONS.has("\u2764\uFE0F"));
    assert.ok(ALLOWED_REACTIONS.has("\u2764\u200D\u{1F525}"));
    for (const plain of ["\u270D", "\u{1F54A}", "\u2603"]) assert.ok(ALLOWED_REACTIONS.has(plain));
  });
});

Deno.test("sendChatAction knows Telegram's actions and needs a known chat", async (t) => {
  await using sim = await BotApiSimulator.start();
  await t.step("an unknown chat is refused", async () => {
    assertError(
      await callApi(sim, "sendChatAction", { chat_id: CHAT, action: "typing" }),
      400,
      "Bad Request: chat not found",
    );
  });
  sim.sendText(CHAT, "hello");
  await t.step("the actions the bot uses return true", async () => {
    for (
      const action of ["typing", "record_voice", "upload_voice", "upload_document", "upload_photo"]
    ) {
      const answer = await callApi(sim, "sendChatAction", { chat_id: CHAT, action });
      assert.deepEqual(answer.json, { ok: true, result: true }, action);
    }
  });
  await t.step("any other action is a wrong parameter", async () => {
    assertError(
      await callApi(sim, "sendChatAction", { chat_id: CHAT, action: "thinking" }),
      400,
      "Bad Request: wrong parameter action in request",
    );
  });
});

Deno.test("getFile gives a file_path that downloads the bytes, up to 20 MiB", async (t) => {
  await using sim = await BotApiSimulator.start();
  const bytes = new Uint8Array([0x4f, 0x67, 0x67, 0x53, 1, 2, 3]);
  const voice = sim.sendVoice(CHAT, bytes).message!.voice!;

  await t.step("a voice note's file is voice/file_N.oga and downloads intact", async () => {
    const answer = await callApi<File>(sim, "getFile", { file_id: voice.file_id });
    const file = answer.json!.result!;
    assert.equal(file.file_id, voice.file_id);
    assert.equal(file.file_unique_id, voice.file_unique_id);
    assert.equal(file.file_size, bytes.length);
    assert.match(file.file_path!, /^voice\/file_\d+\.oga$/);
    const response = await fetch(`${sim.apiRoot}/file/bot${sim.token}/${file.file_path}`);
    assert.equal(response.status, 200);
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), bytes);
    assert.equal(lastCall(sim).method, "file/download");
    assert.equal(lastCall(sim).params.file_path, file.file_path);
  });
  await t.step("an unknown file_id is invalid", async () => {
    assertError(
      await callApi(sim, "getFile", { file_id: "nope" }),
      400,
      "Bad Request: invalid file_id",
    );
    assertError(await callApi(sim, "getFile"), 400, "Bad Request: file_id not specified");
  });
  await t.step("over 20 MiB the file is too big; exactly 20 MiB is fine", async () => {
    const big = sim.addFile(new Uint8Array(1), { size: 20 * MiB + 1 });
    assertError(
      await callApi(sim, "getFile", { file_id: big }),
      400,
      "Bad Request: file is too big",
    );
    const limit = sim.addFile(new Uint8Array(1), { size: 20 * MiB });
    assert.equal((await callApi(sim, "getFile", { file_id: limit })).status, 200);
  });
  await t.step("an unknown path is 404", async () => {
    const response = await fetch(`${sim.apiRoot}/file/bot${sim.token}/voice/file_999.oga`);
    assert.equal(response.status, 404);
    await response.body?.cancel();
  });
});

Deno.test("Injected faults answer the next matching calls and are recorded", async (t) => {
  await using sim = await BotApiSimulator.start();

  await t.step("retryAfter: 429 with parameters.retry_after and a Retry-After header", async () => {
    sim.injectFault({ method: "getMe", fault: { kind: "retryAfter", seconds: 7 } });
    const answer = await callApi(sim, "getMe");
    assert.equal(answer.status, 429);
    assert.equal(answer.headers.get("retry-after"), "7");
    assert.deepEqual(answer.json, {
      ok: false,
      error_code: 429,
      description: "Too Many Requests: retry after 7",
      parameters: { retry_after: 7 },
    });
    assert.equal(lastCall(sim).fault, "retryAfter");
    assert.equal((await callApi(sim, "getMe")).status, 200, "the rule was used up");
  });
  await t.step("internal: 500 Internal Server Error: restart", async () => {
    sim.injectFault({ fault: { kind: "internal" } });
    assertError(await callApi(sim, "getMe"), 500, "Internal Server Error: restart");
  });
  await t.step("badGateway: 502 as nginx's HTML page", async () => {
    sim.injectFault({ fault: { kind: "badGateway" } });
    const answer = await callApi(sim, "getUpdates");
    assert.equal(answer.status, 502);
    assert.equal(answer.headers.get("content-type"), "text/html");
    assert.match(answer.text, /<title>502 Bad Gateway<\/title>/);
    assert.equal(answer.json, undefined);
  });
  await t.step("malformed: 200 with a body that is not JSON", async () => {
    sim.injectFault({ fault: { kind: "malformed" } });
    const answer = await callApi(sim, "getUpdates");
    assert.equal(answer.status, 200);
    assert.equal(answer.json, undefined);
    assert.throws(() => JSON.parse(answer.text));
  });
  await t.step("conflict and unauthorized", async () => {
    sim.injectFault({ fault: { kind: "conflict" } });
    sim.injectFault({ fault: { kind: "unauthorized" } });
    assertError(
      await callApi(sim, "getUpdates"),
      409,
      "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    );
    assertError(await callApi(sim, "getMe"), 401, "Unauthorized");
  });
  await t.step("rules match methods case-insensitively, in order, `times` times", async () => {
    sim.injectFault({ method: "SENDCHATACTION", times: 2, fault: { kind: "internal" } });
    sim.injectFault({ method: "getme", fault: { kind: "unauthorized" } });
    assert.equal((await callApi(sim, "getMe")).status, 401);
    assert.equal((await callApi(sim, "getMe")).status, 200);
    assert.equal((await callApi(sim, "sendChatAction")).status, 500);
    assert.equal((await callApi(sim, "sendChatAction")).status, 500);
    assert.equal((await callApi(sim, "sendChatAction")).status, 400, "back to normal handling");
  });
  await t.step("clearFaults() forgets queued rules", async () => {
    sim.injectFault({ fault: { kind: "internal" }, times: 5 });
    sim.clearFaults();
    assert.equal((await callApi(sim, "getMe")).status, 200);
  });
  await t.step("delay: the normal answer comes after the delay", async () => {
    sim.injectFault({ method: "getMe", fault: { kind: "delay", ms: 300 } });
    const started = performance.now();
    const answer = await callApi<User>(sim, "getMe");
    assert.ok(performance.now() - started >= 290);
    assert.equal(answer.json?.result?.is_bot, true);
    assert.equal(lastCall(sim).fault, "delay");
  });
  await t.step("delay and hang are dropped when the client goes away", async () => {
    for (const fault of [{ kind: "delay", ms: 60_000 }, { kind: "hang" }] as const) {
      sim.injectFault({ method: "getMe", fault });
      const controller = new AbortController();
      const request = callApi(sim, "getMe", {}, { signal: controller.signal });
      const call = await sim.waitForCall((c) => c.fault === fault.kind && c.status === 0, {
        includePending: true,
      });
      controller.abort();
      await assert.rejects(request);
      await sim.waitForCall((c) => c.seq === call.seq && c.dropped === true);
    }
  });
});

Deno.test("close() cuts hanging and delayed calls", async (t) => {
  for (const fault of [{ kind: "hang" }, { kind: "delay", ms: 60_000 }] as const) {
    await t.step(fault.kind, async () => {
      const sim = await BotApiSimulator.start();
      sim.injectFault({ fault });
      const request = callApi(sim, "getMe");
      await sim.waitForCall((c) => c.fault === fault.kind, { includePending: true });
      await sim.close();
      await assert.rejects(request, TypeError);
      assert.equal(sim.calls[0].dropped, true);
      assert.equal(sim.calls[0].status, 0);
    });
  }
});

Deno.test("refuseConnections() refuses connections until acceptConnections() on the same port", async () => {
  await using sim = await BotApiSimulator.start();
  const port = sim.port;
  const poll = callApi(sim, "getUpdates", { timeout: 30 });
  await sim.waitForCall((c) => c.method === "getUpdates", { includePending: true });

  await sim.refuseConnections();
  await assert.rejects(poll, TypeError, "the waiting long poll is cut");
  assert.equal(sim.calls[0].dropped, true);
  await assert.rejects(callApi(sim, "getMe"), TypeError);
  assert.equal(sim.port, port);

  await sim.acceptConnections();
  assert.equal(sim.port, port);
  const answer = await callApi<User>(sim, "getMe");
  assert.equal(answer.status, 200);
  assert.equal(sim.calls.length, 2, "a refused connection leaves no record");
});

Deno.test("waitForCall() waits with a deadline and explains a timeout", async (t) => {
  await using sim = await BotApiSimulator.start();
  await callApi(sim, "sendMessage", { chat_id: CHAT, text: "x" });

  await t.step("a timeout names the wait and lists the last calls", async () => {
    await assert.rejects(
      sim.waitForCall((c) => c.method === "sendChatAction", {
        timeoutMs: 50,
        description: "the typing action",
      }),
      (error: Error) => {
        assert.match(error.message, /the typing action/);
        assert.match(
          error.message,
          /#1 sendMessage chat_id=8679559480 text="x" -> 400 Bad Request: chat not found/,
        );
        assert.ok(!error.message.includes(sim.token), "the token stays out of messages");
        return true;
      },
    );
  });
  await t.step("an aborted signal ends the wait with its reason", async () => {
    const controller = new AbortController();
    const wait = sim.waitForCall(() => false, { signal: controller.signal });
    controller.abort(new Error("stop"));
    await assert.rejects(wait, /stop/);
  });
  await t.step("waitForCalls() resolves once enough calls match", async () => {
    const wait = sim.waitForCalls((c) => c.method === "getMe", 2);
    await callApi(sim, "getMe");
    await callApi(sim, "getMe");
    const calls = await wait;
    assert.deepEqual(calls.map((c) => c.method), ["getMe", "getMe"]);
  });
  await t.step("close() rejects a pending wait", async () => {
    const wait = sim.waitForCall(() => false);
    await sim.close();
    await assert.rejects(wait, /closed/);
    await assert.rejects(sim.waitForCall(() => false), /closed/);
  });
});

Deno.test("Time-limited fault rules answer every matching call until they expire", async (t) => {
  await using sim = await BotApiSimulator.start();
  sim.sendText(CHAT, "hi");

  await t.step("forMs: every call in the window, then the normal answer", async () => {
    const startedAt = sim.now();
    sim.injectFault({ method: "sendMessage", forMs: 300, fault: { kind: "badGateway" } });
    const statuses: number[] = [];
    for (;;) {
      const answer = await callApi(sim, "sendMessage", { chat_id: CHAT, text: "answer" });
      statuses.push(answer.status);
      if (answer.status === 200) break;
      assert.ok(sim.now() - startedAt < 5_000, "the rule never expired");
    }
    assert.ok(statuses.length >= 3, `only ${statuses.length} calls`);
    assert.ok(statuses.slice(0, -1).every((status) => status === 502));
    // Judged by when it was answered: a call that arrived just before the end may pass after it.
    assert.ok((lastCall(sim).endedAt ?? 0) >= startedAt + 300, "a call was let through early");
    assert.equal((await callApi(sim, "getMe")).status, 200, "other methods are not matched");
  });
  await t.step(
    "until: an end time on the simulator's clock; an expired rule is skipped",
    async () => {
      sim.injectFault({ method: "getMe", until: sim.now() - 1, fault: { kind: "internal" } });
      assert.equal((await callApi(sim, "getMe")).status, 200);
      sim.injectFault({ method: "getMe", until: sim.now() + 60_000, fault: { kind: "internal" } });
      for (let i = 0; i < 3; i++) assert.equal((await callApi(sim, "getMe")).status, 500);
      sim.clearFaults();
    },
  );
  await t.step("chatId: only that chat's calls; times: Infinity lasts until cleared", async () => {
    sim.sendText(OTHER_CHAT, "hi");
    sim.injectFault({
      method: "sendMessage",
      chatId: CHAT,
      times: Infinity,
      fault: { kind: "forbidden" },
    });
    for (let i = 0; i < 3; i++) {
      assertError(
        await callApi(sim, "sendMessage", { chat_id: CHAT, text: "x" }),
        403,
        "Forbidden: bot was blocked by the user",
      );
    }
    assert.equal(lastCall(sim).fault, "forbidden");
    const other = await callApi(sim, "sendMessage", { chat_id: OTHER_CHAT, text: "x" }, {
      encoding: "form",
    });
    assert.equal(other.status, 200, "a chat id in a form matches as a number too");
    sim.clearFaults();
    assert.equal((await callApi(sim, "sendMessage", { chat_id: CHAT, text: "x" })).status, 200);
  });
  await t.step("bad windows are refused", () => {
    const fault = { kind: "internal" } as const;
    assert.throws(() => sim.injectFault({ forMs: 0, fault }), RangeError);
    assert.throws(() => sim.injectFault({ forMs: 10, until: sim.now() + 10, fault }), TypeError);
    assert.throws(() => sim.injectFault({ times: 1.5, fault }), RangeError);
  });
});

Deno.test("forbidden faults carry Telegram's permanent 403 texts in the JSON envelope", async () => {
  await using sim = await BotApiSimulator.start();
  sim.sendText(CHAT, "hi");
  for (
    const description of [
      "Forbidden: bot was blocked by the user",
      "Forbidden: bot was kicked from the group chat",
      "Forbidden: bot is not a member of the supergroup chat",
      "Forbidden: user is deactivated",
    ] as const
  ) {
    sim.injectFault({ method: "sendMessage", fault: { kind: "forbidden", description } });
    assertError(await callApi(sim, "sendMessage", { chat_id: CHAT, text: "x" }), 403, description);
  }
  sim.injectFault({
    method: "sendMessage",
    fault: { kind: "badRequest", description: "Bad Request: chat not found" },
  });
  assertError(
    await callApi(sim, "sendMessage", { chat_id: CHAT, text: "x" }),
    400,
    "Bad Request: chat not found",
  );
});

Deno.test("A refused fault closes the connection unanswered: fetch fails as with a refused connection", async (t) => {
  await using sim = await BotApiSimulator.start();
  sim.sendText(CHAT, "hi");
  const failure = async (request: Promise<unknown>) => {
    const error = await request.then(() => undefined, (error: unknown) => error);
    assert.ok(error instanceof TypeError, `expected fetch to reject, got ${error}`);
    return error;
  };
  const send = () =>
    fetch(`${sim.apiRoot}/bot${sim.token}/sendMessage`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ chat_id: CHAT, text: "answer" }),
    }).then((response) => response.text());

  await t.step("fetch itself rejects with a TypeError, no status, no body", async () => {
    sim.injectFault({ method: "sendMessage", forMs: 60_000, fault: { kind: "refused" } });
    await failure(send());
    await failure(send());
    const calls = sim.calls.filter((c) => c.method === "sendMessage");
    assert.equal(calls.length, 2, "each attempt is recorded once (no silent retry)");
    for (const call of calls) {
      assert.equal(call.fault, "refused");
      assert.equal(call.dropped, true);
      assert.equal(call.status, 0);
      assert.equal(call.params.text, "answer");
    }
    assert.equal((await callApi(sim, "getMe")).status, 200, "other methods still answer");
  });
  await t.step("the same kind of error as refuseConnections()", async () => {
    await sim.refuseConnections();
    const refused = await failure(send());
    await sim.acceptConnections();
    const cut = await failure(send());
    assert.equal(cut.name, refused.name);
    assert.equal(cut.message, refused.message);
  });
  await t.step("once cleared, the call is answered", async () => {
    sim.clearFaults();
    const answer = await callApi<Message>(sim, "sendMessage", { chat_id: CHAT, text: "answer" });
    assert.equal(answer.json?.result?.text, "answer");
  });
});

/** Sends a document the way grammY does: a part at a random name and `document: attach://name`. */
async function uploadDocument(
  sim: BotApiSimulator,
  params: Record<string, unknown>,
  file: { name: string; bytes: Uint8Array<ArrayBuffer> } | undefined,
): Promise<Answer<Message>> {
  const form = new FormData();
  for (const [name, value] of Object.entries(params)) {
    form.append(name, typeof value === "string" ? value : JSON.stringify(value));
  }
  if (file) {
    form.append("document", "attach://f9x1");
    form.append("f9x1", new Blob([file.bytes], { type: "application/octet-stream" }), file.name);
  }
  return read<Message>(
    await fetch(`${sim.apiRoot}/bot${sim.token}/sendDocument`, { method: "POST", body: form }),
  );
}

Deno.test("sendDocument takes a multipart upload, records its name and bytes, returns a Message with a document", async (t) => {
  await using sim = await BotApiSimulator.start();
  const asked = sim.sendText(CHAT, "long question").message!.message_id;
  const content = "# The answer\n\nÀ long answer, exactly as written.\n";
  const bytes = new TextEncoder().encode(content);

  await t.step("the file's name and bytes are in the call's params", async () => {
    const answer = await uploadDocument(sim, {
      chat_id: CHAT,
      caption: "The whole answer",
      reply_parameters: { message_id: asked },
    }, { name: "answer-2.md", bytes });
    assert.equal(answer.status, 200, answer.text);
    const message = answer.json!.result!;
    assert.equal(message.document?.file_name, "answer-2.md");
    assert.equal(message.document?.file_size, bytes.length);
    assert.equal(message.caption, "The whole answer");
    assert.equal(message.reply_to_message?.message_id, asked);
    const call = lastCall(sim);
    assert.equal(call.params.document, "attach://f9x1");
    const file = call.params.f9x1 as UploadedFile;
    assert.equal(file.filename, "answer-2.md");
    assert.equal(new TextDecoder().decode(file.bytes), content);
    const [sent] = sim.botMessages(CHAT);
    assert.equal(new TextDecoder().decode(sent.document!.bytes), content);
    assert.equal(sent.reply_to, asked);
    // and the person can download it
    const got = await callApi<File>(sim, "getFile", { file_id: message.document!.file_id });
    const download = await fetch(
      `${sim.apiRoot}/file/bot${sim.token}/${got.json!.result!.file_path}`,
    );
    assert.equal(await download.text(), content);
  });
  await t.step("a part named document works too, and so does a known file_id", async () => {
    const form = new FormData();
    form.append("chat_id", String(CHAT));
    form.append("document", new Blob([bytes]), "direct.md");
    const answer = await read<Message>(
      await fetch(`${sim.apiRoot}/bot${sim.token}/sendDocument`, { method: "POST", body: form }),
    );
    assert.equal(answer.json?.result?.document?.file_name, "direct.md");
    const again = await callApi<Message>(sim, "sendDocument", {
      chat_id: CHAT,
      document: answer.json!.result!.document!.file_id,
    });
    assert.equal(
      again.json?.result?.document?.file_unique_id,
      answer.json!.result!.document!.file_unique_id,
    );
  });
  await t.step("no document, an unknown file_id, a caption over 1024 characters", async () => {
    assertError(
      await uploadDocument(sim, { chat_id: CHAT }, undefined),
      400,
      "Bad Request: there is no document in the request",
    );
    assertError(
      await callApi(sim, "sendDocument", { chat_id: CHAT, document: "BQACAgIAAxkBAAnope" }),
      400,
      "Bad Request: wrong file identifier/HTTP URL specified",
    );
    assertError(
      await uploadDocument(sim, { chat_id: CHAT, caption: "x".repeat(1025) }, {
        name: "a.md",
        bytes,
      }),
      400,
      "Bad Request: message caption is too long",
    );
    assert.equal(
      (await uploadDocument(sim, { chat_id: CHAT, caption: "x".repeat(1024) }, {
        name: "a.md",
        bytes,
      }))
        .status,
      200,
    );
    assertError(
      await uploadDocument(sim, { chat_id: OTHER_CHAT }, { name: "a.md", bytes }),
      400,
      "Bad Request: chat not found",
    );
  });
  await t.step("over 50 MB the upload is refused with 413 Request Entity Too Large", async () => {
    const big = new Uint8Array(50 * MiB + 1);
    assertError(
      await uploadDocument(sim, { chat_id: CHAT }, { name: "big.md", bytes: big }),
      413,
      "Request Entity Too Large",
    );
    const call = lastCall(sim);
    assert.equal(call.method, "sendDocument");
    assert.deepEqual(call.params, {}, "nothing of a refused upload is kept");
    const fits = new Uint8Array(50 * MiB - 4096);
    assert.equal(
      (await uploadDocument(sim, { chat_id: CHAT }, { name: "fits.md", bytes: fits })).status,
      200,
    );
  });
});

const GROUP = -1001234567890;

Deno.test("sendMessageDraft streams drafts to private chats only, and a message dismisses them", async (t) => {
  await using sim = await BotApiSimulator.start();
  sim.sendText(CHAT, "hi");
  sim.sendText(GROUP, "hi", { fromId: CHAT });

  await t.step("a draft is recorded and shown; 0 to 4096 characters", async () => {
    const draft = (text: string, extra: Record<string, unknown> = {}) =>
      callApi(sim, "sendMessageDraft", { chat_id: CHAT, draft_id: 7, text, ...extra });
    assert.deepEqual((await draft("")).json, { ok: true, result: true }, "empty: a placeholder");
    assert.deepEqual((await draft("x".repeat(4096), { can_stop: true })).json?.result, true);
    assertError(await draft("x".repeat(4097)), 400, "Bad Request: message is too long");
    assert.equal(
      (await draft("*working*", { parse_mode: "Markdown", can_stop: true })).status,
      200,
    );
    const drafts = sim.drafts(CHAT);
    assert.deepEqual(drafts.map((d) => [d.text.length, d.can_stop]), [
      [0, false],
      [4096, true],
      [7, true],
    ]);
    assert.equal(drafts[2].rawText, "*working*");
    assert.equal(sim.currentDraft(CHAT)?.text, "working");
  });
  await t.step("a group chat and draft_id 0 are 400 Bad Request", async () => {
    const answer = await callApi(sim, "sendMessageDraft", {
      chat_id: GROUP,
      draft_id: 1,
      text: "x",
    });
    assert.equal(answer.status, 400);
    assert.match(answer.json!.description!, /^Bad Request: /);
    assertError(
      await callApi(sim, "sendMessageDraft", { chat_id: CHAT, draft_id: 0, text: "x" }),
      400,
      "Bad Request: draft_id must be non-zero",
    );
    assertError(
      await callApi(sim, "sendMessageDraft", { chat_id: OTHER_CHAT, draft_id: 1, text: "x" }),
      400,
      "Bad Request: chat not found",
    );
  });
  await t.step("any message from the bot dismisses the draft", async () => {
    await callApi(sim, "sendMessage", { chat_id: CHAT, text: "the answer" });
    assert.equal(sim.currentDraft(CHAT), undefined);
    assert.equal(sim.drafts(CHAT).length, 3, "the record stays");
  });
});

Deno.test("pressStop() queues stopped_message_generation, delivered only when allowed_updates asks", async (t) => {
  await using sim = await BotApiSimulator.start();
  sim.sendText(CHAT, "hi");
  const updates = async (params: Record<string, unknown> = {}) =>
    (await callApi<Update[]>(sim, "getUpdates", params)).json!.result!;
  let offset = (await updates()).at(-1)!.update_id + 1;
  const stopUpdates = async (params: Record<string, unknown> = {}) => {
    const got = await updates({ offset, ...params });
    if (got.length > 0) offset = got.at(-1)!.update_id + 1;
    return got.filter((u) => "stopped_message_generation" in u);
  };
  const showDraft = (can_stop: boolean) =>
    callApi(sim, "sendMessageDraft", { chat_id: CHAT, draft_id: 42, text: "…", can_stop });

  await t.step("without can_stop there is no Stop button to press", async () => {
    await showDraft(false);
    assert.throws(() => sim.pressStop(CHAT, 42), RangeError);
    await showDraft(true);
    assert.throws(() => sim.pressStop(CHAT, 41), RangeError, "another draft");
  });
  await t.step("by default it is left out", async () => {
    sim.pressStop(CHAT, 42);
    assert.deepEqual(await stopUpdates(), []);
    assert.deepEqual(await stopUpdates({ allowed_updates: [] }), []);
  });
  await t.step("asked for, it comes with the chat and the draft id", async () => {
    sim.pressStop(CHAT, 42);
    const [update] = await stopUpdates({
      allowed_updates: ["message", "stopped_message_generation"],
    });
    assert.deepEqual((update as unknown as Record<string, unknown>).stopped_message_generation, {
      chat: { id: CHAT, type: "private", first_name: "Tester", username: `tester${CHAT}` },
      draft_id: 42,
    });
  });
  await t.step("a later call without allowed_updates keeps the list", async () => {
    sim.pressStop(CHAT, 42);
    assert.equal((await stopUpdates()).length, 1);
  });
  await t.step("after the answer the draft and its button are gone", async () => {
    await callApi(sim, "sendMessage", { chat_id: CHAT, text: "done" });
    assert.throws(() => sim.pressStop(CHAT, 42), RangeError);
  });
});

Deno.test("Inline keyboards: callback_data is 1-64 bytes, a press is a callback_query, answered once", async (t) => {
  await using sim = await BotApiSimulator.start();
  sim.sendText(GROUP, "do it", { fromId: CHAT });
  const keyboard = (data: string) => ({
    inline_keyboard: [[{ text: "🛑 Stop", callback_data: data }]],
  });
  let messageId = 0;

  await t.step("sendMessage returns and shows the keyboard", async () => {
    const answer = await callApi<Message>(sim, "sendMessage", {
      chat_id: GROUP,
      text: "working…",
      reply_markup: keyboard("stop:1"),
    });
    messageId = answer.json!.result!.message_id;
    assert.deepEqual(answer.json?.result?.reply_markup, keyboard("stop:1"));
    assert.deepEqual(sim.botMessage(GROUP, messageId)?.reply_markup, keyboard("stop:1"));
  });
  await t.step("callback_data of 0 or 65 bytes is BUTTON_DATA_INVALID; 64 pass", async () => {
    for (const data of ["", "é".repeat(32) + "x"]) {
      assertError(
        await callApi(sim, "sendMessage", {
          chat_id: GROUP,
          text: "x",
          reply_markup: keyboard(data),
        }),
        400,
        "Bad Request: BUTTON_DATA_INVALID",
      );
    }
    const fits = await callApi(sim, "sendMessage", {
      chat_id: GROUP,
      text: "x",
      reply_markup: keyboard("é".repeat(32)),
    }, { encoding: "form" });
    assert.equal(fits.status, 200, fits.text);
    assertError(
      await callApi(sim, "sendMessage", { chat_id: GROUP, text: "x", reply_markup: "{oops" }),
      400,
      "Bad Request: can't parse reply keyboard markup JSON object",
    );
  });
  let queryId = "";
  await t.step("pressButton() queues a callback_query, delivered by default", async () => {
    assert.throws(() => sim.pressButton(GROUP, messageId, "stop:2"), RangeError);
    const pressed = sim.pressButton(GROUP, messageId, "stop:1", { fromId: 99 });
    const query = pressed.callback_query!;
    queryId = query.id;
    assert.equal(typeof query.id, "string");
    assert.equal(query.from.id, 99);
    assert.equal(query.data, "stop:1");
    assert.equal(query.message?.message_id, messageId);
    assert.equal(typeof query.chat_instance, "string");
    const got = await callApi<Update[]>(sim, "getUpdates", { offset: pressed.update_id });
    assert.deepEqual(got.json?.result?.map((u) => u.callback_query?.data), ["stop:1"]);
  });
  await t.step("left out when allowed_updates lists other kinds", async () => {
    const pressed = sim.pressButton(GROUP, messageId, "stop:1");
    const got = await callApi<Update[]>(sim, "getUpdates", {
      offset: pressed.update_id,
      allowed_updates: ["message"],
    });
    assert.deepEqual(got.json?.result, []);
  });
  await t.step("answerCallbackQuery answers once; an unknown id is invalid", async () => {
    const answer = await callApi(sim, "answerCallbackQuery", {
      callback_query_id: queryId,
      text: "Stopping",
    });
    assert.deepEqual(answer.json, { ok: true, result: true });
    assert.equal(sim.callbackAnswer(queryId)?.text, "Stopping");
    const invalid =
      "Bad Request: query is too old and response timeout expired or query ID is invalid";
    assertError(
      await callApi(sim, "answerCallbackQuery", { callback_query_id: queryId }),
      400,
      invalid,
    );
    assertError(
      await callApi(sim, "answerCallbackQuery", { callback_query_id: "123" }),
      400,
      invalid,
    );
  });
});

Deno.test("editMessageText, editMessageReplyMarkup and deleteMessage change what the chat shows", async (t) => {
  await using sim = await BotApiSimulator.start();
  const asked = sim.sendText(GROUP, "do it", { fromId: CHAT }).message!.message_id;
  const keyboard = { inline_keyboard: [[{ text: "🛑 Stop", callback_data: "stop:1" }]] };
  const sent = await callApi<Message>(sim, "sendMessage", {
    chat_id: GROUP,
    text: "⏳ 0 s",
    reply_markup: keyboard,
  });
  const id = sent.json!.result!.message_id;
  const edit = (params: Record<string, unknown>) =>
    callApi<Message>(sim, "editMessageText", { chat_id: GROUP, message_id: id, ...params });
  const notModified = "Bad Request: message is not modified: specified new message content and " +
    "reply markup are exactly the same as a current content and reply markup of the message";

  await t.step("a new text with the keyboard again: the edited Message", async () => {
    const answer = await edit({ text: "⏳ 2 s: reading", reply_markup: keyboard });
    assert.equal(answer.json?.result?.text, "⏳ 2 s: reading");
    assert.ok(typeof answer.json?.result?.edit_date === "number");
    const view = sim.botMessage(GROUP, id)!;
    assert.equal(view.text, "⏳ 2 s: reading");
    assert.deepEqual(view.reply_markup, keyboard);
    assert.equal(view.edits, 1);
  });
  await t.step("the same text and keyboard again: message is not modified", async () => {
    assertError(await edit({ text: "⏳ 2 s: reading", reply_markup: keyboard }), 400, notModified);
  });
  await t.step("without reply_markup the keyboard goes", async () => {
    const answer = await edit({ text: "⏳ 2 s: reading" });
    assert.equal(answer.status, 200, "dropping the keyboard is a change");
    assert.equal(answer.json?.result?.reply_markup, undefined);
    assert.equal(sim.botMessage(GROUP, id)?.reply_markup, undefined);
    assert.throws(() => sim.pressButton(GROUP, id, "stop:1"), RangeError);
  });
  await t.step("editMessageReplyMarkup changes only the keyboard", async () => {
    const params = { chat_id: GROUP, message_id: id, reply_markup: keyboard };
    const answer = await callApi<Message>(sim, "editMessageReplyMarkup", params);
    assert.deepEqual(answer.json?.result?.reply_markup, keyboard);
    assert.equal(answer.json?.result?.text, "⏳ 2 s: reading");
    assertError(await callApi(sim, "editMessageReplyMarkup", params), 400, notModified);
  });
  await t.step("missing or not the bot's: not found, can't be edited", async () => {
    assertError(
      await callApi(sim, "editMessageText", { chat_id: GROUP, message_id: 99, text: "x" }),
      400,
      "Bad Request: message to edit not found",
    );
    assertError(
      await callApi(sim, "editMessageText", { chat_id: GROUP, message_id: asked, text: "x" }),
      400,
      "Bad Request: message can't be edited",
    );
    assertError(await edit({ text: "" }), 400, "Bad Request: message text is empty");
  });
  await t.step("deleteMessage: true, then the message is gone", async () => {
    const params = { chat_id: GROUP, message_id: id };
    assert.deepEqual((await callApi(sim, "deleteMessage", params)).json, {
      ok: true,
      result: true,
    });
    assert.ok(sim.botMessage(GROUP, id)?.deletedAt !== undefined);
    assertError(
      await callApi(sim, "deleteMessage", params),
      400,
      "Bad Request: message to delete not found",
    );
    assertError(await edit({ text: "x" }), 400, "Bad Request: message to edit not found");
    assertError(
      await callApi(sim, "deleteMessage", { chat_id: GROUP, message_id: asked }),
      400,
      "Bad Request: message can't be deleted",
    );
  });
});

Deno.test("refuseConnections({ forMs }) listens again by itself on the same port, and a 404 fault answers as for a mistyped token", async (t) => {
  await using sim = await BotApiSimulator.start();
  await t.step("refused, then back after forMs", async () => {
    const port = sim.port;
    await sim.refuseConnections({ forMs: 300 });
    await assert.rejects(callApi(sim, "getMe"), TypeError);
    const back = await waitUntilAnswered(sim);
    assert.equal(back.status, 200);
    assert.equal(sim.port, port);
  });
  await t.step("acceptConnections() ends a timed refusal at once", async () => {
    await sim.refuseConnections({ forMs: 60_000 });
    await sim.acceptConnections();
    assert.equal((await callApi(sim, "getMe")).status, 200);
  });
  await t.step("forMs must be positive", async () => {
    await assert.rejects(sim.refuseConnections({ forMs: 0 }), RangeError);
  });
  await t.step("notFound: 404 Not Found to every call while it lasts", async () => {
    sim.injectFault({ fault: { kind: "notFound" }, times: Infinity });
    assertError(await callApi(sim, "getMe"), 404, "Not Found");
    assertError(await callApi(sim, "getUpdates"), 404, "Not Found");
    sim.clearFaults();
    assert.equal((await callApi(sim, "getMe")).status, 200);
  });
});

/** Calls getMe until the simulator answers (it refuses connections meanwhile), with a deadline. */
function waitUntilAnswered(sim: BotApiSimulator) {
  return waitUntil(() => callApi(sim, "getMe").catch(() => undefined), {
    timeoutMs: 10_000,
    description: "the simulator to answer getMe",
  });
}

Deno.test("getUpdates faults of a misbehaving server: a batch over the limit, an update delivered again", async (t) => {
  await using sim = await BotApiSimulator.start();
  const sent = Array.from({ length: 150 }, (_, i) => sim.sendText(1001, `m${i}`));
  await t.step("ignoreLimit: every deliverable update, whatever the limit", async () => {
    sim.injectFault({ method: "getUpdates", fault: { kind: "ignoreLimit" } });
    const over = await callApi<Update[]>(sim, "getUpdates", { offset: 0, limit: 100 });
    assert.equal(over.json?.result?.length, 150);
    assert.equal(lastCall(sim).fault, "ignoreLimit");
    const normal = await callApi<Update[]>(sim, "getUpdates", { offset: 0, limit: 100 });
    assert.equal(
      normal.json?.result?.length,
      1,
      "the rule was used up (and the same offset again within 0.5 s gets one)",
    );
  });
  await t.step("redeliver: the given updates, whatever the offset", async () => {
    const confirmed = sent[3].update_id + 1;
    await callApi(sim, "getUpdates", { offset: confirmed, limit: 1 });
    sim.injectFault({ method: "getUpdates", fault: { kind: "redeliver", updates: [sent[2]] } });
    const again = await callApi<Update[]>(sim, "getUpdates", { offset: confirmed, limit: 100 });
    assert.deepEqual(again.json?.result, [sent[2]]);
    assert.equal(lastCall(sim).fault, "redeliver");
  });
});

/** A PNG of `width` × `height` (its header only: the simulator reads no more). */
function pngOf(width: number, height: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(33);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  new DataView(bytes.buffer).setUint32(16, width);
  new DataView(bytes.buffer).setUint32(20, height);
  return bytes;
}

async function uploadPhoto(
  sim: BotApiSimulator,
  params: Record<string, unknown>,
  file: { name: string; bytes: Uint8Array<ArrayBuffer> },
): Promise<Answer<Message>> {
  const form = new FormData();
  for (const [name, value] of Object.entries(params)) {
    form.append(name, typeof value === "string" ? value : JSON.stringify(value));
  }
  form.append("photo", "attach://p1");
  form.append("p1", new Blob([file.bytes], { type: "image/png" }), file.name);
  return read<Message>(
    await fetch(`${sim.apiRoot}/bot${sim.token}/sendPhoto`, { method: "POST", body: form }),
  );
}

Deno.test("sendPhoto takes an uploaded image, returns a Message with its sizes, and refuses what Telegram won't show as a photo", async (t) => {
  await using sim = await BotApiSimulator.start();
  const asked = sim.sendText(CHAT, "a chart please").message!.message_id;
  await t.step("a PNG: a message with a photo, replying, its bytes recorded", async () => {
    const bytes = pngOf(640, 480);
    const answer = await uploadPhoto(sim, {
      chat_id: CHAT,
      reply_parameters: { message_id: asked },
    }, { name: "chart.png", bytes });
    assert.equal(answer.status, 200, answer.text);
    const message = answer.json!.result!;
    assert.deepEqual(message.photo?.map((p) => [p.width, p.height]), [[640, 480]]);
    assert.equal(message.reply_to_message?.message_id, asked);
    const sent = sim.botMessages(CHAT).at(-1)!;
    assert.deepEqual(sent.photo?.bytes, bytes);
    assert.equal(sent.photo?.file_name, "chart.png");
    const again = await callApi<Message>(sim, "sendPhoto", {
      chat_id: CHAT,
      photo: message.photo![0].file_id,
    });
    assert.equal(again.status, 200, again.text);
  });
  await t.step("not an image, over 10 MB, or of dimensions Telegram refuses: 400", async () => {
    const refused = async (bytes: Uint8Array<ArrayBuffer>, description: string) =>
      assertError(
        await uploadPhoto(sim, { chat_id: CHAT }, { name: "x.png", bytes }),
        400,
        description,
      );
    await refused(new TextEncoder().encode("%PDF-1.4"), "Bad Request: IMAGE_PROCESS_FAILED");
    const big = new Uint8Array(10_000_001);
    big.set(pngOf(10, 10));
    await refused(big, "Bad Request: PHOTO_SAVE_FILE_INVALID");
    await refused(pngOf(9000, 1001), "Bad Request: PHOTO_INVALID_DIMENSIONS");
    await refused(pngOf(2100, 100), "Bad Request: PHOTO_INVALID_DIMENSIONS");
    assertError(
      await callApi(sim, "sendPhoto", { chat_id: CHAT, photo: "AgACAgnope" }),
      400,
      "Bad Request: wrong file identifier/HTTP URL specified",
    );
    assert.equal(sim.botMessages(CHAT).length, 2, "none of them was sent");
  });
});
