/**
 * Metric, attribute and event names of the bulkhead, and the instruments one bulkhead records to.
 * Instruments are created once per bulkhead (and once more when an SDK registers after it was
 * built); attribute objects once per class and reason, so the hot path allocates nothing for
 * telemetry.
 *
 * Permit store operations are reported by core's store call path (`StoreCalls`), with the names
 * every pattern shares; their names are re-exported here for convenience.
 */

import {
  ATTR_POLICY_NAME,
  ATTR_STORE,
  getTelemetry,
  type LazyInstruments,
  storeMetricNames,
  type Telemetry,
  WAIT_BUCKETS_SECONDS,
} from '@breakwater/core';
import type {
  Attributes,
  Counter,
  Histogram,
  Meter,
  ObservableCallback,
  ObservableGauge,
  UpDownCounter,
} from '@opentelemetry/api';
import type { BulkheadRejectionReason } from './errors.js';
import { BULKHEAD_PACKAGE } from './version.js';

/** Up-down counter (`{call}`): calls running `fn` now. Attributes: policy name, store, class. */
export const METRIC_ACTIVE = 'breakwater.bulkhead.active';
/** Up-down counter (`{call}`): calls waiting for a slot (locally or for a fleet permit). */
export const METRIC_QUEUED = 'breakwater.bulkhead.queued';
/** Counter (`{call}`): calls the bulkhead refused. Attributes add `breakwater.bulkhead.reason`. */
export const METRIC_REJECTED = 'breakwater.bulkhead.rejected';
/**
 * Histogram (`s`, bucket advice `WAIT_BUCKETS_SECONDS`): how long admitted calls waited for their
 * slot (0 for immediate admission).
 */
export const METRIC_WAIT_DURATION = 'breakwater.bulkhead.wait.duration';
/** Gauge (`{call}`): the current limit (the adaptive limit's value, or the fixed `maxConcurrent`). */
export const METRIC_LIMIT = 'breakwater.bulkhead.limit';
const STORE_NAMES = storeMetricNames('bulkhead');
/**
 * Histogram (s), reported by core: permit store operations that reached the store. Attributes add
 * `breakwater.store.operation` (`acquire`, `renew`, `resize`, `release`, `probe`) and
 * `breakwater.store.outcome` (`ok`, `error`, `timeout`).
 */
export const METRIC_STORE_DURATION = STORE_NAMES.duration;
/**
 * Counter (`{operation}`), reported by core: permit store operations that got no answer, by operation and outcome
 * (`error`, `timeout`, or `degraded`: answered without calling the degraded store).
 */
export const METRIC_STORE_ERRORS = STORE_NAMES.errors;
/** Counter (`{permit}`): fleet permits lost while their call ran (renewal failed past the lease's end). */
export const METRIC_LEASES_LOST = 'breakwater.bulkhead.leases.lost';
/**
 * Counter (`{call}`): calls started without a fleet permit because the permit store failed, missed
 * its deadline or was degraded (`onStoreError: 'local'` or `'fail-open'`). Attributes: policy
 * name, store, class.
 */
export const METRIC_DEGRADED = 'breakwater.bulkhead.degraded';

/** Attribute: the priority class of the call. */
export const ATTR_CLASS = 'breakwater.bulkhead.class';
/** Attribute: why a call was refused (`queue-full`, `queue-timeout`, `store-unavailable`). */
export const ATTR_REASON = 'breakwater.bulkhead.reason';

/** Span event added to the caller's active span when a call is refused. */
export const EVENT_REJECTED = 'breakwater.bulkhead.rejected';
/** Span event added when a call starts without a fleet permit (see {@link METRIC_DEGRADED}). */
export const EVENT_DEGRADED = 'breakwater.bulkhead.degraded';
/** Span event added when a running call's fleet permit is lost. */
export const EVENT_LEASE_LOST = 'breakwater.bulkhead.lease_lost';
/**
 * Span event, added by core when the permit store becomes `degraded` (the `onStoreError` answer
 * applies) or `healthy` again; attribute `breakwater.store.status`.
 */
export const EVENT_STORE_STATUS = STORE_NAMES.statusEvent;

/** The instruments of one bulkhead, as made from one meter. */
interface BulkheadMeters {
  readonly active: UpDownCounter;
  readonly queued: UpDownCounter;
  readonly rejected: Counter;
  readonly waitDuration: Histogram;
  readonly leasesLost: Counter;
  readonly degraded: Counter;
  readonly limit: ObservableGauge;
}

function bulkheadMeters(meter: Meter, observeLimit: ObservableCallback): BulkheadMeters {
  const limit = meter.createObservableGauge(METRIC_LIMIT, {
    description: 'Current concurrency limit of the bulkhead.',
    unit: '{call}',
  });
  limit.addCallback(observeLimit);
  return {
    active: meter.createUpDownCounter(METRIC_ACTIVE, {
      description: 'Calls running inside the bulkhead.',
      unit: '{call}',
    }),
    queued: meter.createUpDownCounter(METRIC_QUEUED, {
      description: 'Calls waiting for a bulkhead slot.',
      unit: '{call}',
    }),
    rejected: meter.createCounter(METRIC_REJECTED, {
      description: 'Calls the bulkhead refused.',
      unit: '{call}',
    }),
    waitDuration: meter.createHistogram(METRIC_WAIT_DURATION, {
      description: 'Time calls waited for a bulkhead slot.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...WAIT_BUCKETS_SECONDS] },
    }),
    leasesLost: meter.createCounter(METRIC_LEASES_LOST, {
      description: 'Fleet permits lost while their call ran.',
      unit: '{permit}',
    }),
    degraded: meter.createCounter(METRIC_DEGRADED, {
      description: 'Calls started without a fleet permit because the permit store failed.',
      unit: '{call}',
    }),
    limit,
  };
}

/**
 * The instruments of one bulkhead. They report once an OpenTelemetry SDK is registered, even one
 * registered after the bulkhead was built (core's `LazyInstruments`).
 */
export class BulkheadInstruments {
  readonly telemetry: Telemetry;
  /** Attributes of the bulkhead itself (policy name, store). */
  readonly base: Attributes;
  /** Attributes of one class, by class index. */
  readonly classAttributes: readonly Attributes[];
  private readonly lazy: LazyInstruments<BulkheadMeters>;
  private readonly rejectionCache = new Map<string, Attributes>();

  /**
   * @param readLimit read by the `limit` gauge at each collection.
   */
  constructor(name: string, store: string, classNames: readonly string[], readLimit: () => number) {
    this.telemetry = getTelemetry(BULKHEAD_PACKAGE);
    const base: Attributes = { [ATTR_POLICY_NAME]: name, [ATTR_STORE]: store };
    this.base = base;
    this.classAttributes = classNames.map((className) => ({ ...base, [ATTR_CLASS]: className }));
    const observeLimit: ObservableCallback = (result) => result.observe(readLimit(), base);
    this.lazy = this.telemetry.instruments(
      (meter) => bulkheadMeters(meter, observeLimit),
      (meters) => meters.limit.removeCallback(observeLimit),
    );
  }

  /**
   * Whether an SDK records: when not, the hot path skips even the empty calls, which cost a
   * measurable share of an uncontended `execute`. Read once per call (it notices an SDK
   * registered after the bulkhead was built); a call that added to an up-down counter while
   * recording takes back from it, and one that did not, does not.
   */
  get recording(): boolean {
    return this.lazy.recording;
  }

  /** Whether an SDK recorded when last looked, without looking (for construction-time choices). */
  get sdkSeen(): boolean {
    return this.lazy.sdkSeen;
  }

  /** Up-down counter of running calls (the SDK's once one is registered). */
  get active(): UpDownCounter {
    return this.lazy.instruments.active;
  }

  /** Up-down counter of waiting calls. */
  get queued(): UpDownCounter {
    return this.lazy.instruments.queued;
  }

  /** Counter of refused calls. */
  get rejected(): Counter {
    return this.lazy.instruments.rejected;
  }

  /** Histogram of waits for a slot, in seconds. */
  get waitDuration(): Histogram {
    return this.lazy.instruments.waitDuration;
  }

  /** Counter of fleet permits lost while their call ran. */
  get leasesLost(): Counter {
    return this.lazy.instruments.leasesLost;
  }

  /** Counter of calls started without a fleet permit. */
  get degraded(): Counter {
    return this.lazy.instruments.degraded;
  }

  /** Attributes of one class and rejection reason. */
  rejectionAttributes(classIndex: number, reason: BulkheadRejectionReason): Attributes {
    const cacheKey = `${classIndex}:${reason}`;
    let attributes = this.rejectionCache.get(cacheKey);
    if (!attributes) {
      attributes = { ...this.classAttributes[classIndex], [ATTR_REASON]: reason };
      this.rejectionCache.set(cacheKey, attributes);
    }
    return attributes;
  }

  /** Stops observing the limit gauge. */
  dispose(): void {
    this.lazy.dispose();
  }
}

/**
 * Creates the instruments of one bulkhead.
 * @param readLimit read by the `limit` gauge at each collection.
 */
export function createInstruments(
  name: string,
  store: string,
  classNames: readonly string[],
  readLimit: () => number,
): BulkheadInstruments {
  return new BulkheadInstruments(name, store, classNames, readLimit);
}
