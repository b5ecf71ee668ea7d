/**
 * The events of the breaker's plain typed subscriptions, for users without OpenTelemetry: each
 * `on…(listener)` returns a disposer (core's `Listeners`). A listener that throws is reported as a
 * process warning (code `BREAKWATER_LISTENER_ERROR`) and never breaks the call. Store status
 * changes are core's `StoreStatusChange`.
 */
import type { BreakerState } from './store.js';

/** A state change of the breaker, as this replica saw it. */
export interface StateChangeEvent {
  /** The previous state. */
  readonly from: BreakerState;
  /** The new state. */
  readonly to: BreakerState;
}

/** A call that counted as a success. */
export interface SuccessEvent {
  /** How long the call took, in milliseconds. */
  readonly durationMs: number;
}

/** A call that counted as a failure. */
export interface FailureEvent {
  /** `'error'`: it threw; `'result'`: `shouldHandle` rejected its result; `'timeout'`: it ran out of time. */
  readonly reason: 'error' | 'result' | 'timeout';
  /** What it threw (or the TimeoutError), for `'error'` and `'timeout'`. */
  readonly error?: unknown;
  /** What it returned, for `'result'`. */
  readonly result?: unknown;
  /** How long the call took, in milliseconds. */
  readonly durationMs: number;
}

/** A call the breaker refused to run. */
export interface RejectedEvent {
  /** The rejection (a `BrokenCircuitError` or `IsolatedCircuitError`). */
  readonly error: Error;
}
