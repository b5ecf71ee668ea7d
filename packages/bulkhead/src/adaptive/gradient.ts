/**
 * The gradient algorithm: compare the recent latency (a short moving average) with the long-run
 * latency (a long moving average). When recent calls are slower than the long run by more than
 * `tolerance`, the ratio (the gradient, below 1) shrinks the limit in proportion; when they are
 * not, the limit grows by a headroom of √limit. It reacts to queueing in the downstream before
 * errors appear, as Netflix's Gradient2 does.
 */

/** Tuning of the gradient algorithm. */
export interface GradientTuning {
  /** How much slower than the long-run latency recent calls may be before the limit shrinks. */
  readonly tolerance: number;
  /** Weight of a new estimate in the limit, in (0, 1]: lower is smoother and slower. */
  readonly smoothing: number;
  /** Samples in the short (recent) latency average. */
  readonly shortWindow: number;
  /** Samples in the long-run latency average. */
  readonly longWindow: number;
  /** Factor applied to the limit on a failed call, in (0, 1). */
  readonly backoffRatio: number;
}

/** Moving state of the gradient algorithm. */
export interface GradientState {
  /** The real-valued limit estimate. */
  limit: number;
  /** Short moving average of latency (ms); NaN before the first sample. */
  shortRtt: number;
  /** Long moving average of latency (ms); NaN before the first sample. */
  longRtt: number;
}

const ewma = (average: number, value: number, window: number): number =>
  Number.isNaN(average) ? value : average + (2 / (window + 1)) * (value - average);

/** Feeds one sample into `state` (mutated) and returns the new real-valued limit. */
export function gradientNext(
  state: GradientState,
  sample: { rttMs: number; inflight: number; dropped: boolean },
  tuning: GradientTuning,
): number {
  if (sample.dropped) {
    state.limit = state.limit * tuning.backoffRatio;
    return state.limit;
  }
  const rtt = Math.max(sample.rttMs, 1e-3);
  state.shortRtt = ewma(state.shortRtt, rtt, tuning.shortWindow);
  state.longRtt = ewma(state.longRtt, rtt, tuning.longWindow);
  // After a long stretch of high latency the long average lags behind a recovery; let it follow
  // faster so the limit is not held down by history.
  if (state.longRtt / state.shortRtt > 2) state.longRtt *= 0.95;
  // A mostly idle bulkhead cannot tell whether a higher limit would hold.
  if (sample.inflight < state.limit / 2) return state.limit;
  const gradient = Math.max(0.5, Math.min(1, (tuning.tolerance * state.longRtt) / state.shortRtt));
  const target = state.limit * gradient + Math.sqrt(state.limit);
  state.limit = state.limit * (1 - tuning.smoothing) + target * tuning.smoothing;
  return state.limit;
}
