/**
 * Writing a file whole or not at all, the one way the bot replaces a file another process may
 * read (journal entries, the heartbeat, sessions, edits): the text goes to a temporary file
 * beside the target, named for this process so that two processes never share one, which is then
 * renamed over it. A reader sees the old file or the new one, never half of one.
 *
 * @module
 */

/** Options for {@linkcode writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /**
   * Fsync the file, then its folder, so that the write survives a power cut once this returns
   * (the journal's entries). Default: `false`.
   */
  durable?: boolean;
}

/** Replaces `path` with `text` atomically; see the module doc. Throws when it can't. */
export function writeFileAtomic(
  path: string,
  text: string,
  options: WriteFileAtomicOptions = {},
): void {
  const { durable = false } = options;
  const tmp = `${path}.tmp-${Deno.pid}`;
  const file = Deno.openSync(tmp, { write: true, create: true, truncate: true });
  try {
    try {
      const bytes = new TextEncoder().encode(text);
      let written = 0;
      while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
      if (durable) file.syncSync();
    } finally {
      file.close();
    }
    Deno.renameSync(tmp, path);
  } catch (error) {
    // A full disk or an I/O error: the half-written file goes, and gives its space back.
    try {
      Deno.removeSync(tmp);
    } catch {
      // Never made, or gone with its folder.
    }
    throw error;
  }
  if (durable) syncFolder(path.slice(0, Math.max(1, path.lastIndexOf("/"))));
}

/** Fsyncs a folder: the names in it (a file created, renamed or removed) survive a power cut. */
export function syncFolder(dir: string): void {
  const folder = Deno.openSync(dir, { read: true });
  try {
    folder.syncSync();
  } finally {
    folder.close();
  }
}
