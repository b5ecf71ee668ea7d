/**
 * Metric, attribute and event names of the rate limiter, and the instruments of one limiter.
 * Attribute values are bounded (never the user's key), and every attribute set is built once, at
 * construction, so recording allocates nothing.
 *
 * Store telemetry (durations, errors, status events) is core's, reported by the limiter's
 * `StoreCalls` under the names below, with the attributes every pattern uses.
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
} from '@opentelemetry/api';
import type { CompiledLimit } from './algorithms/limit.js';
import type { DecisionSource } from './decision.js';
import { RATE_LIMIT_PACKAGE } from './version.js';

/** The pattern, as core's store layer names it in metrics and status events. */
export const PATTERN = 'rate-limit';

const STORE_NAMES = storeMetricNames(PATTERN);

/** Counter (`{decision}`): decisions taken, by `decision` and `source`. */
export const METRIC_DECISIONS = 'breakwater.rate_limit.decisions';
/**
 * Histogram (`s`, bucket advice `WAIT_BUCKETS_SECONDS`): how long `acquire()` waited, by
 * `outcome`.
 */
export const METRIC_WAIT_DURATION = 'breakwater.rate_limit.wait.duration';
/**
 * Histogram (s), core's: store operations that reached the store, by `breakwater.store.operation`
 * (`consume`, `peek`, `refund`, `reset`, `probe`) and `breakwater.store.outcome`.
 */
export const METRIC_STORE_DURATION = STORE_NAMES.duration;
/**
 * Counter (`{operation}`), core's: store operations that got no answer (failed, timed out, or not attempted while
 * the store is degraded), by `breakwater.store.operation` and `breakwater.store.outcome`.
 */
export const METRIC_STORE_ERRORS = STORE_NAMES.errors;

/**
 * Gauge (`{cost}`): the limit in force per interval, one series per limit (`limit_index`). A
 * `perReplica` limit reports `perReplica × N` as the fleet's size N changes.
 */
export const METRIC_LIMIT = 'breakwater.rate_limit.limit';
/**
 * Gauge (`{replica}`): the live replicas of the limiter as its replica registry last counted them
 * (this one included). Only reported by limiters that count their fleet.
 */
export const METRIC_REPLICAS = 'breakwater.rate_limit.replicas';

/** Attribute: `allowed` | `denied`. */
export const ATTR_DECISION = 'breakwater.rate_limit.decision';
/** Attribute: `store` | `local-cache` | `reservation` | `degraded`. */
export const ATTR_SOURCE = 'breakwater.rate_limit.source';
/** Attribute: `acquired` | `rejected` | `aborted`. */
export const ATTR_OUTCOME = 'breakwater.rate_limit.outcome';
/** Attribute of {@link METRIC_LIMIT}: the limit's position in `limits`, from 0. */
export const ATTR_LIMIT_INDEX = 'breakwater.rate_limit.limit_index';

/** Span event: a call was denied. */
export const EVENT_DENIED = 'breakwater.rate_limit.denied';
/** Span event, core's: the store became `degraded` or `healthy` (`breakwater.store.status`). */
export const EVENT_STORE_STATUS = STORE_NAMES.statusEvent;

/** How `acquire()` ended. */
export type WaitOutcome = 'acquired' | 'rejected' | 'aborted';

const SOURCES: readonly DecisionSource[] = [
  'store',
  'local-cache',
  'reservation',
  'degraded',
  'limit-source',
];
const OUTCOMES: readonly WaitOutcome[] = ['acquired', 'rejected', 'aborted'];

/** The instruments of one limiter, as made from one meter. */
interface LimiterMeters {
  readonly decisions: Counter;
  readonly waits: Histogram;
  readonly limit: ObservableGauge;
  readonly replicas: ObservableGauge;
}

/** What the gauges of a limiter read at each collection. */
export interface LimiterGaugeReaders {
  /** The limits in force now. */
  readonly limits: () => readonly CompiledLimit[];
  /** The fleet's size, or `undefined` for a limiter that does not count its fleet. */
  readonly replicas: () => number | undefined;
}

function limiterMeters(
  meter: Meter,
  observeLimit: ObservableCallback,
  observeReplicas: ObservableCallback,
): LimiterMeters {
  const limit = meter.createObservableGauge(METRIC_LIMIT, {
    description: 'The rate limit in force per interval, per limit of the limiter.',
    unit: '{cost}',
  });
  limit.addCallback(observeLimit);
  const replicas = meter.createObservableGauge(METRIC_REPLICAS, {
    description: "The limiter's live replicas, as its replica registry last counted them.",
    unit: '{replica}',
  });
  replicas.addCallback(observeReplicas);
  return {
    limit,
    replicas,
    decisions: meter.createCounter(METRIC_DECISIONS, {
      description: 'Rate-limit decisions, by decision and by the path that took them.',
      unit: '{decision}',
    }),
    waits: meter.createHistogram(METRIC_WAIT_DURATION, {
      description: 'Time acquire() waited for a permit.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...WAIT_BUCKETS_SECONDS] },
    }),
  };
}

/**
 * The instruments and pre-built attribute sets of one limiter. The instruments report once an
 * SDK is registered, even one registered after the limiter was built (core's `LazyInstruments`).
 */
export class LimiterTelemetry {
  /** The package's meter and tracer, shared with the limiter's store calls. */
  readonly telemetry: Telemetry;
  private readonly lazy: LazyInstruments<LimiterMeters>;
  private readonly allowedAttributes = {} as Record<DecisionSource, Attributes>;
  private readonly deniedAttributes = {} as Record<DecisionSource, Attributes>;
  private readonly outcomeAttributes = new Map<WaitOutcome, Attributes>();
  /** Attributes every record carries: the policy name and the store kind. */
  readonly base: Attributes;

  constructor(policyName: string, store: string, readers: LimiterGaugeReaders) {
    this.telemetry = getTelemetry(RATE_LIMIT_PACKAGE);
    const base: Attributes = { [ATTR_POLICY_NAME]: policyName, [ATTR_STORE]: store };
    this.base = base;
    const limitAttributes: Attributes[] = [];
    const observeLimit: ObservableCallback = (result) => {
      const limits = readers.limits();
      for (let i = 0; i < limits.length; i++) {
        limitAttributes[i] ??= { ...base, [ATTR_LIMIT_INDEX]: i };
        result.observe(limits[i]!.limit, limitAttributes[i]);
      }
    };
    const observeReplicas: ObservableCallback = (result) => {
      const count = readers.replicas();
      if (count !== undefined) result.observe(count, base);
    };
    this.lazy = this.telemetry.instruments(
      (meter) => limiterMeters(meter, observeLimit, observeReplicas),
      (meters) => {
        meters.limit.removeCallback(observeLimit);
        meters.replicas.removeCallback(observeReplicas);
      },
    );
    for (const source of SOURCES) {
      this.allowedAttributes[source] = {
        ...this.base,
        [ATTR_DECISION]: 'allowed',
        [ATTR_SOURCE]: source,
      };
      this.deniedAttributes[source] = {
        ...this.base,
        [ATTR_DECISION]: 'denied',
        [ATTR_SOURCE]: source,
      };
    }
    for (const outcome of OUTCOMES)
      this.outcomeAttributes.set(outcome, { ...this.base, [ATTR_OUTCOME]: outcome });
  }

  /** Counts one decision, and adds a span event when it is a denial. */
  decision(allowed: boolean, source: DecisionSource): void {
    const attributes = allowed ? this.allowedAttributes[source] : this.deniedAttributes[source];
    this.lazy.sampled.decisions.add(1, attributes);
    if (!allowed) this.telemetry.addSpanEvent(EVENT_DENIED, attributes);
  }

  /** Records how long an `acquire()` waited. */
  wait(seconds: number, outcome: WaitOutcome): void {
    this.lazy.instruments.waits.record(seconds, this.outcomeAttributes.get(outcome));
  }

  /** Stops observing the gauges (the limiter is closed). */
  dispose(): void {
    this.lazy.dispose();
  }
}
