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
  type LazyInstruments,
  storeMetricNames,
  type Telemetry,
} from '@breakwater/core';
import type {
  Attributes,
  Counter,
  Histogram,
  Meter,
  ObservableCounter,
  ObservableGauge,
  ObservableResult,
} from '@opentelemetry/api';
import { BREAKER_STATES, type BreakerState } from './store.js';
import { CIRCUIT_BREAKER_PACKAGE } from './version.js';

/** Calls by outcome (observable counter, `{call}`). */
export const METRIC_CALLS = 'breakwater.circuit_breaker.calls';
/** Duration of calls that ran (histogram, `s`, bucket advice `DURATION_BUCKETS_SECONDS`). */
export const METRIC_CALL_DURATION = 'breakwater.circuit_breaker.call.duration';
/** 1 for the current state, 0 for the others (observable gauge, `1`, one series per state). */
export const METRIC_STATE = 'breakwater.circuit_breaker.state';
/** State changes seen by this replica (counter, `{transition}`). */
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
 * Store operations that got no answer (counter, `{operation}`): failed, timed out, or not attempted while the
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

/** The instruments of one breaker, as made from one meter. */
interface BreakerInstruments {
  readonly calls: ObservableCounter;
  readonly duration: Histogram;
  readonly transitions: Counter;
  readonly state: ObservableGauge;
}

function breakerInstruments(meter: Meter): BreakerInstruments {
  return {
    calls: meter.createObservableCounter(METRIC_CALLS, {
      description: 'Calls through the circuit breaker, by outcome.',
      unit: '{call}',
    }),
    duration: meter.createHistogram(METRIC_CALL_DURATION, {
      description: 'Duration of calls the circuit breaker let through.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
    }),
    transitions: meter.createCounter(METRIC_TRANSITIONS, {
      description: 'State changes of the circuit breaker, as seen by this replica.',
      unit: '{transition}',
    }),
    state: meter.createObservableGauge(METRIC_STATE, {
      description:
        'Current state of the circuit breaker: 1 for the current state, 0 for the others.',
      unit: '1',
    }),
  };
}

/** The instruments of one breaker. */
export class BreakerTelemetry {
  readonly telemetry: Telemetry;
  readonly base: Attributes;
  private readonly lazy: LazyInstruments<BreakerInstruments>;
  private readonly outcomeAttributes: Record<CallOutcomeLabel, Attributes>;
  private readonly stateAttributes: Attributes[];
  private readonly observeState: (result: ObservableResult) => void;
  /**
   * Calls counted since an SDK was seen, by outcome, reported by the observable `calls` counter
   * when the SDK collects. Why not a synchronous counter: measured on Node 20.20 with
   * @opentelemetry/sdk-metrics 2.12 (2-core VM), every synchronous record hashes its attributes
   * (sorting their keys and `JSON.stringify`-ing them): about 1.2 µs per `add` or `record` with
   * this breaker's three attributes, in a loop of 500,000, so a counter add plus a histogram
   * record cost a closed call two of them. Counting here leaves one SDK record per call, the
   * duration's (the SDK then added +1.7 µs per call in the `circuit-breaker/otel` bench suite).
   * The rest is the SDK's: the metrics API has no asynchronous histogram to defer it to.
   */
  private readonly callCounts: Record<CallOutcomeLabel, number> = {
    success: 0,
    failure: 0,
    ignored: 0,
    rejected: 0,
    timeout: 0,
  };
  private readonly observeCalls: (result: ObservableResult) => void;

  constructor(name: string, store: string, currentState: () => BreakerState) {
    this.telemetry = getTelemetry(CIRCUIT_BREAKER_PACKAGE);
    this.base = { [ATTR_POLICY_NAME]: name, [ATTR_STORE]: store };
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
    this.observeCalls = (result) => {
      // Only outcomes that happened, as a synchronous counter would report them.
      for (const outcome of OUTCOMES) {
        const count = this.callCounts[outcome];
        if (count > 0) result.observe(count, this.outcomeAttributes[outcome]);
      }
    };
    this.lazy = this.telemetry.instruments(
      (meter) => {
        const instruments = breakerInstruments(meter);
        instruments.state.addCallback(this.observeState);
        instruments.calls.addCallback(this.observeCalls);
        return instruments;
      },
      (instruments) => {
        instruments.state.removeCallback(this.observeState);
        instruments.calls.removeCallback(this.observeCalls);
      },
    );
  }

  /**
   * Whether an SDK records what this breaker reports: when not, calls skip recording (and reading
   * the clock for it). Notices an SDK registered after the breaker was built.
   */
  get recording(): boolean {
    return this.lazy.recording;
  }

  /** Counts a call and, when it ran and was timed, its duration. */
  call(outcome: CallOutcomeLabel, durationMs: number | undefined): void {
    if (!this.lazy.recording) return;
    this.callCounts[outcome]++;
    // NaN: the call started before an SDK was registered, untimed.
    if (durationMs !== undefined && !Number.isNaN(durationMs)) {
      this.lazy.instruments.duration.record(durationMs / 1000, this.outcomeAttributes[outcome]);
    }
  }

  /** Counts a transition and adds it to the active span. */
  transition(from: BreakerState, to: BreakerState): void {
    const attributes = { ...this.base, [ATTR_FROM]: from, [ATTR_TO]: to };
    this.lazy.instruments.transitions.add(1, attributes);
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
    this.lazy.dispose();
  }
}
