/**
 * Metric, attribute and event names of the rate limiter, and the instruments of one limiter.
 * Attribute values are bounded (never the user's key), and every attribute set is built once, at
 * construction, so recording allocates nothing.
 */

import { ATTR_POLICY_NAME, ATTR_STORE, getTelemetry, type Telemetry } from '@breakwater/core';
import { type Attributes, type Counter, createNoopMeter, type Histogram } from '@opentelemetry/api';
import type { DecisionSource } from './decision.js';
import { RATE_LIMIT_PACKAGE } from './version.js';

/** Counter: decisions taken, by `decision` and `source`. */
export const METRIC_DECISIONS = 'breakwater.rate_limit.decisions';
/** Histogram (s): how long `acquire()` waited, by `outcome`. */
export const METRIC_WAIT_DURATION = 'breakwater.rate_limit.wait.duration';
/** Histogram (s): duration of store operations, by `operation`. */
export const METRIC_STORE_DURATION = 'breakwater.rate_limit.store.duration';
/** Counter: failed store operations (errors and missed deadlines), by `operation`. */
export const METRIC_STORE_ERRORS = 'breakwater.rate_limit.store.errors';

/** Attribute: `allowed` | `denied`. */
export const ATTR_DECISION = 'breakwater.rate_limit.decision';
/** Attribute: `store` | `local-cache` | `reservation` | `degraded`. */
export const ATTR_SOURCE = 'breakwater.rate_limit.source';
/** Attribute: `acquired` | `rejected` | `aborted`. */
export const ATTR_OUTCOME = 'breakwater.rate_limit.outcome';
/** Attribute: `consume` | `peek` | `refund` | `reset`. */
export const ATTR_OPERATION = 'breakwater.rate_limit.operation';

/** Span event: a call was denied. */
export const EVENT_DENIED = 'breakwater.rate_limit.denied';
/** Span event: the store failed and the `onStoreError` choice answered. */
export const EVENT_DEGRADED = 'breakwater.rate_limit.degraded';

/** How `acquire()` ended. */
export type WaitOutcome = 'acquired' | 'rejected' | 'aborted';
/** A store operation. */
export type StoreOperationName = 'consume' | 'peek' | 'refund' | 'reset';

const SOURCES: readonly DecisionSource[] = ['store', 'local-cache', 'reservation', 'degraded'];
const OUTCOMES: readonly WaitOutcome[] = ['acquired', 'rejected', 'aborted'];
const OPERATIONS: readonly StoreOperationName[] = ['consume', 'peek', 'refund', 'reset'];

/** The instruments and pre-built attribute sets of one limiter. */
export class LimiterTelemetry {
  private readonly telemetry: Telemetry;
  private readonly decisions: Counter;
  private readonly waits: Histogram;
  private readonly storeDuration: Histogram;
  private readonly storeErrors: Counter;
  private readonly allowedAttributes = {} as Record<DecisionSource, Attributes>;
  private readonly deniedAttributes = {} as Record<DecisionSource, Attributes>;
  private readonly outcomeAttributes = new Map<WaitOutcome, Attributes>();
  private readonly operationAttributes = new Map<StoreOperationName, Attributes>();
  /** Attributes every record carries: the policy name and the store kind. */
  readonly base: Attributes;
  /**
   * Whether an SDK records what this limiter reports. A meter handed out before an SDK registered
   * stays a no-op, so when it is one, store calls skip timing themselves for it.
   */
  readonly recording: boolean;

  constructor(policyName: string, store: string) {
    this.telemetry = getTelemetry(RATE_LIMIT_PACKAGE);
    const meter = this.telemetry.meter;
    this.recording = meter !== createNoopMeter();
    this.decisions = meter.createCounter(METRIC_DECISIONS, {
      description: 'Rate-limit decisions, by decision and by the path that took them.',
    });
    this.waits = meter.createHistogram(METRIC_WAIT_DURATION, {
      description: 'Time acquire() waited for a permit.',
      unit: 's',
    });
    this.storeDuration = meter.createHistogram(METRIC_STORE_DURATION, {
      description: 'Duration of rate-limit store operations.',
      unit: 's',
    });
    this.storeErrors = meter.createCounter(METRIC_STORE_ERRORS, {
      description: 'Rate-limit store operations that failed or missed their deadline.',
    });
    this.base = { [ATTR_POLICY_NAME]: policyName, [ATTR_STORE]: store };
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
    for (const operation of OPERATIONS) {
      this.operationAttributes.set(operation, { ...this.base, [ATTR_OPERATION]: operation });
    }
  }

  /** Counts one decision, and adds a span event when it is a denial. */
  decision(allowed: boolean, source: DecisionSource): void {
    const attributes = allowed ? this.allowedAttributes[source] : this.deniedAttributes[source];
    this.decisions.add(1, attributes);
    if (!allowed) this.telemetry.addSpanEvent(EVENT_DENIED, attributes);
  }

  /** Records how long an `acquire()` waited. */
  wait(seconds: number, outcome: WaitOutcome): void {
    this.waits.record(seconds, this.outcomeAttributes.get(outcome));
  }

  /** Records the duration of a store operation. */
  storeCall(operation: StoreOperationName, seconds: number): void {
    this.storeDuration.record(seconds, this.operationAttributes.get(operation));
  }

  /** Counts a failed store operation and adds a span event. */
  storeError(operation: StoreOperationName): void {
    const attributes = this.operationAttributes.get(operation)!;
    this.storeErrors.add(1, attributes);
    this.telemetry.addSpanEvent(EVENT_DEGRADED, attributes);
  }
}
