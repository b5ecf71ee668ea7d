/**
 * The store deadline and the `onStoreError` policy every store-backed pattern shares (Principle 4:
 * store failure is a choice, not an accident). A pattern builds one {@link StoreGuard} per policy
 * and runs every store operation through it; the guard bounds the wait, turns every failure into a
 * {@link StoreError}, answers with the fallback the user chose, and reports when the store degrades
 * and recovers. Nothing here knows which store it guards, so policies never branch on it.
 */
import { type StoreError, StoreTimeoutError } from './errors.js';
import { toStoreError } from './store/calls.js';
import type { StoreFallbacks } from './store/fallbacks.js';
import {
  MAX_STORE_DEADLINE_MS,
  ON_STORE_ERROR_MODES,
  type OnStoreError,
  STORE_DEFAULTS,
} from './store/options.js';
import type { StoreStatus } from './store/status.js';
import { expectFunction, expectNonEmptyString, expectOneOf, expectPositive } from './validate.js';

/** Options of {@link withDeadline}. */
export interface WithDeadlineOptions {
  /** How long the operation may take, in milliseconds: > 0 and at most ~24.8 days. */
  deadlineMs: number;
  /** Which store is called (`'redis'`, `'dynamodb'`, …), for the error. */
  store: string;
  /** Which store operation is called, for the error; never a user key. */
  operation: string;
  /** The caller's signal: when it aborts, the operation is aborted and the call rejects with its reason. */
  signal?: AbortSignal | undefined;
}

/**
 * Runs one store operation under a deadline.
 *
 * - Resolves with the operation's value if it settles in time.
 * - Rejects with a {@link StoreTimeoutError} when `deadlineMs` passes first, and aborts the signal
 *   handed to the operation with that error.
 * - Rejects with a {@link StoreError} (the original error as its `cause`) when the operation
 *   throws anything that is not already a `StoreError`.
 * - Rejects with `signal.reason` when the caller's signal aborts (or already has), and aborts the
 *   operation's signal with the same reason.
 *
 * The timer and the listener on the caller's signal are removed in every path.
 *
 * @throws {RangeError | TypeError} at once, for an invalid `deadlineMs`, `store` or `operation`.
 */
export function withDeadline<T>(
  operation: (signal: AbortSignal) => Promise<T>,
  options: WithDeadlineOptions,
): Promise<T> {
  expectFunction('operation', operation);
  const deadlineMs = expectDeadline(options.deadlineMs);
  const store = expectNonEmptyString('store', options.store);
  const name = expectNonEmptyString('operation', options.operation);
  return runWithDeadline(operation, undefined, deadlineMs, store, name, options.signal);
}

/**
 * {@link withDeadline} without validation and with a pass-through argument, so a guard can run
 * operations hoisted to construction time without allocating a closure per call.
 */
function runWithDeadline<T, A>(
  operation: (signal: AbortSignal, arg: A) => Promise<T>,
  arg: A,
  deadlineMs: number,
  store: string,
  name: string,
  callerSignal: AbortSignal | undefined,
): Promise<T> {
  if (callerSignal?.aborted) return Promise.reject(callerSignal.reason);
  return new Promise<T>((resolve, reject) => {
    const controller = new AbortController();
    let settled = false;
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
      return true;
    };
    const onCallerAbort = (): void => {
      if (!finish()) return;
      const reason: unknown = callerSignal?.reason;
      controller.abort(reason);
      reject(reason);
    };
    const timer = setTimeout(() => {
      if (!finish()) return;
      const error = new StoreTimeoutError(
        `${store} ${name} did not answer within ${deadlineMs} ms`,
        { store, operation: name, deadlineMs },
      );
      controller.abort(error);
      reject(error);
    }, deadlineMs);
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true });

    let pending: Promise<T>;
    try {
      pending = operation(controller.signal, arg);
    } catch (error) {
      // A synchronous throw is a store failure like any other, not a crash of the caller.
      pending = Promise.reject(error);
    }
    Promise.resolve(pending).then(
      (value) => {
        if (finish()) resolve(value);
      },
      (error: unknown) => {
        if (finish()) reject(toStoreError(error, store, name));
      },
    );
  });
}

function expectDeadline(value: unknown): number {
  const deadlineMs = expectPositive('deadlineMs', value);
  if (deadlineMs > MAX_STORE_DEADLINE_MS) {
    throw new RangeError(
      `Expected \`deadlineMs\` to be at most ${MAX_STORE_DEADLINE_MS}, got ${deadlineMs}`,
    );
  }
  return deadlineMs;
}

/** What a {@link StoreGuard} tells its subscribers when the store's status changes. */
export type GuardStatusChange =
  | {
      /** The store answered again after failing. */
      readonly status: 'healthy';
      /** The store kind, as given to the guard. */
      readonly store: string;
    }
  | {
      /** The store failed or missed its deadline; policies now use their `onStoreError` fallback. */
      readonly status: 'degraded';
      /** The store kind, as given to the guard. */
      readonly store: string;
      /** The failure that degraded the store. */
      readonly error: StoreError;
    };

/** A subscriber to store status changes. */
export type GuardStatusListener = (change: GuardStatusChange) => void;

/** A store operation run by a {@link StoreGuard}: must stop work when `signal` aborts, if it can. */
export type StoreOperation<T, A = void> = (signal: AbortSignal, arg: A) => Promise<T>;

/** Options of {@link storeGuard}. */
export interface StoreGuardOptions {
  /** The store kind (`'redis'`, `'dynamodb'`, …), used in errors and status changes. */
  store: string;
  /** What policies do when the store fails: see {@link OnStoreError}. */
  onStoreError: OnStoreError;
  /**
   * Deadline of each store operation in milliseconds; a slower answer counts as a store failure.
   * @default 1000
   */
  deadlineMs?: number | undefined;
  /** Called once when the store degrades and once when it recovers. */
  onStatusChange?: GuardStatusListener | undefined;
  /**
   * How many store operations may be attempted at once while the store is degraded. Calls beyond
   * this take the fallback at once (with the last store error) instead of each waiting for the
   * deadline, so a hung store costs one deadline at a time rather than one per call; the first
   * operation that succeeds restores `'healthy'`.
   * @default 1
   */
  degradedProbes?: number | undefined;
}

/** Runs a policy's store operations under a deadline and applies its `onStoreError` choice. */
export interface StoreGuard {
  /** The store kind, as given. */
  readonly store: string;
  /** The mode applied when the store fails. */
  readonly onStoreError: OnStoreError;
  /** The deadline of each store operation, in milliseconds. */
  readonly deadlineMs: number;
  /** `'healthy'` until a store operation fails; `'healthy'` again once one succeeds. */
  readonly status: StoreStatus;
  /** The error that last degraded the store, while it is degraded. */
  readonly lastError: StoreError | undefined;
  /**
   * Runs `operation` under the deadline. On success, returns its value (and marks the store
   * healthy). On a store failure, marks the store degraded and returns what the fallback of the
   * chosen mode returns. A rejection caused by the caller's own `signal` is rethrown as is: a
   * cancelled call is not a store failure.
   *
   * Hoist `operation` and `fallbacks` to construction time and pass per-call data as `arg`; the
   * guard then allocates nothing per call beyond the deadline itself.
   *
   * @param operationName Names the store operation in errors; never a user key.
   */
  run<T, A = void>(
    operationName: string,
    operation: StoreOperation<T, A>,
    fallbacks: StoreFallbacks<T, A>,
    arg: A,
    signal?: AbortSignal,
  ): Promise<T>;
  /** Subscribes to status changes; returns a function that unsubscribes. */
  onStatusChange(listener: GuardStatusListener): () => void;
}

/**
 * Creates the guard a store-backed policy runs its store operations through.
 *
 * ```ts
 * const guard = storeGuard({ store: 'redis', onStoreError: options.onStoreError });
 * const acquireFallbacks = {
 *   failOpen: () => GRANTED,
 *   failClosed: (error) => { throw new BulkheadRejectedError(..., { cause: error }); },
 *   local: (_error, request) => localStore.acquire(request),
 * };
 * const result = await guard.run('acquire', acquireFromStore, acquireFallbacks, request, signal);
 * ```
 *
 * @throws {RangeError | TypeError} naming the option, for invalid options.
 */
export function storeGuard(options: StoreGuardOptions): StoreGuard {
  const store = expectNonEmptyString('store', options.store);
  const onStoreError = expectOneOf('onStoreError', options.onStoreError, ON_STORE_ERROR_MODES);
  const deadlineMs = expectDeadline(options.deadlineMs ?? STORE_DEFAULTS.deadlineMs);
  const degradedProbes = options.degradedProbes ?? 1;
  if (!Number.isInteger(degradedProbes) || degradedProbes < 1) {
    throw new RangeError(
      `Expected \`degradedProbes\` to be an integer >= 1, got ${String(degradedProbes)}`,
    );
  }
  if (options.onStatusChange !== undefined) {
    expectFunction('onStatusChange', options.onStatusChange);
  }
  return new Guard(store, onStoreError, deadlineMs, degradedProbes, options.onStatusChange);
}

class Guard implements StoreGuard {
  #status: StoreStatus = 'healthy';
  #lastError: StoreError | undefined = undefined;
  private readonly listeners = new Set<GuardStatusListener>();
  private probesInFlight = 0;

  constructor(
    readonly store: string,
    readonly onStoreError: OnStoreError,
    readonly deadlineMs: number,
    private readonly degradedProbes: number,
    initialListener: GuardStatusListener | undefined,
  ) {
    if (initialListener) this.listeners.add(initialListener);
  }

  get status(): StoreStatus {
    return this.#status;
  }

  get lastError(): StoreError | undefined {
    return this.#lastError;
  }

  async run<T, A = void>(
    operationName: string,
    operation: StoreOperation<T, A>,
    fallbacks: StoreFallbacks<T, A>,
    arg: A,
    signal?: AbortSignal,
  ): Promise<T> {
    if (this.#status === 'degraded') {
      if (this.probesInFlight >= this.degradedProbes) {
        return this.fallback(fallbacks, this.#lastError!, arg);
      }
      this.probesInFlight++;
      try {
        return await this.attempt(operationName, operation, fallbacks, arg, signal);
      } finally {
        this.probesInFlight--;
      }
    }
    return this.attempt(operationName, operation, fallbacks, arg, signal);
  }

  private async attempt<T, A>(
    operationName: string,
    operation: StoreOperation<T, A>,
    fallbacks: StoreFallbacks<T, A>,
    arg: A,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    let value: T;
    try {
      value = await runWithDeadline(
        operation,
        arg,
        this.deadlineMs,
        this.store,
        operationName,
        signal,
      );
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      const storeError = toStoreError(error, this.store, operationName);
      this.degrade(storeError);
      return this.fallback(fallbacks, storeError, arg);
    }
    if (this.#status === 'degraded') this.recover();
    return value;
  }

  private fallback<T, A>(
    fallbacks: StoreFallbacks<T, A>,
    error: StoreError,
    arg: A,
  ): T | PromiseLike<T> {
    switch (this.onStoreError) {
      case 'fail-open':
        return fallbacks.failOpen(error, arg);
      case 'fail-closed':
        return fallbacks.failClosed(error, arg);
      default:
        return fallbacks.local(error, arg);
    }
  }

  onStatusChange(listener: GuardStatusListener): () => void {
    expectFunction('listener', listener);
    // A wrapper makes each subscription distinct, so disposing one of two identical
    // subscriptions leaves the other in place.
    const subscription: GuardStatusListener = (change) => listener(change);
    this.listeners.add(subscription);
    return () => {
      this.listeners.delete(subscription);
    };
  }

  private degrade(error: StoreError): void {
    this.#lastError = error;
    if (this.#status === 'degraded') return;
    this.#status = 'degraded';
    this.notify({ status: 'degraded', store: this.store, error });
  }

  private recover(): void {
    this.#status = 'healthy';
    this.#lastError = undefined;
    this.notify({ status: 'healthy', store: this.store });
  }

  private notify(change: GuardStatusChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        // A faulty subscriber must neither break the policy's call nor starve other subscribers.
        process.emitWarning(
          `A store status listener threw: ${error instanceof Error ? error.message : String(error)}`,
          { type: 'BreakwaterWarning', code: 'BREAKWATER_LISTENER_ERROR' },
        );
      }
    }
  }
}
