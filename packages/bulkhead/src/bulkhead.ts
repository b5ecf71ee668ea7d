/**
 * The bulkhead's public surface: the public shape of a bulkhead — what `fn` receives, the per-call
 * options, what rejection listeners get, and the `Bulkhead` interface itself — and `bulkhead()`,
 * which builds one.
 *
 * The parts behind it live in policy/: the policy (policy.ts) over its local slot accounting
 * (slots.ts, with a queue per class in waiter-heap.ts), the fleet permits that talk to the permit
 * store (fleet-permits.ts, through core's store call path), the permit a call holds and the keeper
 * that renews its lease (held-permit.ts, lease-keeper.ts), the call timings behind the adaptive
 * limit and `retryAfterMs` (call-timings.ts), the reporting of refusals (rejections.ts) and
 * one-shot timers (timer.ts).
 */
import type {
  Disposer,
  ExecuteOptions,
  ExecutionContext,
  HealthReporting,
  Policy,
  StoreStatus,
  StoreStatusListener,
} from '@breakwater/core';
import type { BulkheadRejectedError, BulkheadRejectionReason } from './errors.js';
import { warnUnknownBulkheadOptions } from './known-options.js';
import { type BulkheadOptions, type DEFAULTS, resolveOptions } from './options.js';
import { BulkheadPolicy } from './policy/policy.js';

/** What `fn` receives inside a bulkhead. */
export interface BulkheadContext extends ExecutionContext {
  /**
   * The fencing token of the fleet permit the call holds (strictly increasing across the fleet),
   * to pass to a downstream that can refuse stale holders; `undefined` for a local bulkhead or a
   * call admitted without a permit (`onStoreError: 'fail-open' | 'local'`).
   */
  readonly fencingToken: number | undefined;
}

/**
 * Per-call options of {@link Bulkhead.execute}. `K`: the names of the bulkhead's priority classes.
 */
export interface BulkheadExecuteOptions<K extends string = string> extends ExecuteOptions {
  /** The call's priority class (a key of `classes`). @default the bulkhead's `defaultPriority` */
  readonly priority?: K | undefined;
  /** The key (tenant, user) the `perKey` caps apply to; ignored without `perKey`. */
  readonly key?: string | undefined;
}

/** What {@link Bulkhead.onRejected} listeners receive. */
export interface BulkheadRejection<K extends string = string> {
  /** Why the call was refused. */
  readonly reason: BulkheadRejectionReason;
  /** The call's priority class. */
  readonly priority: K;
  /** The call's key, if it had one. */
  readonly key: string | undefined;
  /** The error the call was rejected with. */
  readonly error: BulkheadRejectedError;
}

/**
 * A bulkhead: caps how many calls run at once, locally or across a fleet. `K`: the names of its
 * priority classes, which `bulkhead()` reads off the keys of `classes`.
 */
export interface Bulkhead<K extends string = string>
  extends Policy<BulkheadContext>,
    HealthReporting {
  /** The bulkhead's name. */
  readonly name: string;
  /** The current limit (the adaptive limit's value, or the fixed `maxConcurrent`). */
  readonly maxConcurrent: number;
  /** Calls of this process running `fn` now. */
  readonly active: number;
  /** Calls of this process waiting for a slot or a fleet permit. */
  readonly queued: number;
  /**
   * Runs `fn` once a slot (and, with a store, a fleet permit) is free. Rejects with a
   * {@link BulkheadRejectedError} when the queue is full or the wait too long, with
   * `signal.reason` when the caller aborts, and otherwise settles like `fn`.
   * @throws {TypeError} (as a rejection, before taking a slot) when `fn` is not a function.
   * @throws {RangeError} (as a rejection) for a `priority` that is not a class of the bulkhead.
   */
  execute<T>(
    fn: (ctx: BulkheadContext) => T | PromiseLike<T>,
    options?: BulkheadExecuteOptions<K>,
  ): Promise<T>;
  /**
   * The fleet as this replica sees it, when the local cap of `onStoreError: 'local'` follows the
   * fleet's size (a Redis or DynamoDB store, `onStoreError: 'local'`, no `localMaxConcurrent`);
   * `undefined` otherwise.
   */
  readonly replicas: ReplicaCount | undefined;
  /**
   * `'healthy'`, or `'degraded'` after `storeFailureThreshold` consecutive permit store failures:
   * calls then take the `onStoreError` answer at once until a background probe finds the store
   * back. Always `'healthy'` for a local bulkhead.
   */
  readonly storeStatus: StoreStatus;
  /**
   * Subscribes to rejections; returns the disposer.
   * @throws {TypeError} naming `listener` when it is not a function.
   */
  onRejected(listener: (rejection: BulkheadRejection<K>) => void): Disposer;
  /**
   * Subscribes to the permit store's status: called once when it becomes `'degraded'` and once
   * when it is `'healthy'` again, with core's `StoreStatusChange`
   * (`{ policy, pattern: 'bulkhead', store, status, error? }`). Returns the disposer; a local
   * bulkhead has no store and never calls it.
   * @throws {TypeError} naming `listener` when it is not a function.
   */
  onStoreStatusChange(listener: StoreStatusListener): Disposer;
  /**
   * Serverless: waits for the permit releases still under way (a call's permit is given back in
   * the background after its result is returned), each bounded by the store deadline, so that a
   * process frozen right after the invocation holds no permit until its lease expires. Rejects
   * with the `StoreError` when the store's last operation failed. A local bulkhead resolves at
   * once. See `serverless()` of `@breakwater/core`.
   */
  settle(): Promise<void>;
  /**
   * Waits for pending permit releases and store operations in flight (each ends by the store
   * deadline at the latest, with the store up, refused or hung), leaves the replica registry (best
   * effort: an entry left behind expires after `replicaTtlMs`) and stops its heartbeats, stops the
   * background probe and stops listening for fleet wake-ups. Closes nothing the user passed in, nor the store (close it
   * with `store.close()`; one store may serve several bulkheads).
   */
  close(): Promise<void>;
  /** `close()`, for `await using db = bulkhead(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The live replica count of a fleet bulkhead, from its replica registry. */
export interface ReplicaCount {
  /** Live replicas, this one included, from the last heartbeat the store answered (1 before any). */
  readonly count: number;
  /** Milliseconds since `count` was read from the store; `undefined` before the first answer. */
  readonly ageMs: number | undefined;
  /**
   * The most calls this replica runs while it starts calls without a fleet permit:
   * `max(1, floor(maxConcurrent / count))`.
   */
  readonly localMaxConcurrent: number;
}

/**
 * Creates a bulkhead. It needs a limit: a fixed `maxConcurrent`, or an adaptive `limit`. Its
 * priority classes are the keys of `classes` (one class, `'default'`, without), and the type of
 * the bulkhead carries them, so a `priority` that is not one of them does not compile.
 *
 * @example
 * const db = bulkhead({
 *   name: 'db',
 *   maxConcurrent: 40,
 *   maxQueue: 100,
 *   maxWaitMs: 2_000,
 *   classes: { critical: { reserved: 20 }, background: {} },
 * });
 * const rows = await db.execute(({ signal }) => query(sql, { signal }), { priority: 'critical' });
 *
 * An option it does not know is ignored, with a warning (once per option and process, code
 * `BREAKWATER_UNKNOWN_OPTION`) that names what to use instead of p-limit's and bottleneck's.
 *
 * @throws {TypeError | RangeError} naming the option, for invalid options (JavaScript callers
 *   included: without `maxConcurrent` or `limit`, or with both).
 */
export function bulkhead<K extends string = DefaultClass>(
  options: BulkheadOptions<K>,
): Bulkhead<K> {
  const resolved = resolveOptions(options);
  warnUnknownBulkheadOptions(options);
  return new BulkheadPolicy<K>(resolved);
}

/** The one class of a bulkhead without `classes`: `'default'`. */
type DefaultClass = (typeof DEFAULTS)['className'];
