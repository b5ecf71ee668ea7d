/**
 * A set of hook subscribers. Subscribing returns a disposer; a subscriber that throws is reported
 * as a process warning and never breaks the call it observes nor starves the other subscribers.
 */
import { expectFunction } from '@breakwater/core';

/** A function that removes the subscription it was returned by. Calling it twice is harmless. */
export type Disposer = () => void;

/** The subscribers of one hook (`onRetry`, …) of one policy. */
export class Listeners<E> {
  private readonly subscribers = new Set<(event: E) => void>();

  /** Whether anyone listens, so callers can skip building an event nobody reads. */
  get active(): boolean {
    return this.subscribers.size > 0;
  }

  /** Subscribes `listener`; `hook` names the hook in validation errors. */
  add(hook: string, listener: (event: E) => void): Disposer {
    expectFunction(hook, listener);
    // A wrapper makes each subscription distinct, so disposing one of two identical
    // subscriptions leaves the other in place.
    const subscription = (event: E) => listener(event);
    this.subscribers.add(subscription);
    return () => {
      this.subscribers.delete(subscription);
    };
  }

  /** Calls every subscriber with `event`; `hook` names the hook in warnings. */
  emit(hook: string, event: E): void {
    for (const subscriber of this.subscribers) {
      try {
        subscriber(event);
      } catch (error) {
        process.emitWarning(
          `A retry ${hook} listener threw: ${error instanceof Error ? error.message : String(error)}`,
          { type: 'BreakwaterWarning', code: 'BREAKWATER_LISTENER_ERROR' },
        );
      }
    }
  }
}
