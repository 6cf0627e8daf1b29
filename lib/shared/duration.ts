/**
 * Durations as a person reads them on the phone: "45 s", "2 min 5 s", "1 h 3 min".
 *
 * @module
 */

/** Formats `ms` (rounded to whole seconds, at least "0 s") in at most two units. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`Cannot format a duration of ${ms} ms: expected a finite number >= 0`);
  }
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const min = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return min > 0 ? `${h} h ${min} min` : `${h} h`;
  if (min > 0) return s > 0 ? `${min} min ${s} s` : `${min} min`;
  return `${s} s`;
}
