/**
 * The store a retry budget keeps its state in. One narrow, atomic operation is all a budget needs:
 * add the calls seen since the last report and, optionally, withdraw one retry token, against a
 * sliding time window. The policy logic (when to report, what to do when the store fails) lives in
 * `retryBudget()`; a store only performs the transition.
 */

/**
 * The shape of a budget's window and the formula its decisions use; the same for every replica
 * that shares the budget (each request carries it, so a store needs no configuration of its own).
 *
 * Retries allowed in the window = `ratio` × calls in the window + `reserve` − retries in the window.
 */
export interface BudgetSpec {
  /** Retries earned per call, in [0, 1]. */
  readonly ratio: number;
  /** Retries the window allows with no traffic at all (`minPerSecond` × window in seconds). */
  readonly reserve: number;
  /** Length of the sliding window, in milliseconds. */
  readonly windowMs: number;
  /**
   * Granularity of the window, in milliseconds: counts are kept per slot and a slot leaves the
   * window as a whole, so the window really spans between `windowMs − slotMs` and `windowMs`.
   */
  readonly slotMs: number;
}

/** One atomic operation on a budget's state. */
export interface BudgetRequest {
  /** The budget's name; budgets with different names never share state. */
  readonly name: string;
  /** The budget's window and formula. */
  readonly spec: BudgetSpec;
  /** Calls to add to the current slot first (an integer ≥ 0). */
  readonly calls: number;
  /** Whether to withdraw one retry token if at least one is available. */
  readonly withdraw: boolean;
}

/** The state after a {@link BudgetRequest}. */
export interface BudgetResult {
  /** Whether a token was withdrawn (always `false` when none was asked for). */
  readonly granted: boolean;
  /** Retries available after the operation (may be fractional, never reported below what it is). */
  readonly available: number;
}

/** Where a retry budget keeps its state: in process, in Redis, or in DynamoDB. */
export interface RetryBudgetStore {
  /** The store kind, reported as `breakwater.store`: `'memory'`, `'redis'`, `'dynamodb'`. */
  readonly kind: string;
  /**
   * `true` when the store answers from this process's memory, so it can neither fail nor hang:
   * the budget then calls it directly, without a deadline timer or an `onStoreError` fallback.
   */
  readonly inProcess?: boolean;
  /**
   * Adds `request.calls` to the current slot, prunes slots that left the window, and withdraws a
   * token when asked and available — all in one atomic step, so concurrent replicas can never
   * withdraw more than the budget holds. Should stop work when `signal` aborts, if it can.
   */
  record(request: BudgetRequest, signal?: AbortSignal): Promise<BudgetResult>;
}
