/**
 * Unit tests for `lib/shared/command.ts`: which texts are the bot's own commands
 * (`parseCommand()`), with or without the bot's name, and an update's command (`updateCommand()`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseCommand, updateCommand } from "../lib/shared/command.ts";

Deno.test("parseCommand() takes /status, /cancel and /new, in any case, with words after", async (t) => {
  const cases: [string, string][] = [
    ["/status", "status"],
    ["/cancel", "cancel"],
    ["/new", "new"],
    ["/STATUS", "status"],
    ["/New", "new"],
    ["/cancel now please", "cancel"],
    ["/status\nand a second line", "status"],
    ["/new\tnow", "new"],
    ["\n  /status", "status"],
    ["/status@Some_Bot", "status"],
    ["/Cancel@forge_bot now", "cancel"],
    ["  /new", "new"],
  ];
  for (const [text, command] of cases) {
    await t.step(JSON.stringify(text), () => assert.equal(parseCommand(text), command));
  }
});

Deno.test("parseCommand() leaves every other text to the brain", async (t) => {
  const texts = [
    "/start",
    "/help",
    "/statuses",
    "/status2",
    "/status-now",
    "/status,",
    "/ status",
    "status",
    "/",
    "",
    "please /cancel",
    "//status",
  ];
  for (const text of texts) {
    await t.step(JSON.stringify(text), () => assert.equal(parseCommand(text), undefined));
  }
  await t.step("no text at all", () => assert.equal(parseCommand(undefined), undefined));
});

Deno.test("parseCommand() with the bot's name takes only the commands addressed to it, or to no one", async (t) => {
  const botUsername = "forge_bot";
  const cases: [string, string | undefined][] = [
    ["/status", "status"],
    ["/cancel now", "cancel"],
    ["/status@forge_bot", "status"],
    ["/Status@FORGE_BOT", "status"],
    ["/new@forge_bot now", "new"],
    ["/status@OtherBot", undefined],
    ["/cancel@forge_bot2", undefined],
    ["/start@forge_bot", undefined],
  ];
  for (const [text, command] of cases) {
    await t.step(text, () => assert.equal(parseCommand(text, botUsername), command));
  }
  await t.step("the name may be given with its @", () => {
    assert.equal(parseCommand("/status@forge_bot", "@forge_bot"), "status");
    assert.equal(parseCommand("/status@OtherBot", "@forge_bot"), undefined);
  });
});

Deno.test("updateCommand() reads the command of a new message's text only", async (t) => {
  const botUsername = "forge_bot";
  await t.step("a message", () => {
    assert.equal(updateCommand({ update_id: 1, message: { text: "/new" } }), "new");
    assert.equal(updateCommand({ message: { text: "/new@FORGE_BOT" } }, botUsername), "new");
  });
  await t.step("a command for another bot", () => {
    assert.equal(updateCommand({ message: { text: "/new@OtherBot" } }, botUsername), undefined);
  });
  const none: [string, unknown][] = [
    ["plain text", { message: { text: "hello" } }],
    ["a caption", { message: { caption: "/status" } }],
    ["an edit", { edited_message: { text: "/status" } }],
    ["a text that is not a string", { message: { text: 42 } }],
    ["no message", { update_id: 1 }],
    ["null", null],
    ["undefined", undefined],
  ];
  for (const [name, update] of none) {
    await t.step(`none for ${name}`, () => assert.equal(updateCommand(update), undefined));
  }
});
