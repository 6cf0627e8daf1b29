/**
 * Baseline (c): the seed's original design. The poll loop handles each message itself and awaits
 * the brain before it calls `getUpdates` again, so while a brain thinks nothing else is fetched:
 * no 👀 for anyone.
 *
 * Settings come from the bot's own variables (see `_baseline.ts`). Stops on SIGTERM/SIGINT.
 *
 * @module
 */

import { Api } from "grammy/web";
import type { Update } from "grammy/types";
import { baselineConfig, callBrain, messageEnv, stopSignal } from "./_baseline.ts";

const config = baselineConfig(Deno.env.toObject());
const signal = stopSignal();
const api = new Api(config.token, { apiRoot: config.apiRoot });
type ApiSignal = Parameters<Api["getUpdates"]>[1];

let offset = 0;
while (!signal.aborted) {
  let updates: Update[];
  try {
    updates = await api.getUpdates(
      { offset, timeout: config.pollTimeoutS, allowed_updates: ["message"] },
      signal as unknown as ApiSignal,
    );
  } catch (error) {
    if (signal.aborted) break;
    console.error(`baseline_seed: getUpdates failed: ${error}`);
    continue;
  }
  for (const update of updates) {
    offset = update.update_id + 1;
    await handle(update);
  }
}

/** One message, start to finish, inside the loop: the stall. */
async function handle(update: Update): Promise<void> {
  const message = update.message;
  if (message?.text === undefined) return;
  const chatId = message.chat.id;
  const messageId = message.message_id;
  await Promise.all([
    api.setMessageReaction(chatId, messageId, [{ type: "emoji", emoji: "👀" }]).catch(() => {}),
    api.sendChatAction(chatId, "typing").catch(() => {}),
  ]);
  let reply: string;
  try {
    reply = await callBrain({
      command: config.brain,
      input: message.text,
      env: messageEnv({ chatId, messageId, updateId: update.update_id }),
      signal,
    });
  } catch (error) {
    reply = `⚠️ ${error instanceof Error ? error.message : String(error)}`;
  }
  await api.sendMessage(chatId, reply || "(empty)", {
    reply_parameters: { message_id: messageId },
  }).catch(() => {});
  await api.setMessageReaction(chatId, messageId, [{ type: "emoji", emoji: "👌" }])
    .catch(() => {});
}
