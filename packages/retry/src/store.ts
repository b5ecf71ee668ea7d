/**
 * The store a retry budget keeps its state in. One narrow, atomic operation is all a budget needs:
 * add the calls seen since the last report and, optionally, withdraw one retry token, against a
 * sliding time window. The policy logic (when to report, what to do when the store fails) lives in
 * `retryBudget()`; a store only performs the transition.
 */

/**
 * The shape of a budget's window and the formula its decisions use; the same for every replica
 * that shares the budget (the budget hands it to the store when it scopes it, so a store needs no
 * configuration of its own).
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

/**
 * One atomic operation on a budget's state. The budget it applies to, and that budget's window,
 * were fixed when the store was scoped (see {@link RetryBudgetStore.scope}).
 */
export interface BudgetRequest {
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

/** Which budget a store is scoped to; see {@link RetryBudgetStore.scope}. */
export interface BudgetScopeOptions {
  /** The budget's name; budgets with different names never share state. */
  readonly name: string;
  /** The budget's window and formula. */
  readonly spec: BudgetSpec;
}

/** A store scoped to one budget: the operations the budget runs, bound to its state. */
export interface BudgetScope {
  /**
   * Adds `request.calls` to the current slot, prunes slots that left the window, and withdraws a
   * token when asked and available — all in one atomic step, so concurrent replicas can never
   * withdraw more than the budget holds. An in-process store answers synchronously (the budget
   * then uses the answer as it comes: no promise, no deadline timer).
   */
  record(request: BudgetRequest, signal?: AbortSignal): BudgetResult | PromiseLike<BudgetResult>;
  /**
   * Whether `record` stops work when its signal aborts (a DynamoDB request does): the budget then
   * hands it a signal that aborts when the store deadline passes.
   * @default false
   */
  readonly abortable?: boolean | undefined;
  /**
   * A cheap request proving the store answers again, run in the background while the store is
   * degraded (a trivial script on the budget's own key for Redis, so a Cluster asks the node that
   * owns it; a GetItem for DynamoDB). Stores that cannot fail have none.
   */
  readonly probe?: ((signal: AbortSignal) => PromiseLike<unknown>) | undefined;
}

/** Where a retry budget keeps its state: in process, in Redis, or in DynamoDB. */
export interface RetryBudgetStore {
  /** The store kind, reported as `breakwater.store`: `'memory'`, `'redis'`, `'dynamodb'`. */
  readonly kind: string;
  /**
   * `true` when the store answers from this process's memory, so it can neither fail nor hang:
   * a budget with `onStoreError: 'local'` then keeps no second, local window beside it.
   */
  readonly inProcess?: boolean;
  /**
   * Scopes the store to one budget: builds the keys and anything else that depends only on the
   * budget, once, and returns the operations the budget runs. One store may be scoped to any
   * number of budgets.
   * @throws {RangeError | TypeError} naming the option, for a name the store cannot key.
   */
  scope(options: BudgetScopeOptions): BudgetScope;
  /**
   * Releases what the store owns. The stores of this package own nothing (the client you pass
   * stays yours), so this resolves at once; it never waits on the store.
   */
  close(): Promise<void>;
  /** Same as {@link RetryBudgetStore.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}
