/**
 * How long the bulkhead's calls take: each measured call feeds the adaptive limit and a running
 * average of durations, from which a refused call's `retryAfterMs` is estimated.
 */
import type { Clock } from '@breakwater/core';
import type { AdaptiveLimit } from '../adaptive/limit.js';

/** Weight of the newest duration in the running average used to estimate `retryAfterMs`. */
const DURATION_SMOOTHING = 0.2;

/** Start of a measured call. */
export interface Sample {
  readonly started: number;
  /** Calls running when this one started. */
  readonly inflight: number;
}

/** The measured durations of one bulkhead's calls. */
export class CallTimings {
  /** Running average of measured call durations (ms); NaN until the first measurement. */
  private averageDurationMs = Number.NaN;

  constructor(
    private readonly clock: Clock,
    private readonly limit: AdaptiveLimit | undefined,
  ) {}

  /** Starts measuring a call that found `inflight` calls running. */
  start(inflight: number): Sample {
    return { started: this.clock.now(), inflight };
  }

  /**
   * Ends a measurement. `dropped`: the call failed in a way that says the downstream is overloaded
   * (not a caller's abort, not a lost lease).
   */
  end(sample: Sample, dropped: boolean): void {
    const rttMs = this.clock.now() - sample.started;
    const average = this.averageDurationMs;
    this.averageDurationMs = Number.isNaN(average)
      ? rttMs
      : average + DURATION_SMOOTHING * (rttMs - average);
    this.limit?.record({ rttMs, inflight: sample.inflight, dropped });
  }

  /**
   * How long until a slot is likely free for a call with `queued` calls of its class ahead, from
   * the running average duration; `undefined` before any call was measured.
   */
  estimateRetryAfterMs(queued: number, capacity: number): number | undefined {
    const average = this.averageDurationMs;
    if (Number.isNaN(average)) return undefined;
    const rounds = Math.ceil((queued + 1) / Math.max(1, capacity));
    return Math.max(1, Math.ceil(average * rounds));
  }
}
