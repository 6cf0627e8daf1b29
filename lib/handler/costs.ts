/**
 * What a Claude brain cost: one line per answer in `<state dir>/costs/<YYYY-MM-DD>.jsonl`
 * (the day in UTC), for the optional footer under an answer and for `/status`'s total of the day.
 *
 * @module
 */

/** What one brain call reported about itself (the Claude CLI's `result` event). */
export interface Usage {
  costUsd?: number;
  durationMs?: number;
  turns?: number;
}

/** Options for {@linkcode recordCost}. */
export interface RecordCostOptions {
  /** The chat the answer went to. Required. */
  chatId: number;
  /** What the answer cost, in US dollars; nothing is recorded unless it is positive. Required. */
  usd: number;
  /** The time of the answer, in ms since the epoch: it picks the day's file. Default: `Date.now()`. */
  now?: number;
}

/** Appends one answer's cost; never throws (a cost that can't be recorded is not worth a failure). */
export function recordCost(stateDir: string, options: RecordCostOptions): void {
  const { chatId, usd, now = Date.now() } = options;
  if (!(usd > 0)) return;
  try {
    Deno.mkdirSync(`${stateDir}/costs`, { recursive: true });
    Deno.writeTextFileSync(
      costFile(stateDir, now),
      JSON.stringify({ at: new Date(now).toISOString(), chatId, usd }) + "\n",
      { append: true },
    );
  } catch {
    // Best effort.
  }
}

/** Today's totals (UTC day): per chat and overall, in US dollars. */
export function costsToday(
  stateDir: string,
  now = Date.now(),
): { byChat: Map<number, number>; total: number } {
  const byChat = new Map<number, number>();
  let total = 0;
  let text = "";
  try {
    text = Deno.readTextFileSync(costFile(stateDir, now));
  } catch {
    return { byChat, total };
  }
  for (const line of text.split("\n")) {
    try {
      const { chatId, usd } = JSON.parse(line);
      if (typeof chatId !== "number" || typeof usd !== "number" || !(usd > 0)) continue;
      byChat.set(chatId, (byChat.get(chatId) ?? 0) + usd);
      total += usd;
    } catch {
      // An empty or half-written line.
    }
  }
  return { byChat, total };
}

/** The footer under an answer: "— $0.0123 · 42 s · 3 turns", or "" when nothing is known. */
export function costFooter(usage: Usage | undefined): string {
  if (usage === undefined) return "";
  const parts: string[] = [];
  if (usage.costUsd !== undefined) parts.push(dollars(usage.costUsd));
  if (usage.durationMs !== undefined) parts.push(`${Math.round(usage.durationMs / 1000)} s`);
  if (usage.turns !== undefined) parts.push(usage.turns === 1 ? "1 turn" : `${usage.turns} turns`);
  return parts.length === 0 ? "" : `— ${parts.join(" · ")}`;
}

/** US dollars with enough digits to tell small costs apart. */
export function dollars(usd: number): string {
  return `$${usd < 1 ? usd.toFixed(4) : usd.toFixed(2)}`;
}

function costFile(stateDir: string, now: number): string {
  return `${stateDir}/costs/${new Date(now).toISOString().slice(0, 10)}.jsonl`;
}
