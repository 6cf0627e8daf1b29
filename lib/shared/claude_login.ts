/**
 * What to tell the person when the Claude CLI (the default brain) is not logged in. The CLI itself
 * says "Not logged in · Please run /login", which is advice for its own interactive session: sent
 * to the bot, `/login` would only reach the brain again. The bot runs on a box without a browser,
 * so the way in is a long-lived token in the bot's environment. Said by the start's brain check
 * (the journal, `/status`) and by the ⚠️ of a message whose brain failed for it.
 *
 * @module
 */

/** What to run on the box, and where the result goes. */
export const CLAUDE_LOGIN_HINT =
  "on the box, run `claude setup-token` and put CLAUDE_CODE_OAUTH_TOKEN=<the token> in the bot's env file (or ANTHROPIC_API_KEY=<a key>), then restart the bot";

/** The CLI's own advice, in the forms its versions print it. */
const CLI_LOGIN_ADVICE = /Not logged in\s*[·.:-]?\s*Please run \/login\.?/gi;

/** `text` (a brain's output) with the CLI's "Please run /login" replaced by {@linkcode CLAUDE_LOGIN_HINT}. */
export function withLoginHint(text: string): string {
  return text.replace(CLI_LOGIN_ADVICE, `Not logged in: ${CLAUDE_LOGIN_HINT}.`);
}
