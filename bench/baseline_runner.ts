/**
 * Baseline (b): the same bot in one Deno process, as a Deno/grammY user would write it with
 * grammY's runner: updates are handled concurrently, 👀 and "typing…" at once, then the brain one
 * message at a time per chat (`sequentialize` by chat id), the reply, 👌.
 *
 * The ack middleware sits before `sequentialize` on purpose: inside it, a chat's second message
 * would wait for the first one's brain before its 👀, which no one would ship. So do the two
 * commands, `/status` (how many messages this chat has waiting or running) and `/cancel` (stops
 * the chat's running brain), written the way such a bot would write them; their texts are not the
 * bot's.
 *
 * Settings come from the bot's own variables (see `_baseline.ts`). Stops on SIGTERM/SIGINT.
 *
 * @module
 */

import { Bot } from "grammy/web";
import { run, sequentialize } from "@grammyjs/runner";
import { baselineConfig, callBrain, messageEnv, stopSignal } from "./_baseline.ts";

const config = baselineConfig(Deno.env.toObject());
const signal = stopSignal();

const bot = new Bot(config.token, { client: { apiRoot: config.apiRoot } });
/** Per chat: messages waiting or running. */
const pending = new Map<number, number>();
/** Per chat: stops its running brain. */
const running = new Map<number, AbortController>();

bot.hears(/^\/status\b/, async (ctx) => {
  const n = pending.get(ctx.chat.id) ?? 0;
  await ctx.reply(`${n} message(s) waiting or running in this chat.`, {
    reply_parameters: { message_id: ctx.message!.message_id },
  });
});
bot.hears(/^\/cancel\b/, async (ctx) => {
  const brain = running.get(ctx.chat.id);
  brain?.abort();
  await ctx.reply(brain ? "Stopped the running brain." : "Nothing to cancel.", {
    reply_parameters: { message_id: ctx.message!.message_id },
  });
});
bot.on("message", async (ctx, next) => {
  await Promise.all([
    ctx.react("👀").catch(() => {}),
    ctx.replyWithChatAction("typing").catch(() => {}),
  ]);
  const chatId = ctx.chat.id;
  pending.set(chatId, (pending.get(chatId) ?? 0) + 1);
  try {
    await next();
  } finally {
    pending.set(chatId, pending.get(chatId)! - 1);
  }
});
bot.use(sequentialize((ctx) => String(ctx.chat?.id)));
bot.on("message:text", async (ctx) => {
  const ids = {
    chatId: ctx.chat.id,
    messageId: ctx.message.message_id,
    updateId: ctx.update.update_id,
  };
  const cancel = new AbortController();
  running.set(ids.chatId, cancel);
  let reply: string;
  try {
    reply = await callBrain({
      command: config.brain,
      input: ctx.message.text,
      env: messageEnv(ids),
      signal: AbortSignal.any([signal, cancel.signal]),
    });
  } catch (error) {
    reply = `⚠️ ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    running.delete(ids.chatId);
  }
  await ctx.reply(reply || "(empty)", { reply_parameters: { message_id: ids.messageId } });
  await ctx.react("👌").catch(() => {});
});
bot.catch((error) => console.error(`baseline_runner: ${error.message}`));

const handle = run(bot, {
  runner: { fetch: { timeout: config.pollTimeoutS, allowed_updates: ["message"] } },
});
signal.addEventListener("abort", () => handle.isRunning() && handle.stop(), { once: true });
await handle.task();
