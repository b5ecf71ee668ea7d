/**
 * The store telemetry every store-backed policy reports, with the same names everywhere:
 *
 * - `breakwater.<pattern>.store.duration` (histogram, s): store operations that reached the store,
 *   by `breakwater.store.operation` and `breakwater.store.outcome` (`ok`, `error`, `timeout`);
 * - `breakwater.<pattern>.store.errors` (counter, `{operation}`): operations that got no answer from the store,
 *   by operation and outcome (`error`, `timeout`, `degraded` — not attempted because the store is
 *   degraded);
 * - the span event `breakwater.<pattern>.store.status` when the store degrades or recovers.
 *
 * Attribute sets are built once per operation, so recording allocates nothing. The instruments
 * are the package's lazy ones (`Telemetry.instruments`): they report once an SDK is registered.
 */
import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import type { LazyInstruments } from '../lazy-instruments.js';
import {
  ATTR_POLICY_NAME,
  ATTR_STORE,
  DURATION_BUCKETS_SECONDS,
  type Telemetry,
} from '../telemetry.js';
import type { StoreStatusChange } from './status.js';

/** Attribute: the store operation (`acquire`, `record`, `get`, …); never a user key. */
export const ATTR_STORE_OPERATION = 'breakwater.store.operation';
/** Attribute: how a store operation ended: `ok`, `error`, `timeout` or `degraded`. */
export const ATTR_STORE_OUTCOME = 'breakwater.store.outcome';
/** Attribute of the status event: `healthy` or `degraded`. */
export const ATTR_STORE_STATUS = 'breakwater.store.status';

/** How a store operation ended. `degraded`: not attempted, the store being degraded. */
export type StoreOutcome = 'ok' | 'error' | 'timeout' | 'degraded';

/** The metric segment of a pattern: `'circuit-breaker'` → `circuit_breaker`. */
export function metricSegment(pattern: string): string {
  return pattern.replace(/-/g, '_');
}

/** Names of the store instruments and event of `pattern` (`'rate-limit'`, …). */
export function storeMetricNames(pattern: string): {
  duration: string;
  errors: string;
  statusEvent: string;
} {
  const prefix = `breakwater.${metricSegment(pattern)}.store`;
  return {
    duration: `${prefix}.duration`,
    errors: `${prefix}.errors`,
    statusEvent: `${prefix}.status`,
  };
}

/** The pre-built attribute sets of one operation. */
export interface OperationAttributes {
  readonly ok: Attributes;
  readonly error: Attributes;
  readonly timeout: Attributes;
  readonly degraded: Attributes;
}

/** The store instruments of one policy, as made from one meter. */
interface StoreInstruments {
  readonly duration: Histogram;
  readonly errors: Counter;
}

function storeInstruments(
  meter: Meter,
  names: { duration: string; errors: string },
): StoreInstruments {
  return {
    duration: meter.createHistogram(names.duration, {
      description: 'Duration of store operations that reached the store.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
    }),
    errors: meter.createCounter(names.errors, {
      description:
        'Store operations that got no answer: failed, timed out, or skipped while degraded.',
      unit: '{operation}',
    }),
  };
}

/** The store instruments of one policy. */
export class StoreTelemetry {
  private readonly lazy: LazyInstruments<StoreInstruments>;
  private readonly statusEvent: string;
  private readonly base: Attributes;

  /**
   * @param telemetry The package's telemetry scope (`getTelemetry(...)`).
   * @param pattern The pattern, e.g. `'rate-limit'`.
   * @param policy The policy's name.
   * @param store The store kind.
   * @param extra Attributes the pattern adds to every record.
   */
  constructor(
    private readonly telemetry: Telemetry,
    pattern: string,
    policy: string,
    store: string,
    extra: Attributes = {},
  ) {
    const names = storeMetricNames(pattern);
    this.lazy = telemetry.instruments((meter) => storeInstruments(meter, names));
    this.statusEvent = names.statusEvent;
    this.base = { [ATTR_POLICY_NAME]: policy, [ATTR_STORE]: store, ...extra };
  }

  /**
   * Whether an SDK records: when not, callers skip reading the clock for durations. Notices an
   * SDK registered after the policy was built (see `LazyInstruments`).
   */
  get recording(): boolean {
    return this.lazy.recording;
  }

  /** Builds the attribute sets of one operation, once. */
  attributesOf(operation: string): OperationAttributes {
    const of = (outcome: StoreOutcome): Attributes => ({
      ...this.base,
      [ATTR_STORE_OPERATION]: operation,
      [ATTR_STORE_OUTCOME]: outcome,
    });
    return { ok: of('ok'), error: of('error'), timeout: of('timeout'), degraded: of('degraded') };
  }

  /**
   * Records an operation that reached the store and ended as `attributes` say. Callers ask
   * {@link recording} first, to skip reading the clock.
   */
  reached(seconds: number, attributes: Attributes): void {
    this.lazy.instruments.duration.record(seconds, attributes);
  }

  /** Counts an operation that got no answer from the store (never missed: see `instruments`). */
  unanswered(attributes: Attributes): void {
    this.lazy.instruments.errors.add(1, attributes);
  }

  /** Adds the status event to the active span. */
  statusChanged(change: StoreStatusChange): void {
    this.telemetry.addSpanEvent(this.statusEvent, {
      ...this.base,
      [ATTR_STORE_STATUS]: change.status,
    });
  }
}
