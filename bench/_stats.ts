/**
 * Percentiles and the summaries the report prints.
 *
 * @module
 */

/** A latency distribution, in ms. */
export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** The nearest-rank percentile `p` (0-100) of `values`; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** p50, p95, p99, max and mean of `values`, rounded to 0.1 ms. */
export function summarise(values: readonly number[]): Summary {
  const round = (x: number) => Math.round(x * 10) / 10;
  const mean = values.reduce((sum, x) => sum + x, 0) / values.length;
  return {
    n: values.length,
    p50: round(percentile(values, 50)),
    p95: round(percentile(values, 95)),
    p99: round(percentile(values, 99)),
    max: round(values.length ? Math.max(...values) : NaN),
    mean: round(mean),
  };
}
