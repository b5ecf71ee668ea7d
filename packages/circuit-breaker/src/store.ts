/**
 * The store interface of the circuit breaker: the few atomic operations a breaker needs from the
 * place its state lives. The policy (circuit-breaker.ts) is written once against it; every store
 * (memory, Redis, DynamoDB) implements exactly these operations and passes the same contract suite.
 *
 * A store holds one record per breaker name: the state, its version, the shared outcome window, the
 * half-open probe leases and the quorum reporters. Every operation settles time-driven changes
 * first (a stuck half-open re-opens, an isolation with an end expires), then applies its change
 * atomically and answers with a {@link BreakerView} of the result.
 */

/**
 * The states of a breaker. `isolated` is a manual, forced open; `disabled` lets every call through
 * and still measures.
 */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated' | 'disabled';

/** Every state, in a fixed order (metrics report one series per state). */
export const BREAKER_STATES: readonly BreakerState[] = [
  'closed',
  'open',
  'half-open',
  'isolated',
  'disabled',
];

/**
 * The static rules of one breaker, resolved from its options once. Stores receive them when a
 * breaker scopes the store, so shared state is always judged by the rules of the breaker that
 * changes it.
 */
export interface BreakerRules {
  /** `'count'`: the last {@link windowSize} calls; `'time'`: the last `windowSize` buckets. */
  readonly windowKind: 'count' | 'time';
  /** Calls in a count window, or buckets in a time window. */
  readonly windowSize: number;
  /** Width of one bucket of a time window in milliseconds (unused by count windows). */
  readonly bucketMs: number;
  /** Calls the window must hold before a ratio may trip the breaker. */
  readonly minimumThroughput: number;
  /** Failure ratio that trips the breaker; 0 = not a trip condition. */
  readonly failureRatio: number;
  /** Slow-call ratio that trips the breaker; 0 = not a trip condition. */
  readonly slowCallRatio: number;
  /** Consecutive failures that trip the breaker; 0 = not a trip condition. */
  readonly consecutiveFailures: number;
  /**
   * Break duration in milliseconds after the n-th consecutive opening at index n − 1; openings
   * beyond the last entry use the last entry.
   */
  readonly breakDurationsMs: readonly number[];
  /** Probe leases granted at most at once across all replicas while half-open. */
  readonly halfOpenMaxCalls: number;
  /** Successful probes that close the breaker. */
  readonly halfOpenSuccessThreshold: number;
  /** A half-open state older than this re-opens the breaker. */
  readonly halfOpenMaxDurationMs: number;
  /** How long a probe lease lives; a probe whose replica died frees its slot after this. */
  readonly probeLeaseMs: number;
  /** Distinct replicas that must have reported failures for the breaker to trip (1 = no quorum). */
  readonly quorumReplicas: number;
  /** How long a replica's failure report counts towards the quorum, in milliseconds. */
  readonly quorumWindowMs: number;
  /** A record nobody touched for this long may be expired by the store. */
  readonly recordTtlMs: number;
}

/** What a store says about a breaker after an operation. */
export interface BreakerView {
  /** The current state. */
  readonly state: BreakerState;
  /** Increases with every transition of the record; replicas use it to order pushed views. */
  readonly version: number;
  /**
   * Identifies the record's life: set when the record is created (its creation time). When a
   * record expires or is replaced, its successor starts again at version 0 with another
   * generation, so versions are only compared within one generation.
   */
  readonly generation: number;
  /**
   * For `open`: milliseconds left until the break ends (0 = over). For `isolated`: milliseconds
   * left, or −1 when the isolation has no end. Otherwise 0. Relative, so that replicas whose
   * clocks differ from the store's convert it with their own clock.
   */
  readonly remainingMs: number;
  /** Openings in a row without a successful close in between. */
  readonly consecutiveOpens: number;
  /** Failures in a row in the shared window. */
  readonly consecutiveFailures: number;
  /** Calls in the shared window. */
  readonly calls: number;
  /** Failed calls in the shared window. */
  readonly failures: number;
  /** Slow calls in the shared window. */
  readonly slowCalls: number;
  /** Probe leases held right now (half-open only). */
  readonly probes: number;
  /** The store found a malformed or foreign record under the breaker's key and replaced it. */
  readonly replaced: boolean;
}

/** Outcomes a replica counted since its last flush, merged into the shared window in one operation. */
export interface OutcomeBatch {
  /** Calls that did not fail. */
  successes: number;
  /** Calls that failed. */
  failures: number;
  /** Calls (failed or not) slower than the slow-call threshold. */
  slowCalls: number;
  /** Failures at the end of the batch after its last success. */
  trailingFailures: number;
}

/** What a store answers when asked for a probe slot. */
export type ProbeDecision =
  /** The breaker is closed or disabled: run the call normally. */
  | 'admit'
  /** A probe lease was granted: run the call as a half-open probe, then release the lease. */
  | 'probe'
  /** The breaker is open, isolated, or every probe slot is taken. */
  | 'reject';

/** The answer to {@link BreakerScope.acquireProbe}. */
export interface ProbeAnswer {
  /** What the caller may do. */
  readonly decision: ProbeDecision;
  /** The breaker after the operation. */
  readonly view: BreakerView;
}

/** How a probe ended. `ignored`: the call was aborted or its error is not handled. */
export type ProbeResult = 'success' | 'failure' | 'ignored';

/** A manual, fleet-wide control. */
export type BreakerCommand =
  | {
      readonly type: 'isolate' /** Isolation length; 0 = until `reset()`. */;
      readonly forMs: number;
    }
  | { readonly type: 'reset' }
  | { readonly type: 'disable' };

/** The state a breaker starts from when its record does not exist yet (see `initialState`). */
export interface BreakerSeed {
  /** The state to start in. */
  readonly state: BreakerState;
  /** Milliseconds left open or isolated (−1 = isolated with no end). */
  readonly remainingMs: number;
  /** Openings in a row so far. */
  readonly consecutiveOpens: number;
  /** Failures in a row so far. */
  readonly consecutiveFailures: number;
  /** Window counts to start with. */
  readonly calls: number;
  /** Failed calls among {@link calls}. */
  readonly failures: number;
  /** Slow calls among {@link calls}. */
  readonly slowCalls: number;
  /** The record version to start from (a stand-in continues its original's numbering). @default 1 */
  readonly version?: number;
}

/**
 * A value or a promise of it. The in-memory store answers synchronously, so the policy applies its
 * answers without a microtask; network stores answer with promises.
 */
export type MaybePromise<T> = T | Promise<T>;

/** A listener for views a store pushes to every replica when another replica changes the state. */
export type BreakerViewListener = (view: BreakerView) => void;

/**
 * The store operations of one breaker: the store scoped to its name and rules (what
 * {@link BreakerStore.scope} returns). Every operation is atomic. `now` is the caller's clock in
 * epoch milliseconds; stores with a clock of their own (Redis `TIME`) ignore it. `signal` is
 * passed only to a scope that is {@link abortable}: it aborts when the store deadline passes.
 *
 * The breaker calls these through core's store call path (`StoreCalls`), which bounds each one by
 * `storeDeadlineMs`, so a scope needs no deadline of its own. An in-process scope should answer
 * synchronously: the call path passes a synchronous answer straight through, with no promise and
 * no timer.
 */
export interface BreakerScope {
  /**
   * Whether the operations stop their request when their `signal` aborts (a DynamoDB request).
   * The breaker then gives each operation a signal of its own, aborted at the deadline; otherwise
   * it creates none.
   * @default false
   */
  readonly abortable?: boolean | undefined;
  /** Settles time-driven changes and answers the current view. */
  read(now: number, signal?: AbortSignal): MaybePromise<BreakerView>;
  /**
   * Merges `batch` into the shared window (closed or disabled only; outcomes reaching an open
   * breaker are stale and dropped) and opens the breaker when a trip condition holds.
   * @param replica Identifies the reporting replica for the open quorum.
   */
  record(
    batch: OutcomeBatch,
    replica: string,
    now: number,
    signal?: AbortSignal,
  ): MaybePromise<BreakerView>;
  /**
   * Asks to run a call while the breaker is not closed. Moves an open breaker whose break is
   * over to half-open, and grants a lease `token` while fewer than `halfOpenMaxCalls` are held.
   */
  acquireProbe(token: string, now: number, signal?: AbortSignal): MaybePromise<ProbeAnswer>;
  /** Ends the probe holding `token`: successes close the breaker, a failure re-opens it. */
  releaseProbe(
    token: string,
    result: ProbeResult,
    now: number,
    signal?: AbortSignal,
  ): MaybePromise<BreakerView>;
  /** Applies a manual control. */
  command(command: BreakerCommand, now: number, signal?: AbortSignal): MaybePromise<BreakerView>;
  /** Creates the record from `seed` if none exists; otherwise leaves it alone. Answers the view. */
  seed(seed: BreakerSeed, now: number, signal?: AbortSignal): MaybePromise<BreakerView>;
  /**
   * Subscribes to the views the store pushes after transitions. Absent when the store cannot
   * push; the policy then polls {@link read} every `syncIntervalMs`.
   * @param onGap Called when pushes may have been missed — the subscription just became active,
   *   or its connection came back — so the policy re-reads the state.
   */
  subscribe?(listener: BreakerViewListener, onGap?: () => void): () => void;
  /**
   * A cheap request proving the store answers again: a `return 1` script on the breaker's key (so
   * a Cluster asks the node that owns its slot), a GetItem of its item. While the store is
   * degraded the breaker runs it in the background, under the deadline, once per
   * `storeProbeIntervalMs`. Without it, one real operation per interval is let through as the
   * probe.
   */
  probe?(signal: AbortSignal): PromiseLike<unknown>;
}

/** Where breakers keep their state. Create one per process and share it between breakers. */
export interface BreakerStore {
  /** The store kind reported in telemetry: `'memory'`, `'redis'`, `'dynamodb'`, … */
  readonly kind: string;
  /**
   * How often breakers on this store flush counts and resync when their options do not say,
   * in milliseconds. 0 means operations are local and cheap enough to run on every call.
   */
  readonly defaultSyncIntervalMs: number;
  /** Scopes the store to the breaker `name` with its `rules`. Called once, when the breaker is built. */
  scope(name: string, rules: BreakerRules): BreakerScope;
  /**
   * Closes what the store opened itself (a Redis subscriber connection), never a client you passed
   * in. Completes at once, or within the store deadline for a connection of yours, with the store
   * up, refusing connections or hung. Close the breakers first.
   */
  close(): Promise<void>;
  /** `close()`, for `await using store = redisStore(…)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Whether `value` looks like a {@link BreakerStore}. */
export function isBreakerStore(value: unknown): value is BreakerStore {
  if (typeof value !== 'object' || value === null) return false;
  const store = value as Partial<BreakerStore>;
  return (
    typeof store.kind === 'string' &&
    typeof store.scope === 'function' &&
    typeof store.defaultSyncIntervalMs === 'number'
  );
}
