/**
 * Metric, attribute and event names of the circuit breaker, and the instruments one breaker
 * records its calls and states with. Attribute objects are built once per breaker, so recording
 * allocates nothing. Store telemetry (`store.duration`, `store.errors`, the store status event) is
 * core's, recorded by the store call path (`StoreCalls`) with the same names in every pattern; the
 * names are re-exported here for dashboards and tests.
 */

import {
  ATTR_POLICY_NAME,
  ATTR_STORE,
  ATTR_STORE_OPERATION,
  ATTR_STORE_OUTCOME,
  DURATION_BUCKETS_SECONDS,
  getTelemetry,
  storeMetricNames,
  type Telemetry,
} from '@breakwater/core';
import {
  type Attributes,
  type Counter,
  createNoopMeter,
  type Histogram,
  type ObservableGauge,
  type ObservableResult,
} from '@opentelemetry/api';
import { BREAKER_STATES, type BreakerState } from './store.js';
import { CIRCUIT_BREAKER_PACKAGE } from './version.js';

/** Calls by outcome (counter). */
export const METRIC_CALLS = 'breakwater.circuit_breaker.calls';
/** Duration of calls that ran (histogram, seconds). */
export const METRIC_CALL_DURATION = 'breakwater.circuit_breaker.call.duration';
/** 1 for the current state, 0 for the others (observable gauge, one series per state). */
export const METRIC_STATE = 'breakwater.circuit_breaker.state';
/** State changes seen by this replica (counter). */
export const METRIC_TRANSITIONS = 'breakwater.circuit_breaker.transitions';
/** The pattern, as core's store telemetry and status events name it. */
export const PATTERN = 'circuit-breaker';
const STORE_NAMES = storeMetricNames(PATTERN);
/**
 * Duration of store operations that reached the store (histogram, seconds), by
 * `breakwater.store.operation` and `breakwater.store.outcome`: core's store telemetry.
 */
export const METRIC_STORE_DURATION: string = STORE_NAMES.duration;
/**
 * Store operations that got no answer (counter): failed, timed out, or not attempted while the
 * store is degraded (`breakwater.store.outcome` `error`, `timeout`, `degraded`): core's.
 */
export const METRIC_STORE_ERRORS: string = STORE_NAMES.errors;

/** `success` | `failure` | `ignored` | `rejected` | `timeout`. */
export const ATTR_OUTCOME = 'breakwater.outcome';
/** A breaker state (state gauge). */
export const ATTR_STATE = 'breakwater.circuit_breaker.state';
/** The state a transition left. */
export const ATTR_FROM = 'breakwater.circuit_breaker.from';
/** The state a transition entered. */
export const ATTR_TO = 'breakwater.circuit_breaker.to';
/**
 * The store operation of a store metric (`read`, `record`, `acquire_probe`, `release_probe`,
 * `command`, `seed`, `probe`): core's `ATTR_STORE_OPERATION`.
 */
export const ATTR_OPERATION: string = ATTR_STORE_OPERATION;
/** How a store operation ended (`ok`, `error`, `timeout`, `degraded`): core's `ATTR_STORE_OUTCOME`. */
export { ATTR_STORE_OUTCOME };

/** Span event added when this replica sees a transition. */
export const EVENT_TRANSITION = 'breakwater.circuit_breaker.transition';
/** Span event added when a call is rejected. */
export const EVENT_REJECTED = 'breakwater.circuit_breaker.rejected';
/**
 * Span event added when the store degrades or recovers (attribute `breakwater.store.status`):
 * core's store status event.
 */
export const EVENT_STORE_STATUS: string = STORE_NAMES.statusEvent;

/** How a call ended, as the `calls` metric counts it. */
export type CallOutcomeLabel = 'success' | 'failure' | 'ignored' | 'rejected' | 'timeout';

const OUTCOMES: readonly CallOutcomeLabel[] = [
  'success',
  'failure',
  'ignored',
  'rejected',
  'timeout',
];

/** The instruments of one breaker. */
export class BreakerTelemetry {
  readonly telemetry: Telemetry;
  readonly base: Attributes;
  /**
   * Whether an SDK records what this breaker reports. A meter handed out before an SDK registered
   * stays a no-op, so when it is one, calls skip recording (and reading the clock for it).
   */
  readonly recording: boolean;
  private readonly calls: Counter;
  private readonly duration: Histogram;
  private readonly transitions: Counter;
  private readonly stateGauge: ObservableGauge;
  private readonly outcomeAttributes: Record<CallOutcomeLabel, Attributes>;
  private readonly stateAttributes: Attributes[];
  private readonly observeState: (result: ObservableResult) => void;

  constructor(name: string, store: string, currentState: () => BreakerState) {
    this.telemetry = getTelemetry(CIRCUIT_BREAKER_PACKAGE);
    const meter = this.telemetry.meter;
    this.recording = meter !== createNoopMeter();
    this.base = { [ATTR_POLICY_NAME]: name, [ATTR_STORE]: store };
    this.calls = meter.createCounter(METRIC_CALLS, {
      description: 'Calls through the circuit breaker, by outcome.',
      unit: '{call}',
    });
    this.duration = meter.createHistogram(METRIC_CALL_DURATION, {
      description: 'Duration of calls the circuit breaker let through.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
    });
    this.transitions = meter.createCounter(METRIC_TRANSITIONS, {
      description: 'State changes of the circuit breaker, as seen by this replica.',
      unit: '{transition}',
    });
    this.stateGauge = meter.createObservableGauge(METRIC_STATE, {
      description:
        'Current state of the circuit breaker: 1 for the current state, 0 for the others.',
    });
    this.outcomeAttributes = Object.fromEntries(
      OUTCOMES.map((outcome) => [outcome, { ...this.base, [ATTR_OUTCOME]: outcome }]),
    ) as unknown as Record<CallOutcomeLabel, Attributes>;
    this.stateAttributes = BREAKER_STATES.map((state) => ({ ...this.base, [ATTR_STATE]: state }));
    this.observeState = (result) => {
      const current = currentState();
      for (let i = 0; i < BREAKER_STATES.length; i++) {
        result.observe(BREAKER_STATES[i] === current ? 1 : 0, this.stateAttributes[i]);
      }
    };
    this.stateGauge.addCallback(this.observeState);
  }

  /** Counts a call and, when it ran, its duration. */
  call(outcome: CallOutcomeLabel, durationMs: number | undefined): void {
    const attributes = this.outcomeAttributes[outcome];
    this.calls.add(1, attributes);
    if (durationMs !== undefined) this.duration.record(durationMs / 1000, attributes);
  }

  /** Counts a transition and adds it to the active span. */
  transition(from: BreakerState, to: BreakerState): void {
    const attributes = { ...this.base, [ATTR_FROM]: from, [ATTR_TO]: to };
    this.transitions.add(1, attributes);
    this.telemetry.addSpanEvent(EVENT_TRANSITION, attributes);
  }

  /** Adds a rejection to the active span. */
  rejected(state: BreakerState): void {
    this.telemetry.addSpanEvent(
      EVENT_REJECTED,
      this.stateAttributes[BREAKER_STATES.indexOf(state)],
    );
  }

  /** Stops observing the state gauge. */
  dispose(): void {
    this.stateGauge.removeCallback(this.observeState);
  }
}
