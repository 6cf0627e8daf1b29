/**
 * One conversation per chat: the folder `<state dir>/sessions/<chat id>/`, the conversation id the
 * Claude driver resumes, and `/new`.
 *
 * `/new` is answered at once, without the chat's turn, while earlier messages may still wait or
 * work. So it doesn't delete anything: it records its own `update_id` (`new`), and a message
 * after it starts a new conversation while a message before it still continues the old one.
 *
 * ```
 * <state>/sessions/<chat>/session.json   {"sessionId": "...", "updateId": 41}  (the last message that used it)
 * <state>/sessions/<chat>/new            the update_id of the latest /new
 * ```
 *
 * @module
 */

import { writeFileAtomic } from "../shared/atomic_write.ts";

/** The Claude CLI's conversation ids: UUIDs. */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * True for a conversation id the bot may put into the brain's argv (`--resume <id>`): the CLI's
 * own format, a UUID, or "" (a custom brain's turn, recorded only for `/new`). Whatever the CLI
 * printed, or the file holds, it must never be read as a flag or anything else.
 */
export function isSessionId(id: unknown): id is string {
  return typeof id === "string" && (id === "" || SESSION_ID.test(id));
}

/** The conversation a chat's last message used. */
export interface SavedSession {
  sessionId: string;
  updateId: number;
}

/** Options for {@linkcode sessionToResume} and {@linkcode startsFresh}: the chat's folder. */
export interface SessionToResumeOptions {
  /** The conversation the chat's last message used. Default: none. */
  saved?: SavedSession;
  /** The `update_id` of the chat's latest `/new`. Default: none. */
  newAt?: number;
}

/**
 * Which conversation message `updateId` continues: the saved one, unless a `/new` came between
 * the message that saved it and this one. `undefined`: start a new conversation.
 */
export function sessionToResume(
  updateId: number,
  options: SessionToResumeOptions = {},
): string | undefined {
  const { saved, newAt } = options;
  // An empty id: a custom brain's turn, recorded only for `/new`.
  if (saved === undefined || saved.sessionId === "" || !isSessionId(saved.sessionId)) {
    return undefined;
  }
  if (newAt !== undefined && saved.updateId < newAt && newAt < updateId) return undefined;
  return saved.sessionId;
}

/** True when a `/new` came after the chat's conversation was last used and before `updateId`. */
export function startsFresh(updateId: number, options: SessionToResumeOptions = {}): boolean {
  const { saved, newAt } = options;
  return newAt !== undefined && newAt < updateId && (saved === undefined || saved.updateId < newAt);
}

/** A chat's session folder. Reads never throw; writes are atomic (write, then rename). */
export class SessionStore {
  readonly dir: string;

  constructor(stateDir: string, chatId: number) {
    this.dir = `${stateDir}/sessions/${chatId}`;
  }

  /** Creates the folder (it is handed to custom brains as `COORD_SESSION_DIR`). */
  open(): void {
    Deno.mkdirSync(this.dir, { recursive: true });
  }

  /** The conversation saved last, if any. */
  saved(): SavedSession | undefined {
    try {
      const value = JSON.parse(Deno.readTextFileSync(`${this.dir}/session.json`));
      return isSessionId(value?.sessionId) && typeof value.updateId === "number"
        ? { sessionId: value.sessionId, updateId: value.updateId }
        : undefined;
    } catch {
      return undefined;
    }
  }

  /** The `update_id` of the latest `/new`, if any. */
  newAt(): number | undefined {
    try {
      const n = Number(Deno.readTextFileSync(`${this.dir}/new`).trim());
      return Number.isSafeInteger(n) ? n : undefined;
    } catch {
      return undefined;
    }
  }

  /** Records a `/new` (keeps the latest). */
  markNew(updateId: number): void {
    this.open();
    if ((this.newAt() ?? -1) < updateId) this.#write("new", `${updateId}\n`);
  }

  /** Records the conversation message `updateId` used (unless a later message saved one). */
  save(session: SavedSession): void {
    if (!isSessionId(session.sessionId)) {
      throw new TypeError(
        `Cannot save the conversation id "${
          String(session.sessionId).slice(0, 80)
        }": not a UUID as the CLI gives`,
      );
    }
    this.open();
    if ((this.saved()?.updateId ?? -1) > session.updateId) return;
    this.#write("session.json", JSON.stringify(session) + "\n");
  }

  #write(name: string, text: string) {
    writeFileAtomic(`${this.dir}/${name}`, text);
  }
}
