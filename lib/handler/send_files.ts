/**
 * Files back to the phone: each brain attempt gets `COORD_SEND_DIR`, an empty folder of its own
 * (`<state>/send/<update_id>/`, emptied before every attempt, so that a failed attempt's files
 * never go out), and what the brain leaves there when it answers is sent after the answer, in
 * name order (`outbox_files.ts`): images Telegram shows as photos as photos, everything else as
 * documents. A file over Telegram's limit for bots stays on the box, in
 * `undelivered/<update_id>/`, and the answer gets a line that names it there.
 *
 * Only regular files are sent; hidden files (a name starting with ".", an editor's leftovers),
 * folders and links are left out.
 *
 * @module
 */

import type { Logger } from "../shared/log.ts";
import type { OutgoingFile } from "../shared/journal_entry.ts";
import {
  DOCUMENT_LIMIT,
  formatSize,
  keptDir,
  sendableFile,
  sendDir,
} from "../shared/outgoing_files.ts";

/** The variable that names the folder to the brain. */
export const SEND_DIR_ENV = "COORD_SEND_DIR";

/** A message's send folder, made empty (before a brain attempt); returns its path. */
export function freshSendDir(stateDir: string, updateId: number): string {
  const dir = sendDir(stateDir, updateId);
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch {
    // None yet.
  }
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/**
 * Empties the message's send folder before a brain attempt; a folder that can't be made is
 * logged, and the brain runs anyway (its files, if any, then fail to land and are told).
 */
export function prepareSendDir(stateDir: string, updateId: number, log: Logger): void {
  try {
    freshSendDir(stateDir, updateId);
  } catch (error) {
    log.warn("update {updateId}: cannot make the send folder: {error}", {
      updateId,
      error: String(error),
    });
  }
}

/** What a brain left to send: its files, and a line for each one too big to send. */
export interface Collected {
  files: OutgoingFile[];
  /** One line per file kept on the box, for the answer. */
  lines: string[];
}

/** Options for {@linkcode collectSent}. */
export interface CollectOptions {
  stateDir: string;
  updateId: number;
  /** Where a file that can't be read or kept is told. Required. */
  log: Logger;
}

/** The files the brain left in its send folder, in name order (see the module doc). */
export function collectSent(options: CollectOptions): Collected {
  const { stateDir, updateId, log } = options;
  const dir = sendDir(stateDir, updateId);
  const collected: Collected = { files: [], lines: [] };
  let names: string[];
  try {
    names = [...Deno.readDirSync(dir)].filter((e) => e.isFile && !e.name.startsWith("."))
      .map((e) => e.name).sort();
  } catch {
    return collected;
  }
  for (const name of names) {
    const path = `${dir}/${name}`;
    try {
      const sendable = sendableFile(path);
      if (sendable.kind !== "too big") {
        collected.files.push({ path, name, kind: sendable.kind });
        continue;
      }
      const kept = `${keptDir(stateDir, updateId)}/${name}`;
      Deno.mkdirSync(keptDir(stateDir, updateId), { recursive: true });
      Deno.renameSync(path, kept);
      collected.lines.push(
        `📎 ${name} (${formatSize(sendable.size)}) is over the ${
          formatSize(DOCUMENT_LIMIT)
        } a bot may send; it is on the box: ${kept}`,
      );
    } catch (error) {
      log.warn("update {updateId}: {name} left unsent: {error}", {
        updateId,
        name,
        error: String(error),
      });
    }
  }
  return collected;
}
