/**
 * The files a message sends after its text, for both kinds of process: they wait in
 * `<state dir>/send/<update_id>/` (the brain's `COORD_SEND_DIR`, or a job's files from the box)
 * until the message is finished, and what Telegram takes, as what: a photo (JPEG, PNG or WebP up
 * to 10 MB, shown in the chat) or a document (up to 50 MB); anything bigger can't be sent by a
 * bot, and stays on the box (`undelivered/<update_id>/`, named in the answer).
 *
 * Telegram says "MB" for these limits; they are taken as 10^6 bytes, which keeps a whole upload
 * (the file and its multipart envelope) under the front proxy's 50 MiB.
 *
 * @module
 */

/** The largest photo Telegram takes (bytes); a larger image goes as a document. */
export const PHOTO_LIMIT = 10_000_000;
/** The largest file a bot may upload (bytes). */
export const DOCUMENT_LIMIT = 50_000_000;

/** The folder of a message's outgoing files: `<state dir>/send/<update_id>`. */
export function sendDir(stateDir: string, updateId: number): string {
  return `${stateDir}/send/${updateId}`;
}

/** Where a message's files that did not reach the phone are kept: `undelivered/<update_id>/`. */
export function keptDir(stateDir: string, updateId: number): string {
  return `${stateDir}/undelivered/${updateId}`;
}

/** Removes a message's outgoing files (it is finished). Never throws. */
export function removeSendDir(stateDir: string, updateId: number): void {
  try {
    Deno.removeSync(sendDir(stateDir, updateId), { recursive: true });
  } catch {
    // None, or gone already.
  }
}

/**
 * Removes the outgoing files of messages no longer in the journal (finished while the bot was cut
 * off before it could tidy up), but never a job from the box not yet journaled (its folder holds
 * `job.json`: `spool_job.ts`). Returns the update ids whose folders were removed.
 */
export function removeOrphanSendDirs(stateDir: string, unfinished: ReadonlySet<number>): number[] {
  const removed: number[] = [];
  let items: Deno.DirEntry[];
  try {
    items = [...Deno.readDirSync(`${stateDir}/send`)];
  } catch {
    return removed;
  }
  for (const item of items) {
    const updateId = /^\d+$/.test(item.name) ? Number(item.name) : undefined;
    if (updateId === undefined || unfinished.has(updateId)) continue;
    const dir = `${stateDir}/send/${item.name}`;
    if (pathExists(`${dir}/job.json`)) continue;
    try {
      Deno.removeSync(dir, { recursive: true });
      removed.push(updateId);
    } catch {
      // Removed meanwhile: left for the next start.
    }
  }
  return removed.sort((a, b) => a - b);
}

/** How a file can go: as a photo or a document, or not at all (over the limit). */
export type Sendable =
  | { kind: "photo" | "document"; size: number }
  | { kind: "too big"; size: number };

/**
 * How the file at `path` can be sent, by its size and its first bytes (not its name: a PNG named
 * `chart` is still shown as a photo). Throws what `Deno.statSync` and `Deno.openSync` throw.
 */
export function sendableFile(path: string): Sendable {
  const size = Deno.statSync(path).size;
  if (size > DOCUMENT_LIMIT) return { kind: "too big", size };
  if (size > PHOTO_LIMIT) return { kind: "document", size };
  using file = Deno.openSync(path);
  const head = new Uint8Array(12);
  const read = file.readSync(head) ?? 0;
  return { kind: isPhoto(head.subarray(0, read)) ? "photo" : "document", size };
}

/** True for the start of a JPEG, a PNG or a WebP image: what Telegram shows as a photo. */
export function isPhoto(head: Uint8Array): boolean {
  const starts = (bytes: number[], at = 0) => bytes.every((b, i) => head[at + i] === b);
  const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));
  return starts([0xff, 0xd8, 0xff]) ||
    starts([0x89, ...ascii("PNG"), 0x0d, 0x0a, 0x1a, 0x0a]) ||
    (starts(ascii("RIFF")) && starts(ascii("WEBP"), 8));
}

/** A size for a person: "60.0 MB", "512 kB", "12 bytes". */
export function formatSize(bytes: number): string {
  if (bytes >= 1_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  if (bytes >= 1000) return `${Math.round(bytes / 1000)} kB`;
  return `${bytes} bytes`;
}

/** Whether anything is at `path` (a file, a folder); false when it can't be looked at either. */
export function pathExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
