/**
 * The bot's own commands: `/status`, `/cancel`, `/stop` and `/new`. They are answered at once,
 * without the chat's turn; every other text (other commands included) goes to the brain. And the
 * marks a message for the brain may carry: `/steer …` (into the turn that runs) and a leading
 * `!` (interrupt the turn that runs, and go next).
 *
 * @module
 */

/** A command the bot answers itself. */
export type Command = "status" | "cancel" | "stop" | "new";

const COMMANDS: ReadonlySet<string> = new Set<Command>(["status", "cancel", "stop", "new"]);

/** How a message for the brain asks to be taken while its chat's brain works. */
export type Mark = "steer" | "urgent" | undefined;

const STEER = /^\/steer(?:@[A-Za-z0-9_]+)?(?:\s+|$)/i;

/** The mark a message's text carries: `/steer …`, or `!…`; undefined for a plain one. */
export function markOf(text: unknown): Mark {
  if (typeof text !== "string") return undefined;
  const start = text.trimStart();
  if (STEER.test(start)) return "steer";
  return start.startsWith("!") && start.length > 1 ? "urgent" : undefined;
}

/** The text for the brain, without its mark. */
export function unmarked(text: string): string {
  const start = text.trimStart();
  if (STEER.test(start)) return start.replace(STEER, "");
  return markOf(text) === "urgent" ? start.slice(1).trimStart() : text;
}

/**
 * The command a message's text starts with (`/status`, `/Status@my_bot`, `/cancel now`), or
 * `undefined` when it is not one of ours. With `botUsername` (the bot's own, from `getMe`), a
 * command addressed to another bot (`/status@OtherBot`) is not ours either.
 */
export function parseCommand(
  text: string | undefined,
  botUsername?: string,
): Command | undefined {
  if (typeof text !== "string") return undefined;
  const match = text.trimStart().match(/^\/([A-Za-z_]+)(?:@([A-Za-z0-9_]+))?(?:\s|$)/);
  const name = match?.[1].toLowerCase();
  const target = match?.[2];
  if (
    target !== undefined && botUsername !== undefined &&
    target.toLowerCase() !== botUsername.replace(/^@/, "").toLowerCase()
  ) {
    return undefined;
  }
  return name !== undefined && COMMANDS.has(name) ? name as Command : undefined;
}

/** The command of an update (as the poll loop or the journal holds it), if it is one of ours. */
export function updateCommand(update: unknown, botUsername?: string): Command | undefined {
  const message = (update as { message?: { text?: unknown } } | null)?.message;
  return typeof message?.text === "string" ? parseCommand(message.text, botUsername) : undefined;
}
