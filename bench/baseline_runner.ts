/**
 * Baseline (b): the same bot in one Deno process, as a Deno/grammY user would write it with
 * grammY's runner: updates are handled concurrently, 👀 and "typing…" at once, then the brain one
 * message at a time per chat (`sequentialize` by chat id), the reply, 👌.
 *
 * The ack middleware sits before `sequentialize` on purpose: inside it, a chat's second message
 * would wait for the first one's brain before its 👀, which no one would ship.
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

bot.on("message", async (ctx, next) => {
  await Promise.all([
    ctx.react("👀").catch(() => {}),
    ctx.replyWithChatAction("typing").catch(() => {}),
  ]);
  await next();
});
bot.use(sequentialize((ctx) => String(ctx.chat?.id)));
bot.on("message:text", async (ctx) => {
  const ids = {
    chatId: ctx.chat.id,
    messageId: ctx.message.message_id,
    updateId: ctx.update.update_id,
  };
  let reply: string;
  try {
    reply = await callBrain({
      command: config.brain,
      input: ctx.message.text,
      env: messageEnv(ids),
      signal,
    });
  } catch (error) {
    reply = `⚠️ ${error instanceof Error ? error.message : String(error)}`;
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
