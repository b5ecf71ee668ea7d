/**
 * The public shape of a rate limiter, the options of its calls, and its one factory.
 *
 * This file is the public surface. The limiter behind it lives in limiter/: the limiter itself
 * (limiter.ts: every decision path, written once against the store interface), the operations of a
 * remote store on core's store call path and their `onStoreError` answers (store-ops.ts), the local
 * deny cache (deny-cache.ts), reserved permits (reservations.ts), the per-key lines of `acquire()`
 * (waiters.ts) and how a decision is read out of a key's state (describe-decision.ts). The
 * all-or-nothing operations on a key's state that the memory and DynamoDB stores run are not the
 * limiter's: they sit beside the stores, in key-state.ts.
 */
import type {
  Disposer,
  ExecuteOptions,
  ExecutionContext,
  HealthReporting,
  Policy,
  StoreStatus,
  StoreStatusChange,
} from '@breakwater/core';
import type { AlgorithmName } from './algorithms/limit.js';
import type { RateLimitDecision } from './decision.js';
import { Limiter } from './limiter/limiter.js';
import {
  type LimitOptions,
  type LimitsFunction,
  type RateLimiterOptions,
  resolveOptions,
  type SetLimitsOptions,
} from './options.js';

/** Per-call options of {@link RateLimiter.limit} and {@link RateLimiter.peek}. */
export interface LimitCallOptions {
  /**
   * Weight of the call; a finite number > 0, at most what the limits admit at once.
   * @default 1
   */
  cost?: number | undefined;
  /** Cancels the store call; the method then rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
}

/** Per-call options of {@link RateLimiter.acquire}. */
export interface AcquireOptions extends LimitCallOptions {
  /**
   * The longest the call may wait, in milliseconds (≥ 0). When the key cannot be admitted within
   * it, `acquire` rejects at once with a {@link RateLimitedError} rather than waiting in vain.
   * @default Infinity
   */
  maxWaitMs?: number | undefined;
}

/** Per-call options of {@link RateLimiter.execute}. */
export interface RateLimitExecuteOptions extends ExecuteOptions {
  /**
   * The key whose limit the call counts against. Calls without one share the limiter's
   * policy-wide limit (the store key of an empty user key).
   */
  key?: string | undefined;
  /**
   * Weight of the call.
   * @default 1
   */
  cost?: number | undefined;
  /**
   * Wait up to this long for a permit (like {@link RateLimiter.acquire}) instead of rejecting at
   * once.
   * @default 0
   */
  maxWaitMs?: number | undefined;
}

/** One limit of a limiter, as in force now. */
export interface LimitDefinition {
  /**
   * Cost admitted per interval at the sustained rate, for the whole fleet: with `perReplica`,
   * `perReplica × N` for the fleet's size N as last counted.
   */
  readonly limit: number;
  /** The interval, in milliseconds. */
  readonly intervalMs: number;
  /** Extra cost admitted on top of the sustained rate (with `perReplica`, `× N` too). */
  readonly burst: number;
  /** The algorithm metering it. */
  readonly algorithm: AlgorithmName;
  /** The configured `{ perReplica }` of a limit that follows the fleet; absent otherwise. */
  readonly perReplica?: number | undefined;
}

/** A rate limiter; see {@link rateLimiter}. */
export interface RateLimiter extends Policy<ExecutionContext>, HealthReporting {
  /** The limiter's name. */
  readonly name: string;
  /** The limiter's algorithm (the default of its limits). */
  readonly algorithm: AlgorithmName;
  /**
   * The limits in force, checked and consumed together. A `perReplica` limit shows its fleet
   * value (`perReplica × N`): the array is replaced when N changes. Empty for a limiter built with
   * a `limits` function: each key has its own (the decisions say which bound them).
   */
  readonly limits: readonly LimitDefinition[];
  /** The store kind: `'memory'`, `'redis'`, `'dynamodb'`. */
  readonly storeKind: string;
  /**
   * `'degraded'` after `storeFailureThreshold` consecutive store failures, until the store answers
   * again (decisions then take the `onStoreError` answer at once); `'healthy'` otherwise. Always
   * `'healthy'` for an in-process store.
   */
  readonly storeStatus: StoreStatus;
  /**
   * Decides whether a call of `cost` for `key` may proceed, and consumes the cost if so. At most
   * one store round trip; none when the deny cache or a reservation answers.
   * @throws {TypeError | RangeError} for an empty key or a cost the limits can never admit.
   */
  limit(key: string, options?: LimitCallOptions): Promise<RateLimitDecision>;
  /**
   * The fleet as this replica sees it, when the limiter counts it (a remote store, and a
   * `perReplica` limit or `onStoreError: 'local'` without `localShare`); `undefined` otherwise.
   */
  readonly replicas: ReplicaCount | undefined;
  /** Whether a call of `cost` would be admitted now, without consuming anything. */
  peek(key: string, options?: LimitCallOptions): Promise<RateLimitDecision>;
  /**
   * Forgets `key` in the store (and in this replica's caches): its full allowance is back.
   * @throws {StoreError} naming `reset` when the store fails, misses `storeDeadlineMs`, or is
   *   degraded (then at once, the last failure as `cause`).
   */
  reset(key: string, options?: { signal?: AbortSignal | undefined }): Promise<void>;
  /**
   * Replaces the limits at run time, on this replica: from the next decision on, this limiter
   * decides under `limits` (the single-limit `{ limit, intervalMs, burst?, algorithm? }` or a
   * `limits` array, validated like `rateLimiter()`'s). Decisions already sent to the store finish
   * under the old limits. The keys' state stays in the store and is read under the new limits (an
   * algorithm change starts every key afresh: it changes the state layout). Other replicas keep
   * theirs: to change the limits of the whole fleet, pass `{ fleet: true }` (below). Clears the
   * deny cache; under `onStoreError: 'local'` the local shares start afresh.
   *
   * A limiter built with a `limits` function takes a new function instead: every key's cached
   * plan is dropped, and each key asks the new function on its next call.
   * @throws {TypeError | RangeError} naming the option, for invalid limits (the limits in force
   *   stay); for a `{ perReplica }` limit on a limiter that counts no fleet; for limits admitting
   *   less at once than `reserve.batch`; for fixed limits on a limiter built with a function, or
   *   the other way round.
   */
  setLimits(limits: LimitOptions | readonly LimitOptions[] | LimitsFunction): void;
  /**
   * Replaces the limits of the whole fleet: validates them as above, publishes them through the
   * store as the next version of the limiter's limits record (one write, under `storeDeadlineMs`),
   * and puts them in force on this replica once written. Every replica of the limiter (same name,
   * same store and prefix) adopts them within one `limitsSyncIntervalMs`, as one change, with the
   * same guarantees as above: decisions already sent finish under the limits they were sent with.
   * A replica started later adopts them at its first read, one interval after it was built.
   * Concurrent publishers each get their
   * own version; the highest wins everywhere.
   * @throws {TypeError | RangeError} as above, for a limiter built with a `limits` function, and
   *   for a store without `readLimits()` / `writeLimits()` (nothing is written then).
   * @throws {StoreError} naming `write-limits` when the store fails, misses `storeDeadlineMs`, or
   *   is degraded: the limits in force stay, on every replica.
   */
  setLimits(
    limits: LimitOptions | readonly LimitOptions[],
    options: SetLimitsOptions,
  ): Promise<void>;
  /**
   * Charges `key` `points` more (default 1) after the fact, whatever it fits, atomically in the
   * store: e.g. a failed login costs extra. Each limit of the key loses up to `points` of what it
   * has left, and never goes past fully used (see the README, "Penalty and reward", for what that
   * means per algorithm). Resolves with the key's state afterwards, as a peek of cost 1 reads it.
   * @throws {TypeError | RangeError} for an empty key or `points` that is not a finite number > 0.
   * @throws {StoreError} naming `adjust` when the store fails, misses `storeDeadlineMs`, or is
   *   degraded.
   */
  penalty(
    key: string,
    points?: number,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<RateLimitDecision>;
  /**
   * Gives `key` `points` back (default 1), atomically in the store: e.g. a call that turned out to
   * be free. Each limit gets back up to `points`, never past a fresh key. Resolves like
   * {@link penalty}.
   * @throws {TypeError | RangeError} for an empty key or `points` that is not a finite number > 0.
   * @throws {StoreError} naming `adjust` when the store fails, misses `storeDeadlineMs`, or is
   *   degraded.
   */
  reward(
    key: string,
    points?: number,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<RateLimitDecision>;
  /**
   * Waits until `key` admits `cost`, then consumes it. Sleeps until the store says the call fits
   * (never polls in a tight loop); waiters of one key in this process are served in order, and only
   * the first of them asks the store.
   * @throws {RateLimitedError} when the wait would exceed `maxWaitMs`.
   * @throws the signal's reason when it aborts.
   */
  acquire(key: string, options?: AcquireOptions): Promise<RateLimitDecision>;
  /**
   * Runs `fn` if the call is admitted; rejects with {@link RateLimitedError} otherwise.
   */
  execute<T>(
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    options?: RateLimitExecuteOptions,
  ): Promise<T>;
  /**
   * Subscribes to store status changes (`{ policy, pattern, store, status, error? }`, core's
   * shape); returns the disposer. A listener that throws becomes a process warning.
   * @throws {TypeError} when `listener` is not a function.
   */
  onStoreStatusChange(listener: (change: StoreStatusChange) => void): Disposer;
  /**
   * Serverless: gives the unused reserved permits (`reserve`) back to the store now, one refund
   * per key, each bounded by `storeDeadlineMs`, so that none sits in a frozen process until
   * `holdMs` drops it; the limiter keeps reserving afterwards. Rejects with the `StoreError` when
   * the store's last operation failed. Without `reserve` it only reports that error.
   * See `serverless()` of `@breakwater/core`.
   */
  settle(): Promise<void>;
  /**
   * Returns unused reserved permits to the store, leaves the replica registry (best effort: an
   * entry left behind expires after `replicaTtlMs`), stops its heartbeats, its gauges and the
   * background probe, and waits for the store operations in flight: each is bounded by
   * `storeDeadlineMs`, so `close()` completes with the store up, refusing connections or hung.
   * The limiter stays usable, without reserving, and its local share and `perReplica` limits keep
   * the last known fleet size. Does not close the store (which other limiters may share) nor your
   * client.
   */
  close(): Promise<void>;
  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The live replica count of a limiter's fleet, from its replica registry. */
export interface ReplicaCount {
  /** Live replicas, this one included, from the last heartbeat the store answered (1 before any). */
  readonly count: number;
  /** Milliseconds since `count` was read from the store; `undefined` before the first answer. */
  readonly ageMs: number | undefined;
  /**
   * The share of each fleet limit this replica enforces while the store fails (`1 / count`, or
   * `localShare`); `undefined` unless `onStoreError` is `'local'`.
   */
  readonly localShare: number | undefined;
}

/**
 * Creates a rate limiter.
 *
 * @example
 * const limiter = rateLimiter({ name: 'partner-api', limit: 100, intervalMs: 1000, burst: 20 });
 * const decision = await limiter.limit('tenant-42');
 * if (!decision.allowed) res.writeHead(429, rateLimitHeaders(decision, limiter));
 *
 * @throws {TypeError | RangeError} naming the option, for invalid options.
 */
export function rateLimiter(options: RateLimiterOptions): RateLimiter {
  return new Limiter(resolveOptions(options));
}
