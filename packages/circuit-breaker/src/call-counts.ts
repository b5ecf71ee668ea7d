/**
 * Calls counted by outcome in plain numbers, and reported through an observable counter when the
 * SDK collects: a closed call then costs an increment, where a synchronous counter's `add` costs
 * the SDK's hashing of the attributes (see `BreakerTelemetry`).
 *
 * The counts live per SDK meter and per series (breaker name and store kind), not per breaker,
 * so that they add up as a synchronous counter's would: two breakers of one name in one process
 * (which share a state) count into one series, and one closed and rebuilt under its name carries
 * on where it left off. A series is kept, and reported, for as long as its meter lives: calls
 * counted just before `close()` are still reported at the next collection, and the SDK holds the
 * same per-series state for a synchronous counter anyway.
 */
import type { Attributes, Meter, ObservableCounter, ObservableResult } from '@opentelemetry/api';

/** How a call ended, as the `calls` metric counts it. */
export type CallOutcomeLabel = 'success' | 'failure' | 'ignored' | 'rejected' | 'timeout';

/** Every outcome, in the order a collection reports them. */
export const CALL_OUTCOMES: readonly CallOutcomeLabel[] = [
  'success',
  'failure',
  'ignored',
  'rejected',
  'timeout',
];

/** The cumulative counts of one series: the breakers of one name and store kind, under one SDK. */
export interface CallCounts {
  /** Calls counted so far, by outcome; the breakers of the series increment these directly. */
  readonly counts: Record<CallOutcomeLabel, number>;
  /** The attributes each outcome is reported with, made once. */
  readonly attributes: Readonly<Record<CallOutcomeLabel, Attributes>>;
}

/** The series counted under one meter, and the counter that reports them. */
interface MeterSeries {
  readonly counter: ObservableCounter;
  readonly series: Map<string, CallCounts>;
}

/** Keyed by the SDK's meter, so that an SDK shut down takes its counts with it. */
const byMeter = new WeakMap<Meter, MeterSeries>();

/**
 * The counts of the series `key` under `meter`, made on first use; the first use on a meter makes
 * the observable counter with `createCounter` and registers the one callback that reports every
 * series of that meter. Only outcomes that happened are reported, as a synchronous counter would.
 * @param meter An SDK's meter (never the no-op meter: the counts would never be read).
 * @param createCounter Makes the observable counter from `meter`, once per meter.
 * @param key Identifies the series: the same key for the same attributes.
 * @param attributes The attributes of each outcome's data point.
 */
export function callCountsOf(
  meter: Meter,
  createCounter: (meter: Meter) => ObservableCounter,
  key: string,
  attributes: Readonly<Record<CallOutcomeLabel, Attributes>>,
): CallCounts {
  let perMeter = byMeter.get(meter);
  if (perMeter === undefined) {
    const series = new Map<string, CallCounts>();
    const counter = createCounter(meter);
    counter.addCallback((result: ObservableResult) => observeAll(series, result));
    perMeter = { counter, series };
    byMeter.set(meter, perMeter);
  }
  let counts = perMeter.series.get(key);
  if (counts === undefined) {
    counts = {
      counts: { success: 0, failure: 0, ignored: 0, rejected: 0, timeout: 0 },
      attributes,
    };
    perMeter.series.set(key, counts);
  }
  return counts;
}

function observeAll(series: ReadonlyMap<string, CallCounts>, result: ObservableResult): void {
  for (const { counts, attributes } of series.values()) {
    for (const outcome of CALL_OUTCOMES) {
      const count = counts[outcome];
      if (count > 0) result.observe(count, attributes[outcome]);
    }
  }
}
