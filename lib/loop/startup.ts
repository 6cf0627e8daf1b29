/**
 * The poll process's start-up housekeeping, before anything is polled: private state, the brains'
 * working folder, what an earlier run left behind (its brains' processes, finished messages'
 * files).
 *
 * @module
 */

import type { Config } from "../shared/config.ts";
import { removeOrphanAttachments } from "../shared/attachments.ts";
import { removeOrphanSendDirs } from "../shared/outgoing_files.ts";
import type { Journal } from "../shared/journal.ts";
import type { Logger } from "../shared/log.ts";
import { keepPrivate, privateFolder } from "../shared/private.ts";

/**
 * Makes the state private (umask 077 from here on, inherited by handlers; brains and the
 * transcriber get the person's own umask back) and the folders the bot needs. Returns the line
 * of a configuration error, or `undefined` when all is well.
 */
export function prepareState(config: Config): string | undefined {
  keepPrivate();
  try {
    privateFolder(config.stateDir);
  } catch (error) {
    return `Cannot create COORD_STATE_DIR "${config.stateDir}": ${String(error)}`;
  }
  try {
    Deno.mkdirSync(config.brainWorkdir, { recursive: true, mode: 0o700 });
  } catch (error) {
    return `Cannot create COORD_BRAIN_WORKDIR "${config.brainWorkdir}": ${error}`;
  }
  return undefined;
}

/** Options for {@linkcode tidyAttachments}. */
export interface TidyAttachmentsOptions {
  /** The journal: the files of the messages still in it are kept. Required. */
  journal: Journal;
  /** Where the files removed, or a failure, are told. Required. */
  log: Logger;
}

/**
 * Removes the files of messages that finished while the bot was cut off before it could tidy up.
 * Their handlers remove them as they finish; nothing of this runs in the loop.
 */
export function tidyAttachments(config: Config, options: TidyAttachmentsOptions): void {
  const { journal, log } = options;
  try {
    const unfinished = new Set(journal.list().map((e) => e.updateId));
    const orphans = removeOrphanAttachments(config.stateDir, unfinished);
    if (orphans.length > 0) {
      log.info("removed the attachments of {n} finished message(s): {ids}", {
        n: orphans.length,
        ids: orphans.join(", "),
      });
    }
    // And the files they were to send (never a job from the box that waits to be journaled).
    const unsent = removeOrphanSendDirs(config.stateDir, unfinished);
    if (unsent.length > 0) {
      log.info("removed the files to send of {n} finished message(s): {ids}", {
        n: unsent.length,
        ids: unsent.join(", "),
      });
    }
  } catch (error) {
    log.warn("cannot tidy the attachments folder: {error}", { error: String(error) });
  }
}
