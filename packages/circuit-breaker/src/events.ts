/**
 * Plain typed subscriptions, for users without OpenTelemetry: each `on…(listener)` returns a
 * disposer. A listener that throws is reported as a process warning and never breaks the call.
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

/** A set of listeners of one event type. */
export class Listeners<E> {
  private readonly listeners = new Set<(event: E) => void>();

  /** Whether anyone listens; lets callers skip building an event nobody receives. */
  get active(): boolean {
    return this.listeners.size > 0;
  }

  /** Adds a listener; returns its disposer. */
  add(listener: (event: E) => void): () => void {
    if (typeof listener !== 'function') {
      throw new TypeError(`Expected \`listener\` to be a function, got ${typeof listener}`);
    }
    const subscription = (event: E) => listener(event);
    this.listeners.add(subscription);
    return () => {
      this.listeners.delete(subscription);
    };
  }

  /** Calls every listener with `event`. */
  emit(event: E): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        process.emitWarning(
          `A circuit-breaker listener threw: ${error instanceof Error ? error.message : String(error)}`,
          { type: 'BreakwaterWarning', code: 'BREAKWATER_LISTENER_ERROR' },
        );
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.listeners.clear();
  }
}
