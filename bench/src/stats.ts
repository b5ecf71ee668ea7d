/**
 * Summary statistics of latency samples pooled from several tinybench rounds.
 */

/** Summary of a set of samples, in the samples' unit. */
export interface SampleSummary {
  /** Number of samples. */
  readonly count: number;
  /** Arithmetic mean. */
  readonly mean: number;
  /** Margin of error of the mean at 95 % confidence (Student's t). */
  readonly moe: number;
  /** {@link moe} relative to the mean, in percent. */
  readonly rmePct: number;
  /** Median. */
  readonly p50: number;
  /** 99th percentile. */
  readonly p99: number;
}

/**
 * Two-sided 95 % critical value of Student's t for `df` degrees of freedom. The approximation
 * 1.96 + 2.4/df is within 1 % of the exact value from df = 10 on; benchmark runs have thousands.
 */
function tCritical95(df: number): number {
  return df < 1 ? Number.NaN : 1.96 + 2.4 / df;
}

function quantileSorted(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const low = sorted[lower] ?? Number.NaN;
  const high = sorted[lower + 1] ?? low;
  return low + (position - lower) * (high - low);
}

/** Mean, 95 % margin of error, median and p99 of `samples` (which must not be empty). */
export function summarize(samples: readonly number[]): SampleSummary {
  const count = samples.length;
  const mean = samples.reduce((sum, x) => sum + x, 0) / count;
  const variance =
    count > 1 ? samples.reduce((sum, x) => sum + (x - mean) ** 2, 0) / (count - 1) : 0;
  const moe = tCritical95(count - 1) * Math.sqrt(variance / count);
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count,
    mean,
    moe,
    rmePct: mean === 0 ? 0 : (moe / mean) * 100,
    p50: quantileSorted(sorted, 0.5),
    p99: quantileSorted(sorted, 0.99),
  };
}
