/**
 * Where a message's files live, for both kinds of process: `<state dir>/attachments/<update_id>/`
 * holds what the person sent (photos, documents) and the brain's progress file; it goes when the
 * message is finished, and the poll process tidies what a crash left behind at start.
 *
 * @module
 */

/** The folder of one message's attachments: `<state dir>/attachments/<update_id>`. */
export function attachmentDir(stateDir: string, updateId: number): string {
  return `${stateDir}/attachments/${updateId}`;
}

/** Removes a message's attachment folder (it is finished). Never throws. */
export function removeAttachments(stateDir: string, updateId: number): void {
  try {
    Deno.removeSync(attachmentDir(stateDir, updateId), { recursive: true });
  } catch {
    // None, or gone already.
  }
}

/**
 * Removes the attachment folders of messages no longer in the journal (finished while the bot was
 * cut off before it could tidy up). Returns the update ids whose folders were removed.
 */
export function removeOrphanAttachments(
  stateDir: string,
  unfinished: ReadonlySet<number>,
): number[] {
  const removed: number[] = [];
  let items: Deno.DirEntry[];
  try {
    items = [...Deno.readDirSync(`${stateDir}/attachments`)];
  } catch {
    return removed;
  }
  for (const item of items) {
    const updateId = /^\d+$/.test(item.name) ? Number(item.name) : undefined;
    if (updateId !== undefined && unfinished.has(updateId)) continue;
    try {
      Deno.removeSync(`${stateDir}/attachments/${item.name}`, { recursive: true });
      if (updateId !== undefined) removed.push(updateId);
    } catch {
      // Removed meanwhile, or not ours to remove: left for the next start.
    }
  }
  return removed.sort((a, b) => a - b);
}

/** Longest file name kept, in characters, and in UTF-8 bytes (file systems allow 255 bytes). */
const NAME_CHARS = 120;
const NAME_BYTES = 240;

/**
 * A document's own name, made safe as one file name in a folder, for a shell and an agent alike:
 * only letters and digits (of any script), spaces, `.`, `-` and `_` are kept, and every run of
 * anything else becomes one `_` (`$(touch x)` → `_touch x_`); no path (the last part is kept), no
 * leading `.`, `-` or space (`..`, `-rf`, a hidden file), not too long. `fallback` when nothing
 * usable is left, or when `name` is not a string at all.
 */
export function safeFileName(name: unknown, fallback: string): string {
  if (typeof name !== "string") return fallback;
  let safe = name.split(/[/\\]/).at(-1)!
    // Control and format characters go first: a right-to-left override (U+202E) could disguise
    // the extension the brain and the person read.
    .replace(/[\p{Cc}\p{Cf}]/gu, "")
    .replace(/[^\p{L}\p{M}\p{N} ._-]+/gu, "_")
    .replace(/^[.\- ]+/, "")
    .trim();
  if (!fitsAsName(safe)) {
    // Cut between characters, never inside one (an emoji is two UTF-16 units, four bytes).
    const extension = safe.match(/\.[\p{L}\p{N}]{1,8}$/u)?.[0] ?? "";
    let kept = "";
    for (const char of safe) {
      if (!fitsAsName(kept + char + extension)) break;
      kept += char;
    }
    safe = kept + extension;
  }
  return safe === "" ? fallback : safe;
}

function fitsAsName(name: string): boolean {
  return [...name].length <= NAME_CHARS && new TextEncoder().encode(name).length <= NAME_BYTES;
}
