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
import {
  CALL_OUTCOMES,
  type CallCounts,
  type CallOutcomeLabel,
  callCountsOf,
} from './call-counts.js';
import { BREAKER_STATES, type BreakerState } from './store.js';
import { CIRCUIT_BREAKER_PACKAGE } from './version.js';

/**
 * Calls by outcome (observable counter, `{call}`): every call, counted in the breaker and read by
 * the SDK when it collects; breakers of one name and store add up into one series.
 */
export const METRIC_CALLS = 'breakwater.circuit_breaker.calls';
/**
 * Duration of a systematic sample of the calls that ran, one in the breaker's
 * `durationSampleEvery` (histogram, `s`, bucket advice `DURATION_BUCKETS_SECONDS`): its
 * distribution is the calls', its count is the sample's (the `calls` counter counts them all).
 */
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
export type { CallOutcomeLabel };

/** The instruments of one breaker, as made from one meter. */
interface BreakerInstruments {
  /** This breaker's series of the `calls` counter (shared with breakers of its name and store). */
  readonly calls: CallCounts;
  readonly duration: Histogram;
  readonly transitions: Counter;
  readonly state: ObservableGauge;
}

function createCallsCounter(meter: Meter): ObservableCounter {
  return meter.createObservableCounter(METRIC_CALLS, {
    description: 'Calls through the circuit breaker, by outcome.',
    unit: '{call}',
  });
}

/** A breaker's series of the `calls` counter: its key (name and store) and its attributes per outcome. */
interface BreakerSeries {
  readonly key: string;
  readonly outcomes: Readonly<Record<CallOutcomeLabel, Attributes>>;
}

function breakerInstruments(meter: Meter, series: BreakerSeries): BreakerInstruments {
  return {
    calls: callCountsOf(meter, createCallsCounter, series.key, series.outcomes),
    duration: meter.createHistogram(METRIC_CALL_DURATION, {
      description: 'Duration of a sample of the calls the circuit breaker let through.',
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

/**
 * The instruments of one breaker.
 *
 * Where a recorded call's time goes, measured on Node 20.20 with @opentelemetry/sdk-metrics 2.12
 * (2-core VM, `node --cpu-prof` on the `circuit-breaker/otel` bench case): every synchronous
 * `add` or `record` hashes its attributes (sorting their keys and `JSON.stringify`-ing them) and
 * looks the hash up, about 1.3 µs with this breaker's three attributes; a clock read costs about
 * 40 ns. Recording a duration per call made a closed call +1.7 µs. So a call costs, with an SDK:
 * - an increment of a plain number for the `calls` counter, which is observable: the SDK reads
 *   the counts when it collects (`call-counts.ts`);
 * - for one call in `durationSampleEvery`, two clock reads and a histogram record; the others
 *   read no clock for telemetry. The metrics API has no asynchronous histogram to defer the
 *   record to, and a sample keeps the distribution (a systematic sample, chosen before the
 *   call's duration is known) at a bounded cost.
 */
export class BreakerTelemetry {
  readonly telemetry: Telemetry;
  readonly base: Attributes;
  private readonly lazy: LazyInstruments<BreakerInstruments>;
  private readonly outcomeAttributes: Readonly<Record<CallOutcomeLabel, Attributes>>;
  private readonly stateAttributes: Attributes[];
  private readonly observeState: (result: ObservableResult) => void;
  /** Calls between two duration samples; `Infinity` when durations are not recorded. */
  private readonly sampleEvery: number;
  /** Calls that may start before one is timed for the histogram (see {@link timesCall}). */
  private untilTimed: number;
  /** Timed calls that may settle before one is recorded, when every call is timed anyway. */
  private untilRecorded: number;
  /** Calls {@link timesCall} chose that have not settled yet. */
  private timedPending = 0;

  /**
   * @param name The breaker's name (`breakwater.policy.name`).
   * @param store The store's kind (`breakwater.store`).
   * @param currentState Reads the state the state gauge reports.
   * @param durationSampleEvery Records the duration of one call in this many; 0 records none.
   */
  constructor(
    name: string,
    store: string,
    currentState: () => BreakerState,
    durationSampleEvery: number,
  ) {
    this.telemetry = getTelemetry(CIRCUIT_BREAKER_PACKAGE);
    this.base = { [ATTR_POLICY_NAME]: name, [ATTR_STORE]: store };
    this.outcomeAttributes = Object.fromEntries(
      CALL_OUTCOMES.map((outcome) => [outcome, { ...this.base, [ATTR_OUTCOME]: outcome }]),
    ) as unknown as Record<CallOutcomeLabel, Attributes>;
    this.stateAttributes = BREAKER_STATES.map((state) => ({ ...this.base, [ATTR_STATE]: state }));
    this.sampleEvery = durationSampleEvery === 0 ? Number.POSITIVE_INFINITY : durationSampleEvery;
    // The first call is timed and recorded: a quiet breaker reports a duration at once.
    this.untilTimed = this.sampleEvery === Number.POSITIVE_INFINITY ? this.sampleEvery : 1;
    this.untilRecorded = this.untilTimed;
    this.observeState = (result) => {
      const current = currentState();
      for (let i = 0; i < BREAKER_STATES.length; i++) {
        result.observe(BREAKER_STATES[i] === current ? 1 : 0, this.stateAttributes[i]);
      }
    };
    const series: BreakerSeries = {
      key: JSON.stringify([name, store]),
      outcomes: this.outcomeAttributes,
    };
    this.lazy = this.telemetry.instruments(
      (meter) => {
        const instruments = breakerInstruments(meter, series);
        instruments.state.addCallback(this.observeState);
        return instruments;
      },
      // The calls counter keeps reporting what this breaker counted (see call-counts.ts).
      (instruments) => instruments.state.removeCallback(this.observeState),
    );
  }

  /**
   * Whether the call starting now should be timed for the duration histogram: one in
   * `durationSampleEvery` while an SDK records. Asked only when nothing else times the call (a
   * slow-call rule, a success or failure listener): the call it answers `true` for is then the
   * one {@link call} records.
   */
  timesCall(): boolean {
    if (!this.lazy.recording || --this.untilTimed > 0) return false;
    this.untilTimed = this.sampleEvery;
    this.timedPending++;
    return true;
  }

  /**
   * Counts a call and, when it ran and was timed, may record its duration: a call
   * {@link timesCall} chose is recorded; when every call is timed (a slow-call rule, a listener,
   * the opossum bridge), one in `durationSampleEvery` is.
   * @param durationMs The call's duration; `undefined` (rejected) or NaN (not timed) records none.
   */
  call(outcome: CallOutcomeLabel, durationMs: number | undefined): void {
    if (!this.lazy.recording) return;
    const instruments = this.lazy.instruments;
    instruments.calls.counts[outcome]++;
    if (durationMs === undefined || Number.isNaN(durationMs)) return;
    if (this.timedPending > 0) this.timedPending--;
    else if (--this.untilRecorded > 0) return;
    else this.untilRecorded = this.sampleEvery;
    instruments.duration.record(durationMs / 1000, this.outcomeAttributes[outcome]);
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

  /**
   * Stops observing the state gauge. What the breaker counted stays in the `calls` counter, which
   * reports it at the next collections as a synchronous counter would.
   */
  dispose(): void {
    this.lazy.dispose();
  }
}
