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

/** Longest file name kept, in UTF-16 units (file systems allow 255 bytes). */
const NAME_CHARS = 120;

/**
 * A document's own name, made safe as one file name in a folder: no path, no control characters,
 * not `.` or `..`, not hidden, not too long. `fallback` when nothing usable is left.
 */
export function safeFileName(name: string | undefined, fallback: string): string {
  // deno-lint-ignore no-control-regex
  let safe = (name ?? "").split(/[/\\]/).at(-1)!.replace(/[\u0000-\u001f\u007f]/g, "").trim();
  safe = safe.replace(/^\.+/, "");
  if (safe.length > NAME_CHARS) {
    const extension = safe.match(/\.[A-Za-z0-9]{1,8}$/)?.[0] ?? "";
    safe = safe.slice(0, NAME_CHARS - extension.length) + extension;
  }
  return safe === "" ? fallback : safe;
}
