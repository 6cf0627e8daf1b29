/**
 * `deno task demo`: the whole bot against the built-in Bot API simulator, with an echo brain that
 * takes 3 s. A scripted phone sends two messages 2 s apart; the terminal shows what the person
 * would see, each event with its milliseconds since its message was sent. No token, no network.
 *
 * @module
 */

import { type RecordedCall } from "./sim/simulator.ts";
import { BotApiSimulator, messageIdOf, projectPath, startBot } from "./_helpers.ts";

const CHAT = 1001;
const texts = ["What's on my calendar today?", "And remind me to call mum at 6"];

await using sim = await BotApiSimulator.start();
await using bot = await startBot({
  sim,
  // A JSON array, so that a checkout path with a space stays one word.
  env: {
    COORD_BRAIN_CMD: JSON.stringify([projectPath("tests/stubs/slow_echo.sh")]),
    ECHO_DELAY_S: "3",
  },
});
console.log("forge-coordinator demo: the real bot (main.ts + handler.ts) against a local Bot API");
console.log("simulator, with an echo brain that thinks for 3 s.\n");

await sim.waitForCall((c) => c.method === "getUpdates", {
  description: "the bot's first poll",
  includePending: true,
});
const sentAt = new Map<number, number>();
const show = (messageId: number, at: number, what: string) => {
  const ms = Math.round(at - (sentAt.get(messageId) ?? at));
  console.log(`  message ${messageId}  +${String(ms).padStart(5)} ms  ${what}`);
};

const failed = new Set<number>();
const watcher = watch();
for (const [i, text] of texts.entries()) {
  if (i > 0) await new Promise((resolve) => setTimeout(resolve, 2000)); // the person types on
  const update = sim.sendText(CHAT, text);
  const id = messageIdOf(update);
  sentAt.set(id, performance.timeOrigin + performance.now());
  show(id, sentAt.get(id)!, `📱 sent: "${text}"`);
}
await watcher;

bot.kill("SIGTERM");
const status = await bot.exited();
console.log(
  `\nbot stopped with exit status ${status.code}; its log (stderr) went to journald's place:`,
);
for (const line of bot.lines) console.log(`  ${line}`);
if (failed.size > 0) {
  console.error(
    `\nerror: the brain failed on message(s) ${[...failed].join(", ")} (see the ⚠️ above)`,
  );
  Deno.exitCode = 1;
}

/** Prints the bot's calls as they arrive until both messages have their 👌 (or a 👎). */
async function watch() {
  let seen = 0;
  let done = 0;
  let lastTyping = 0;
  // The demo takes about 6 s; the bot's polls go on, so bound the whole wait, not each call.
  const deadline = performance.now() + 60_000;
  while (done < texts.length) {
    const timeoutMs = Math.max(1, deadline - performance.now());
    const call = await sim.waitForCall((c) => c.seq > seen, { timeoutMs });
    seen = call.seq;
    const event = describe(call);
    if (!event) continue;
    if (event.what.startsWith("typing")) {
      if (call.at - lastTyping < 100) continue; // the ack's and the brain's typing, shown once
      lastTyping = call.at;
    }
    show(event.messageId, call.at, event.what);
    if (event.what.startsWith("👌")) done++;
    if (event.what.startsWith("👎")) {
      failed.add(event.messageId);
      done++;
    }
  }
}

function describe(call: RecordedCall): { messageId: number; what: string } | undefined {
  const p = call.params;
  if (call.method === "setMessageReaction") {
    const emoji = (p.reaction as { emoji: string }[])[0]?.emoji;
    return { messageId: Number(p.message_id), what: `${emoji} reaction` };
  }
  if (call.method === "sendChatAction") {
    return { messageId: latestMessage(), what: "typing… shown" };
  }
  if (call.method === "sendMessage" && call.status === 200) {
    const to = (p.reply_parameters as { message_id: number } | undefined)?.message_id ?? 0;
    return { messageId: to, what: `💬 reply: "${p.text}"` };
  }
  return undefined;
}

function latestMessage(): number {
  return Math.max(...sentAt.keys());
}
