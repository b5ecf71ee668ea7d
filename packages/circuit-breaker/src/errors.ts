/**
 * The errors a circuit breaker rejects calls with. Both extend `ExecutionRejectedError` of
 * `@breakwater/core`, so code that handles "any policy said no" keeps working, and carry the time
 * left open as `retryAfterMs` when the breaker knows it.
 */
import {
  ExecutionRejectedError,
  type ExecutionRejectedErrorOptions,
  hasErrorKind,
} from '@breakwater/core';
import type { BreakerState } from './store.js';

/** Options of {@link BrokenCircuitError}. */
export interface BrokenCircuitErrorOptions extends ExecutionRejectedErrorOptions {
  /** The state the breaker was in when it rejected the call. */
  state: BreakerState;
}

/** The breaker is open (or half-open with every probe slot taken) and rejected the call. */
export class BrokenCircuitError extends ExecutionRejectedError {
  /** The state the breaker was in when it rejected the call. */
  readonly state: BreakerState;

  constructor(message: string, options: BrokenCircuitErrorOptions) {
    super(message, options);
    this.brand('BrokenCircuitError');
    this.state = options.state;
  }
}

/** The breaker was isolated by hand (`isolate()`) and rejected the call. */
export class IsolatedCircuitError extends BrokenCircuitError {
  constructor(message: string, options: BrokenCircuitErrorOptions) {
    super(message, options);
    this.brand('IsolatedCircuitError');
  }
}

/** Is `value` a {@link BrokenCircuitError} (including {@link IsolatedCircuitError})? */
export const isBrokenCircuitError = (value: unknown): value is BrokenCircuitError =>
  hasErrorKind(value, 'BrokenCircuitError');

/** Is `value` an {@link IsolatedCircuitError}? */
export const isIsolatedCircuitError = (value: unknown): value is IsolatedCircuitError =>
  hasErrorKind(value, 'IsolatedCircuitError');
