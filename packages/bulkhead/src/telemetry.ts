/**
 * Metric, attribute and event names of the bulkhead, and the instruments one bulkhead records to.
 * Instruments are created once per bulkhead; attribute objects once per class and reason, so the
 * hot path allocates nothing for telemetry.
 *
 * Permit store operations are reported by core's store call path (`StoreCalls`), with the names
 * every pattern shares; their names are re-exported here for convenience.
 */

import {
  ATTR_POLICY_NAME,
  ATTR_STORE,
  getTelemetry,
  storeMetricNames,
  type Telemetry,
} from '@breakwater/core';
import {
  type Attributes,
  type Counter,
  createNoopMeter,
  type Histogram,
  type UpDownCounter,
} from '@opentelemetry/api';
import type { BulkheadRejectionReason } from './errors.js';
import { BULKHEAD_PACKAGE } from './version.js';

/** The class of the API's no-op meter, to recognise it. */
const NoopMeter = createNoopMeter().constructor;

/** Up-down counter: calls running `fn` now. Attributes: policy name, store, class. */
export const METRIC_ACTIVE = 'breakwater.bulkhead.active';
/** Up-down counter: calls waiting for a slot (locally or for a fleet permit). */
export const METRIC_QUEUED = 'breakwater.bulkhead.queued';
/** Counter: calls the bulkhead refused. Attributes add `breakwater.bulkhead.reason`. */
export const METRIC_REJECTED = 'breakwater.bulkhead.rejected';
/** Histogram (s): how long admitted calls waited for their slot (0 for immediate admission). */
export const METRIC_WAIT_DURATION = 'breakwater.bulkhead.wait.duration';
/** Gauge: the current limit (the adaptive limit's value, or the fixed `maxConcurrent`). */
export const METRIC_LIMIT = 'breakwater.bulkhead.limit';
const STORE_NAMES = storeMetricNames('bulkhead');
/**
 * Histogram (s), reported by core: permit store operations that reached the store. Attributes add
 * `breakwater.store.operation` (`acquire`, `renew`, `release`, `probe`) and
 * `breakwater.store.outcome` (`ok`, `error`, `timeout`).
 */
export const METRIC_STORE_DURATION = STORE_NAMES.duration;
/**
 * Counter, reported by core: permit store operations that got no answer, by operation and outcome
 * (`error`, `timeout`, or `degraded`: answered without calling the degraded store).
 */
export const METRIC_STORE_ERRORS = STORE_NAMES.errors;
/** Counter: fleet permits lost while their call ran (renewal failed past the lease's end). */
export const METRIC_LEASES_LOST = 'breakwater.bulkhead.leases.lost';

/** Attribute: the priority class of the call. */
export const ATTR_CLASS = 'breakwater.bulkhead.class';
/** Attribute: why a call was refused (`queue-full`, `queue-timeout`, `store-unavailable`). */
export const ATTR_REASON = 'breakwater.bulkhead.reason';

/** Span event added to the caller's active span when a call is refused. */
export const EVENT_REJECTED = 'breakwater.bulkhead.rejected';
/** Span event added when a running call's fleet permit is lost. */
export const EVENT_LEASE_LOST = 'breakwater.bulkhead.lease_lost';
/**
 * Span event, added by core when the permit store becomes `degraded` (the `onStoreError` answer
 * applies) or `healthy` again; attribute `breakwater.store.status`.
 */
export const EVENT_STORE_STATUS = STORE_NAMES.statusEvent;

/** The instruments of one bulkhead. */
export interface BulkheadInstruments {
  readonly telemetry: Telemetry;
  /**
   * `false` when the meter is the OpenTelemetry API's no-op meter (no SDK was registered before
   * the bulkhead was built, and the API never upgrades a no-op meter): the hot path then skips
   * even the empty calls, which cost a measurable share of an uncontended `execute`.
   */
  readonly recording: boolean;
  readonly active: UpDownCounter;
  readonly queued: UpDownCounter;
  readonly rejected: Counter;
  readonly waitDuration: Histogram;
  readonly leasesLost: Counter;
  /** Attributes of the bulkhead itself (policy name, store). */
  readonly base: Attributes;
  /** Attributes of one class, by class index. */
  readonly classAttributes: readonly Attributes[];
  /** Attributes of one class and rejection reason. */
  rejectionAttributes(classIndex: number, reason: BulkheadRejectionReason): Attributes;
}

/**
 * Creates the instruments of one bulkhead. Call at construction, after the OTel SDK registered.
 * @param readLimit read by the `limit` gauge at each collection.
 */
export function createInstruments(
  name: string,
  store: string,
  classNames: readonly string[],
  readLimit: () => number,
): BulkheadInstruments {
  const telemetry = getTelemetry(BULKHEAD_PACKAGE);
  const meter = telemetry.meter;
  const base: Attributes = { [ATTR_POLICY_NAME]: name, [ATTR_STORE]: store };
  const classAttributes = classNames.map((className) => ({ ...base, [ATTR_CLASS]: className }));
  const rejectionCache = new Map<string, Attributes>();
  meter
    .createObservableGauge(METRIC_LIMIT, {
      description: 'Current concurrency limit of the bulkhead.',
    })
    .addCallback((result) => result.observe(readLimit(), base));
  return {
    telemetry,
    recording: !(meter instanceof NoopMeter),
    active: meter.createUpDownCounter(METRIC_ACTIVE, {
      description: 'Calls running inside the bulkhead.',
    }),
    queued: meter.createUpDownCounter(METRIC_QUEUED, {
      description: 'Calls waiting for a bulkhead slot.',
    }),
    rejected: meter.createCounter(METRIC_REJECTED, { description: 'Calls the bulkhead refused.' }),
    waitDuration: meter.createHistogram(METRIC_WAIT_DURATION, {
      description: 'Time calls waited for a bulkhead slot.',
      unit: 's',
    }),
    leasesLost: meter.createCounter(METRIC_LEASES_LOST, {
      description: 'Fleet permits lost while their call ran.',
    }),
    base,
    classAttributes,
    rejectionAttributes(classIndex, reason) {
      const cacheKey = `${classIndex}:${reason}`;
      let attributes = rejectionCache.get(cacheKey);
      if (!attributes) {
        attributes = { ...classAttributes[classIndex], [ATTR_REASON]: reason };
        rejectionCache.set(cacheKey, attributes);
      }
      return attributes;
    },
  };
}
