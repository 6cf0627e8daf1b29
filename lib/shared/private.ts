/**
 * Private state: every file the bot creates is 0600 and every folder 0700, whatever the person's
 * umask and however the bot is started.
 *
 * One mechanism rather than a mode at every `open` and `mkdir`: the poll process sets its umask to
 * 077 first thing, and handlers inherit it. The brain and the transcriber get the person's own
 * umask back (`PERSON_UMASK_ENV`, applied by `runTree`): their files are theirs to decide.
 *
 * @module
 */

/** The variable in which the poll process hands the person's own umask down (octal). */
export const PERSON_UMASK_ENV = "COORD_PERSON_UMASK";

/** The bot's own umask: nothing for group or others. */
export const PRIVATE_UMASK = 0o077;

/**
 * Sets this process's umask to {@linkcode PRIVATE_UMASK} and records the one it had in
 * `PERSON_UMASK_ENV` for the children that inherit our environment. Returns the person's umask.
 * Needs `--allow-env` and a bare `--allow-sys`: Deno 2.9.6 has no `--allow-sys=` descriptor for
 * the umask (`--allow-sys=uid,umask` is refused).
 */
export function keepPrivate(): number {
  const person = Deno.umask(PRIVATE_UMASK);
  Deno.env.set(PERSON_UMASK_ENV, person.toString(8).padStart(4, "0"));
  return person;
}

/**
 * Creates `dir` (and its parents) if missing and makes it 0700, even when it existed with a wider
 * mode (a state folder made by hand, or by an earlier version).
 */
export function privateFolder(dir: string): void {
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Only when it is wider: a chmod is a write, and a read-only state folder that is already 0700
  // is a disk fault for the journal to meet (and retry), not a reason to refuse to start.
  const mode = Deno.statSync(dir).mode;
  if (mode === null || (mode & 0o7777) !== 0o700) Deno.chmodSync(dir, 0o700);
}

/** The errors of a disk that fails (I/O, full, over quota, read-only) rather than of a setting. */
const DISK_FAULT_CODES = new Set(["EIO", "ENOSPC", "EDQUOT", "EROFS"]);

/**
 * Whether `error` is the disk failing rather than a path or permission that is wrong: the one is
 * worth a restart later (exit 75, EX_TEMPFAIL), the other needs the person (exit 78, EX_CONFIG).
 */
export function isDiskFault(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && DISK_FAULT_CODES.has(code);
}

/** An octal umask from the environment, or `undefined` when unset or malformed. */
export function parseUmask(text: string | undefined): number | undefined {
  return text !== undefined && /^0?[0-7]{3}$/.test(text) ? parseInt(text, 8) : undefined;
}
