/**
 * The poll process's start-up housekeeping, before anything is polled: private state, the brains'
 * working folder, the lock folder, whether brains get cgroups of their own, what an earlier run
 * left behind (its brains' processes, finished messages' files).
 *
 * @module
 */

import type { Config } from "../shared/config.ts";
import { removeOrphanAttachments } from "../shared/attachments.ts";
import { removeOrphanSendDirs } from "../shared/outgoing_files.ts";
import type { Journal } from "../shared/journal.ts";
import type { Logger } from "../shared/log.ts";
import { isDiskFault, keepPrivate, privateFolder } from "../shared/private.ts";
import { probeCgroup } from "../shared/cgroup.ts";

/** Exit status when the disk fails at start (sysexits.h EX_TEMPFAIL): systemd restarts later. */
export const EX_DISK_FAULT = 75;

/** Why the bot can't start: one line, and whether it is the disk failing (worth a retry). */
export interface StartupFault {
  line: string;
  /** The disk failed (I/O, full, read-only), rather than a setting the person must fix. */
  temporary: boolean;
}

/** A {@linkcode StartupFault} from `error`, with `line` in front of it. */
export function startupFault(line: string, error: unknown): StartupFault {
  return { line: `${line}: ${String(error)}`, temporary: isDiskFault(error) };
}

/**
 * Makes the state private (umask 077 from here on, inherited by handlers; brains and the
 * transcriber get the person's own umask back) and the folders the bot needs. Returns why it
 * can't, or `undefined` when all is well.
 */
export function prepareState(config: Config): StartupFault | undefined {
  keepPrivate();
  try {
    privateFolder(config.stateDir);
  } catch (error) {
    return startupFault(`Cannot create COORD_STATE_DIR "${config.stateDir}"`, error);
  }
  try {
    Deno.mkdirSync(config.brainWorkdir, { recursive: true, mode: 0o700 });
  } catch (error) {
    // By default it is in the state folder: a person who never set it is told where it is.
    const inState = config.brainWorkdir.startsWith(`${config.stateDir.replace(/\/+$/, "")}/`);
    const where = inState ? ` in COORD_STATE_DIR "${config.stateDir}"` : "";
    return startupFault(
      `Cannot create COORD_BRAIN_WORKDIR "${config.brainWorkdir}"${where}`,
      error,
    );
  }
  try {
    // Made if missing, and 0700 (its owner and write bits were checked with the configuration):
    // each handler refuses a lock folder that is not, rather than run without its lock.
    privateFolder(config.lockDir);
  } catch (error) {
    return startupFault(`Cannot create COORD_LOCK_DIR "${config.lockDir}" (mode 0700)`, error);
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

/**
 * Whether brains can run in cgroups of their own (see `cgroup.ts`), said once in the log: the
 * bot's cgroup folder, or `undefined` when brains are ended by their marker alone.
 */
export async function brainCgroup(log: Logger): Promise<string | undefined> {
  const probe = await probeCgroup();
  if (probe.ok) {
    log.info("each brain attempt runs in a cgroup of its own under {dir}", { dir: probe.dir });
    return probe.dir;
  }
  log.info(
    "no cgroup the bot can use ({reason}): what brains start is ended by their marker alone",
    { reason: probe.reason },
  );
  return undefined;
}
