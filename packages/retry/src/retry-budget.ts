/**
 * The standard retry budget's public surface: the {@link WindowedRetryBudget} interface and the
 * {@link retryBudget} factory. The budget itself lives in budget/: the budget class
 * (windowed-budget.ts) and the in-process sliding window (window.ts).
 */
import type { Disposer, HealthReporting, StoreStatus, StoreStatusListener } from '@breakwater/core';
import { Budget } from './budget/windowed-budget.js';
import type { RetryBudget } from './budget.js';
import { type RetryBudgetOptions, resolveBudgetOptions } from './budget-options.js';

/** The budget {@link retryBudget} builds: a {@link RetryBudget} over a sliding window in a store. */
export interface WindowedRetryBudget extends RetryBudget, HealthReporting {
  /** The store kind: `'memory'`, `'redis'`, `'dynamodb'`. */
  readonly store: string;
  /** Retries left, as last reported by the store (`undefined` before the first report). */
  readonly available: number | undefined;
  /**
   * `'degraded'` after `storeFailureThreshold` consecutive store failures: retries then take the
   * `onStoreError` answer at once, until a background probe finds the store answering again.
   */
  readonly storeStatus: StoreStatus;
  /** Reports the calls counted locally to the store now. Never rejects; never waits past the store deadline. */
  flush(): Promise<void>;
  /**
   * Serverless: {@link flush}, then rejects with the `StoreError` when the store's last operation
   * failed (the calls counted here may not have reached it). A process frozen between invocations
   * otherwise holds up to `flushIntervalMs` of counted calls that no other replica sees. Bounded
   * by `storeDeadlineMs`. See `serverless()` of `@breakwater/core`.
   */
  settle(): Promise<void>;
  /**
   * Subscribes to the store degrading and recovering
   * (`{ policy, pattern: 'retry', store, status, error? }`). Returns a disposer.
   */
  onStoreStatusChange(listener: StoreStatusListener): Disposer;
  /**
   * Flushes, stops reporting the gauge and stops the background probe; resolves once no store
   * operation is in flight, so it never waits longer than one store deadline, whether the store is
   * up, refused or hung. The store (and its client) stay yours. The budget still works afterwards,
   * unobserved.
   */
  close(): Promise<void>;
  /** Same as {@link WindowedRetryBudget.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A retry budget: retries allowed in a sliding window ≤ `ratio` × calls in the window +
 * `minPerSecond` × window length. When a dependency is down, every call fails and wants retries;
 * the budget lets only a bounded share through, so retries cannot multiply the load (the classic
 * retry storm). With a shared store (`redisBudgetStore`, `dynamoBudgetStore`) the bound holds for
 * the whole fleet.
 *
 * Cost: calls are counted in process and reported in batches (see `flushIntervalMs`), so a call
 * that succeeds at once never waits for the store; only a retry makes one store round trip.
 * Every store operation goes through core's store call path (`StoreCalls`): bounded by
 * `storeDeadlineMs`, answered by `onStoreError` when the store fails or is degraded.
 *
 * @example
 * const budget = retryBudget({ ratio: 0.2, minPerSecond: 10, store: redisBudgetStore({ client }) });
 * const r = retry({ maxAttempts: 4, budget });
 */
export function retryBudget(options: RetryBudgetOptions = {}): WindowedRetryBudget {
  return new Budget(resolveBudgetOptions(options));
}
