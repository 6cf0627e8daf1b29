/**
 * The bot's own commands: `/status`, `/cancel` and `/new`. They are answered by their handler at
 * once, without the chat's turn; every other text (other commands included) goes to the brain.
 *
 * @module
 */

/** A command the bot answers itself. */
export type Command = "status" | "cancel" | "new";

const COMMANDS: ReadonlySet<string> = new Set<Command>(["status", "cancel", "new"]);

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
