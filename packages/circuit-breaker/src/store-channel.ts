/**
 * Runs the breaker's store operations under a deadline and tracks whether the store is healthy
 * (Principle 4). A synchronous answer (the memory store) is used as is, without a timer, so the
 * in-process hot path pays nothing for the guard. An asynchronous one races a deadline; a failure
 * or a missed deadline degrades the store and answers with the fallback the policy chose. While
 * degraded, one operation at a time tries the store (the others take the fallback at once, so an
 * outage costs one deadline at a time, not one per call), and the first success recovers it.
 *
 * `storeGuard()` of `@breakwater/core` applies the same policy, but arms its deadline timer for
 * every operation, which the in-memory store would pay on every failure; and it has no hooks for
 * per-operation telemetry. Should it learn to pass synchronous answers through, this file can
 * become a thin use of it.
 */
import { isStoreError, StoreError, StoreTimeoutError } from '@breakwater/core';
import type { MaybePromise } from './store.js';

/** Whether the store answers. */
export type StoreStatus = 'healthy' | 'degraded';

/** A change of the store's status, as `onStoreStatusChange` listeners receive it. */
export interface StoreStatusEvent {
  /** The new status. */
  readonly status: StoreStatus;
  /** The store kind. */
  readonly store: string;
  /** What degraded it (when `status` is `'degraded'`). */
  readonly error?: StoreError;
}

/** Receives what the channel observes; the policy turns it into telemetry and events. */
export interface StoreChannelObserver {
  operationDone(operation: string, durationMs: number): void;
  operationFailed(operation: string, error: StoreError): void;
  statusChanged(event: StoreStatusEvent): void;
}

/** Whether `value` is a thenable. */
export function isPromiseLike<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** The deadline-bounded, health-tracking path to one store. */
export class StoreChannel {
  status: StoreStatus = 'healthy';
  lastError: StoreError | undefined;
  private attemptInFlight = false;

  constructor(
    private readonly store: string,
    private readonly deadlineMs: number,
    private readonly observer: StoreChannelObserver,
  ) {}

  /**
   * Runs `invoke` (which calls the store) and answers its value, or `fallback(error)` when the
   * store fails, misses the deadline, or is degraded with another attempt under way.
   */
  run<T>(
    operation: string,
    invoke: () => MaybePromise<T>,
    fallback: (error: StoreError) => MaybePromise<T>,
  ): MaybePromise<T> {
    if (this.status === 'degraded' && this.attemptInFlight) {
      this.observer.operationFailed(operation, this.lastError!);
      return fallback(this.lastError!);
    }
    let answer: MaybePromise<T>;
    try {
      answer = invoke();
    } catch (error) {
      return this.failed(operation, error, fallback);
    }
    if (!isPromiseLike(answer)) {
      if (this.status === 'degraded') this.recover();
      return answer;
    }
    return this.settle(operation, answer, fallback);
  }

  /**
   * The asynchronous half of {@link run}, for a caller that invoked the store itself (to skip
   * allocating closures on its hot path) and got a promise.
   */
  async settle<T>(
    operation: string,
    answer: Promise<T>,
    fallback: (error: StoreError) => MaybePromise<T>,
  ): Promise<T> {
    const degraded = this.status === 'degraded';
    if (degraded) this.attemptInFlight = true;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(
            new StoreTimeoutError(
              `${this.store} ${operation} did not answer within ${this.deadlineMs} ms`,
              {
                store: this.store,
                operation,
                deadlineMs: this.deadlineMs,
              },
            ),
          );
        }, this.deadlineMs);
        // The pending store operation keeps the process alive; the deadline need not.
        timer.unref();
      });
      const value = await Promise.race([answer, deadline]);
      this.observer.operationDone(operation, performance.now() - started);
      if (this.status === 'degraded') this.recover();
      return value;
    } catch (error) {
      // The late answer, if it ever comes, must not surface as an unhandled rejection.
      answer.catch(() => {});
      return this.failed(operation, error, fallback);
    } finally {
      clearTimeout(timer);
      if (degraded) this.attemptInFlight = false;
    }
  }

  /** Handles a store operation that threw: degrades the store and answers the fallback. */
  failed<T>(
    operation: string,
    error: unknown,
    fallback: (error: StoreError) => MaybePromise<T>,
  ): MaybePromise<T> {
    const storeError = isStoreError(error)
      ? error
      : new StoreError(
          `${this.store} ${operation} failed: ${error instanceof Error ? error.message : String(error)}`,
          {
            store: this.store,
            operation,
            cause: error,
          },
        );
    this.lastError = storeError;
    this.observer.operationFailed(operation, storeError);
    if (this.status === 'healthy') {
      this.status = 'degraded';
      this.observer.statusChanged({ status: 'degraded', store: this.store, error: storeError });
    }
    return fallback(storeError);
  }

  private recover(): void {
    this.status = 'healthy';
    this.lastError = undefined;
    this.observer.statusChanged({ status: 'healthy', store: this.store });
  }
}
