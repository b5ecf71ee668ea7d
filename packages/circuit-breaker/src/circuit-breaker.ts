/**
 * The circuit-breaker policy, written once against the store interface (store.ts).
 *
 * Hot path: a call is admitted or rejected from this replica's cached view of the shared state,
 * with no store round trip while closed. Outcomes are counted locally and flushed to the store in
 * one atomic operation every `syncIntervalMs` (at once when local counts alone could trip the
 * breaker, and on every call with the memory store, whose operations are synchronous). The store
 * merges the counts, decides transitions, and its answer — or a view it pushes after another
 * replica's transition — updates the cached view. Only calls that need a global decision (a
 * half-open probe) wait for the store.
 *
 * This file is the public surface. The parts behind it live in breaker/: the policy (policy.ts)
 * over a controller (controller.ts) that holds the cached view and the local counts, the two
 * paths that run and settle calls (settle.ts, timed-call.ts), the one place that talks to the
 * store (store-sync.ts, through core's store call path), and the hooks of the opossum bridge
 * (opossum-hooks.ts).
 */
import type {
  Disposer,
  ExecutionContext,
  HealthReporting,
  Policy,
  StoreStatus,
  StoreStatusListener,
} from '@breakwater/core';
import { ObservedBreakerPolicy } from './breaker/opossum-hooks.js';
import { BreakerPolicy } from './breaker/policy.js';
import type { FailureEvent, RejectedEvent, StateChangeEvent, SuccessEvent } from './events.js';
import type { CircuitBreakerOptions } from './options.js';
import type { CircuitBreakerSnapshot } from './snapshot.js';
import type { BreakerState, ProbeResult } from './store.js';

/** Window counts and ratios, as {@link CircuitBreaker.stats} reports them. */
export interface CircuitBreakerStats {
  /** The current state, as this replica sees it. */
  readonly state: BreakerState;
  /** Calls in the window (the shared window plus this replica's unflushed calls). */
  readonly calls: number;
  /** Failed calls in the window. */
  readonly failures: number;
  /** Slow calls in the window. */
  readonly slowCalls: number;
  /** `failures / calls`, 0 when the window is empty. */
  readonly failureRatio: number;
  /** `slowCalls / calls`, 0 when the window is empty. */
  readonly slowCallRatio: number;
  /** Failures in a row. */
  readonly consecutiveFailures: number;
  /** Openings in a row. */
  readonly consecutiveOpens: number;
  /** Half-open probe leases held across the fleet (as of the last store answer). */
  readonly halfOpenProbes: number;
  /** Milliseconds until an open breaker may probe, or an isolation ends (`undefined`: no end or not open). */
  readonly retryAfterMs: number | undefined;
  /** Whether the store answers (`'healthy'`) or the breaker applies `onStoreError`. */
  readonly storeStatus: StoreStatus;
}

/** A circuit breaker. */
export interface CircuitBreaker<R = never>
  extends Policy<ExecutionContext, R>,
    AsyncDisposable,
    HealthReporting {
  /** The breaker's name. */
  readonly name: string;
  /** The current state, as this replica sees it. */
  readonly state: BreakerState;
  /**
   * `'healthy'`, or `'degraded'` after `storeFailureThreshold` consecutive store failures, while
   * the breaker answers `onStoreError` without waiting on the store.
   */
  readonly storeStatus: StoreStatus;
  /** Window counts, ratios and the store's health. */
  stats(): CircuitBreakerStats;
  /**
   * Forces the breaker open across the fleet: calls reject with `IsolatedCircuitError` until
   * `reset()`, or for `forMs` milliseconds after which the next call probes.
   */
  isolate(options?: { forMs?: number }): Promise<void>;
  /** Closes the breaker across the fleet with an empty window (also ends `isolate()` and `disable()`). */
  reset(): Promise<void>;
  /** Lets every call through across the fleet, still measuring, until `reset()`. */
  disable(): Promise<void>;
  /** Subscribes to state changes seen by this replica; returns the disposer. */
  onStateChange(listener: (event: StateChangeEvent) => void): () => void;
  /**
   * Subscribes to calls that counted as successes; returns the disposer. Calls already running
   * when it subscribed may go unreported (unless something else measured their duration).
   */
  onSuccess(listener: (event: SuccessEvent) => void): () => void;
  /**
   * Subscribes to calls that counted as failures; returns the disposer. Calls already running
   * when it subscribed may go unreported (unless something else measured their duration).
   */
  onFailure(listener: (event: FailureEvent) => void): () => void;
  /** Subscribes to rejected calls; returns the disposer. */
  onRejected(listener: (event: RejectedEvent) => void): () => void;
  /**
   * Subscribes to the store degrading and recovering; returns the disposer. Each change is core's
   * `StoreStatusChange`: `{ policy, pattern: 'circuit-breaker', store, status, error? }`.
   */
  onStoreStatusChange(listener: StoreStatusListener): Disposer;
  /** The state as JSON, to pass as `initialState` to a later breaker (serverless). */
  toJSON(): CircuitBreakerSnapshot;
  /**
   * Serverless: writes the outcomes counted locally to the store now and waits for a
   * synchronisation in flight, so nothing waits for the `syncIntervalMs` timer, which does not run
   * while the process is frozen. Each write is bounded by `storeDeadlineMs`. Rejects with the
   * `StoreError` when the store's last operation failed (the counts may not have reached it); the
   * breaker keeps working either way. With `consistency: 'strict'` there is nothing left to write.
   * See `serverless()` of `@breakwater/core`.
   */
  settle(): Promise<void>;
  /**
   * Flushes unflushed counts (best effort) and stops every timer and subscription the breaker
   * owns. Completes within `storeDeadlineMs` with the store up, refusing connections or hung. The
   * breaker still works afterwards, without background synchronisation. Close the store after its
   * breakers (`store.close()`).
   */
  close(): Promise<void>;
}

/**
 * Creates a circuit breaker. With the default memory store it is a classic single-process
 * breaker; with `redisStore()` or `dynamoStore()` every replica shares one state.
 *
 * @example
 * const breaker = circuitBreaker({ name: 'payments', failureRatio: 0.5, breakDurationMs: 30_000 });
 * const receipt = await breaker.execute(({ signal }) => charge(order, { signal }));
 */
export function circuitBreaker<R = never>(options?: CircuitBreakerOptions<R>): CircuitBreaker<R> {
  return new BreakerPolicy<R>(options);
}

/**
 * A breaker that also accepts outcomes of calls it did not run, and hands out probe leases to a
 * caller that runs the probe itself. Internal: the opossum bridge drives one.
 */
export interface ObservedBreaker extends CircuitBreaker {
  /** Counts a call that ran elsewhere. */
  observe(failed: boolean, durationMs: number): void;
  /**
   * Asks the store for a half-open probe lease: a token when granted, `'closed'` when the breaker
   * turned out to be closed, `undefined` when refused.
   */
  acquireProbeLease(): Promise<string | undefined>;
  /** Ends a lease from {@link acquireProbeLease}. */
  releaseProbeLease(token: string, result: ProbeResult): Promise<void>;
  /** Whether the break is over (an open breaker may probe). */
  breakOver(): boolean;
  /** Starts synchronising now rather than at the first call (a bridge hears of transitions at once). */
  connect(): void;
}

/** Creates an {@link ObservedBreaker}. Internal. */
export function observedBreaker(options: CircuitBreakerOptions): ObservedBreaker {
  // Only the opossum bridge builds one: unknown options are reported as `shareState()`'s.
  return new ObservedBreakerPolicy(options, 'shareState()');
}
