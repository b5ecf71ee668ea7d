/**
 * What the retry policy needs from a retry budget. `retryBudget()` builds the standard one; the
 * interface is public so the policy can be tested (and extended) without a store.
 */
import type { StoreError } from '@breakwater/core';

/** The answer of a retry budget to a request for one retry. */
export interface RetryBudgetDecision {
  /** Whether the retry may go ahead (a token was withdrawn). */
  readonly granted: boolean;
  /** Retries left in the budget after this decision, as the budget knows it. */
  readonly available: number;
  /**
   * Set when the store did not take this decision: the `StoreError` of the operation that failed,
   * missed its deadline, or was not attempted because the store is degraded; `onStoreError`
   * decided instead. A refusal passes it on as the `cause` of its `RetryBudgetExhaustedError`.
   */
  readonly storeError?: StoreError | undefined;
}

/** A budget that caps retries relative to recent traffic. */
export interface RetryBudget {
  /** The budget's name, shared by every replica that shares its state. */
  readonly name: string;
  /**
   * Counts one call (a first attempt). Called on every `execute`, so it must be synchronous and
   * cheap: implementations count locally and deposit in batches.
   */
  recordCall(): void;
  /** Asks for one retry token. Never rejects for a store failure (that is `onStoreError`'s job). */
  tryAcquire(signal?: AbortSignal): Promise<RetryBudgetDecision>;
}
