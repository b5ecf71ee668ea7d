/**
 * The one subscription primitive of every Breakwater policy (`onStateChange`, `onRetry`,
 * `onStoreStatusChange`, …): subscribing returns a disposer, `active` lets a hot path skip building
 * an event nobody reads, and a listener that throws is reported the same way in every package — as
 * a process warning with code {@link LISTENER_ERROR_CODE} — and never breaks the call it observes
 * nor starves the other listeners.
 */
import { expectFunction } from './validate.js';

/** Removes the subscription it was returned by. Calling it again does nothing. */
export type Disposer = () => void;

/** The `code` of the process warning emitted when a listener throws. */
export const LISTENER_ERROR_CODE = 'BREAKWATER_LISTENER_ERROR';

/** The listeners of one hook of one policy. */
export class Listeners<E> {
  private readonly subscribers = new Set<(event: E) => void>();

  /**
   * @param hook Names the hook in validation errors and warnings, e.g.
   *   `'circuit-breaker onStateChange'`.
   */
  constructor(readonly hook: string) {}

  /** Whether anyone listens, so callers can skip building an event nobody receives. */
  get active(): boolean {
    return this.subscribers.size > 0;
  }

  /** How many listeners are subscribed. */
  get size(): number {
    return this.subscribers.size;
  }

  /**
   * Subscribes `listener`; returns its disposer.
   * @throws {TypeError} naming `listener` when it is not a function.
   */
  add(listener: (event: E) => void): Disposer {
    expectFunction('listener', listener);
    // A wrapper makes each subscription distinct, so disposing one of two identical
    // subscriptions leaves the other in place.
    const subscription = (event: E): void => listener(event);
    this.subscribers.add(subscription);
    return () => {
      this.subscribers.delete(subscription);
    };
  }

  /** Calls every listener with `event`; a listener that throws becomes a process warning. */
  emit(event: E): void {
    for (const subscriber of this.subscribers) {
      try {
        subscriber(event);
      } catch (error) {
        reportListenerError(this.hook, error);
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.subscribers.clear();
  }
}

/** Reports a listener that threw, as a process warning naming the hook. */
export function reportListenerError(hook: string, error: unknown): void {
  process.emitWarning(
    `A ${hook} listener threw: ${error instanceof Error ? error.message : String(error)}`,
    { type: 'BreakwaterWarning', code: LISTENER_ERROR_CODE },
  );
}
