/**
 * Additive increase, multiplicative decrease: grow the limit by one after each healthy call that
 * found the bulkhead at least half busy; shrink it by `backoffRatio` after each call that failed or
 * was slower than `latencyThresholdMs`. Simple and stable; reacts to errors and timeouts rather
 * than to gradual latency growth.
 */

/** Tuning of the AIMD algorithm. */
export interface AimdTuning {
  /** Factor applied to the limit on an overload sample, in (0, 1). */
  readonly backoffRatio: number;
  /** A successful call slower than this (ms) counts as an overload sample. */
  readonly latencyThresholdMs: number;
}

/** The next limit after one sample. `limit` is the current (real-valued) estimate. */
export function aimdNext(
  limit: number,
  sample: { rttMs: number; inflight: number; dropped: boolean },
  tuning: AimdTuning,
): number {
  if (sample.dropped || sample.rttMs > tuning.latencyThresholdMs) {
    // At least one step down, so small limits still back off.
    return Math.min(limit - 1, Math.floor(limit * tuning.backoffRatio));
  }
  // A call that found the bulkhead mostly idle says nothing about whether more would fit.
  if (sample.inflight * 2 >= limit) return limit + 1;
  return limit;
}
