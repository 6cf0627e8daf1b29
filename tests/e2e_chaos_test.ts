/**
 * Chaos: 100 messages across 5 chats while the poll process is killed (SIGKILL and SIGTERM, 10
 * times in all) at random points and started again, and the desk (which acknowledges every
 * message) is SIGKILLed 5 more times in between. Nothing may be lost, order must hold within
 * each run, and a message may be answered twice only when a SIGKILL fell between its reply and the
 * journal's record of it, and then the second answer says it is a re-run (a SIGTERM lets a reply
 * in flight finish and records it).
 *
 * The kill points are drawn from a seeded generator (set CHAOS_SEED to replay a run) and are
 * events, not times: "after the next N calls to the Bot API".
 */

import assert from "node:assert/strict";
import {
  type BotProcess,
  brainLog,
  messageIdOf,
  type RecordedCall,
  waitUntil,
  withBot,
} from "./_helpers.ts";
import { RERUN_NOTE } from "../lib/handler/texts.ts";

const CHATS = [1, 2, 3, 4, 5];
const MESSAGES = 100;
const KILLS = 10;

Deno.test("no message is lost while the poll process is killed and restarted 10 times", async () => {
  const seed = Number(Deno.env.get("CHAOS_SEED") ?? Date.now() % 1_000_000);
  const random = mulberry32(seed);
  const env = { COORD_POISON_LIMIT: "50", COORD_POLL_TIMEOUT_S: "2" };
  // Every run is restarted from the first: the helper prints all their stderr on failure.
  await withBot({ env, authorized: CHATS }, async (sim, first) => {
    let bot = first;
    const runs: BotProcess[] = [bot];
    let deskKills = 0;
    /** Each kill of the poll process: its signal, and when (on the simulator's clock). */
    const kills: { signal: "SIGKILL" | "SIGTERM"; at: number }[] = [];
    try {
      // The phone sends everything at once; the bot works through it under its cap of 4.
      const sent: { chat: number; id: number; updateId: number }[] = [];
      for (let i = 0; i < MESSAGES; i++) {
        const chat = CHATS[Math.floor(random() * CHATS.length)];
        const delay = (random() * 0.15).toFixed(2);
        const update = sim.sendText(chat, `sleep ${delay} m${i}`);
        sent.push({ chat, id: messageIdOf(update), updateId: update.update_id });
      }

      for (let kill = 0; kill < KILLS; kill++) {
        if (kill % 2 === 1) {
          // The desk dies mid-run; the loop starts another and hands it the jobs it held.
          const deskAt = sim.calls.length + 2 + Math.floor(random() * 20);
          await sim.waitForCall((c) => c.seq >= deskAt, {
            timeoutMs: 60_000,
            includePending: true,
          });
          const desk = deskPids(bot).at(-1);
          if (desk !== undefined) {
            try {
              Deno.kill(desk, "SIGKILL");
              deskKills++;
            } catch {
              // Already replaced.
            }
          }
        }
        const target = sim.calls.length + 5 + Math.floor(random() * 40);
        await sim.waitForCall((c) => c.seq >= target, { timeoutMs: 60_000, includePending: true });
        const signal = kill % 2 === 0 ? "SIGKILL" : "SIGTERM";
        kills.push({ signal, at: performance.timeOrigin + performance.now() });
        bot.kill(signal);
        await bot.exited();
        // Everything the old run started ends (handlers notice their poll process is gone).
        await waitUntil(() => (bot.leftovers().length === 0 ? true : undefined), {
          description: `run ${kill + 1}'s processes to end`,
        });
        Deno.writeTextFileSync(`${bot.dirs.root}/brain.log`, `window ${kill + 1}\n`, {
          append: true,
        });
        bot = await first.restart();
        runs.push(bot);
      }

      // Every message gets at least one final reply.
      const finalReplies = (chat: number, id: number) =>
        sim.calls.filter((c: RecordedCall) =>
          c.method === "sendMessage" && c.status === 200 && c.params.chat_id === chat &&
          (c.params.reply_parameters as { message_id?: number } | undefined)?.message_id === id
        );
      await waitUntil(
        () => (sent.every(({ chat, id }) => finalReplies(chat, id).length > 0) ? true : undefined),
        { description: "a reply to every message", timeoutMs: 180_000 },
      );

      // Answered twice only after a kill between reply and record; the second says it is a re-run.
      const twice = sent.filter(({ chat, id }) => finalReplies(chat, id).length > 1);
      const unmarked: number[] = [];
      for (const { chat, id } of twice) {
        const [firstReply, ...others] = finalReplies(chat, id);
        assert.match(
          String(firstReply.params.text),
          /^(\(re-run: an earlier run was cut off before it answered\)\n)?slept /,
        );
        for (const other of others) {
          if (!String(other.params.text).startsWith(RERUN_NOTE + "\n")) unmarked.push(id);
        }
      }
      // A reply in flight at a SIGTERM is let finish and recorded: only a SIGKILL can cut one off
      // between Telegram taking it and the journal's record of it.
      const afterSigterm = twice.filter(({ chat, id }) => {
        const sentAt = finalReplies(chat, id)[0].at;
        return kills.find((k) => k.at >= sentAt)?.signal === "SIGTERM";
      });
      assert.deepEqual(afterSigterm, [], "answered twice across a SIGTERM restart");
      const sigkills = kills.filter((k) => k.signal === "SIGKILL").length;
      assert.ok(twice.length <= sigkills, `${twice.length} messages answered twice`);
      // A second answer must say it is a re-run; if one doesn't, print that message's story.
      for (const id of unmarked) {
        const message = twice.find((m) => m.id === id)!;
        const about = new RegExp(`update ${message.updateId}\\b`);
        console.error(`chaos seed ${seed}: update ${message.updateId} answered again unmarked:`);
        for (const [i, run] of runs.entries()) {
          for (const line of run.lines.filter((l) => about.test(l))) {
            console.error(`  run ${i}: ${line}`);
          }
        }
      }
      assert.deepEqual(unmarked, [], "answered again without the re-run line");
      for (const { chat, id } of sent) {
        const texts = finalReplies(chat, id).map((c) => String(c.params.text));
        assert.ok(
          texts.every((t) => t.includes("slept")),
          `message ${id} got a real answer: ${texts}`,
        );
      }

      // Within each run, each chat's brain calls started in update_id order.
      const windows: string[][] = [[]];
      for (const line of brainLog(bot)) {
        if (line.startsWith("window")) windows.push([]);
        else if (line.startsWith("start")) windows.at(-1)!.push(line);
      }
      assert.equal(windows.length, KILLS + 1);
      for (const [w, lines] of windows.entries()) {
        for (const chat of CHATS) {
          const ids = lines.filter((l) => l.split(" ")[2] === String(chat)).map((l) =>
            Number(l.split(" ")[1])
          );
          assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `run ${w}, chat ${chat}: ${ids}`);
        }
      }

      // The outbox: once a brain has answered, its message never runs a brain again.
      const answered = new Set<string>();
      const rerunsOfAnswered: string[] = [];
      for (const line of brainLog(bot)) {
        const [word, id] = line.split(" ");
        if (word === "done") answered.add(id);
        if (word === "start" && answered.has(id)) rerunsOfAnswered.push(id);
      }
      assert.deepEqual(rerunsOfAnswered, [], "brains run again for messages already answered");

      bot.kill("SIGTERM");
      assert.equal((await bot.exited()).code, 0);
      assert.deepEqual(runs.flatMap((r) => r.leftovers()), [], "no process left");
      console.log(
        `chaos seed ${seed}: ${MESSAGES} messages, ${KILLS} kills, ${deskKills} desk kills, 0 lost, ${twice.length} answered twice, ${rerunsOfAnswered.length} brains re-run after answering`,
      );
    } catch (error) {
      console.error(`chaos seed ${seed} (CHAOS_SEED=${seed} replays it)`);
      for (const [i, run] of runs.entries()) {
        const notable = run.lines.filter((l) => /\[(WRN|ERR)\]/.test(l));
        console.error(`--- run ${i}: warnings and errors ---\n${notable.join("\n")}`);
      }
      throw error;
    }
  });
});

/** The desks a run started, oldest first. */
function deskPids(bot: BotProcess): number[] {
  return bot.lines.flatMap((l) => {
    const m = l.match(/desk started: pid (\d+)/);
    return m ? [Number(m[1])] : [];
  });
}

/** A small seeded generator (public domain), so a failing run can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
