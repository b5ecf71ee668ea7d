/**
 * The public face of the cache: the {@link Cache} interface and the {@link cache} factory.
 */
import type { Disposer, HealthReporting, StoreStatus, StoreStatusListener } from '@breakwater/core';
import { CacheEngine } from './engine/cache-engine.js';
import type { Loader, LoaderContext } from './loader-run.js';
import {
  type CacheOptions,
  type GetOrLoadOptions,
  resolveOptions,
  type SetOptions,
} from './options.js';

/** Options of {@link Cache.wrap}: how to derive the key from the arguments, plus per-call options. */
export interface WrapOptions<A extends unknown[]> extends Omit<GetOrLoadOptions, 'signal'> {
  /** The cache key of a call. */
  key: (...args: A) => string;
}

/** Options of {@link Cache.write}. */
export interface WriteOptions extends SetOptions {
  /** Passed to `persist`; aborting it rejects the write (and invalidates the key). */
  signal?: AbortSignal | undefined;
}

/** Context handed to the `persist` function of {@link Cache.write}. */
export interface PersistContext {
  /** The caller's signal, if any. */
  readonly signal: AbortSignal | undefined;
}

/** A two-tier cache. */
export interface Cache extends HealthReporting {
  /** The cache's name. */
  readonly name: string;
  /**
   * Cache-aside read: the cached value of `key`, or the loader's result, cached on the way. One
   * load per key at a time in this process (single flight) and, with an L2 store that supports
   * leases, in the whole fleet. Serves stale values while refreshing (`staleMs`) and values in
   * grace when the loader fails (`graceMs`). A loader result of `undefined` means "not found".
   *
   * Concurrent callers of one key share the first caller's load and options.
   *
   * @throws {TypeError} for an empty or non-string key.
   * @throws whatever the loader threw (when no value in grace can stand in), core's
   *   `TimeoutError` after `hardTimeoutMs`, a {@link CacheCodecError} for a value the codec cannot
   *   encode, `signal.reason` when the caller's signal aborts, and a `StoreError` only with
   *   `onStoreError: 'fail-closed'`.
   */
  getOrLoad<T>(key: string, loader: Loader<T>, options?: GetOrLoadOptions): Promise<T>;
  /**
   * The cached value of `key` if it is fresh or stale, else `undefined`. Never loads.
   * @throws {TypeError} for an invalid key; a `StoreError` only with `onStoreError: 'fail-closed'`.
   */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /**
   * Caches `value` under `key` in every tier and drops older copies from every replica's L1.
   * @throws {TypeError} for an invalid key; {@link CacheCodecError} for a value the codec cannot
   *   encode; a `StoreError` only with `onStoreError: 'fail-closed'`.
   */
  set<T>(key: string, value: T, options?: SetOptions): Promise<void>;
  /**
   * Removes `key` from every tier and every replica's L1.
   * @throws {TypeError} for an invalid key; a `StoreError` only with `onStoreError: 'fail-closed'`.
   */
  delete(key: string): Promise<void>;
  /**
   * Invalidates every entry carrying one of `tags`, in all tiers and replicas, with one store
   * operation per tag (tag versions, not scans).
   * @throws {TypeError} for invalid tags; a `StoreError` only with `onStoreError: 'fail-closed'`.
   */
  invalidateTags(tags: readonly string[]): Promise<void>;
  /**
   * Write-through: persists `value` with `persist` first, then caches it. If `persist` fails,
   * the key is invalidated (the database may or may not hold the new value) and its error is
   * rethrown. The value is encoded before `persist` runs, so an uncacheable value fails early.
   */
  write<T>(
    key: string,
    value: T,
    persist: (value: T, context: PersistContext) => unknown,
    options?: WriteOptions,
  ): Promise<void>;
  /**
   * Wraps a function so that its results are cached under `options.key(...args)`.
   * @example const getUser = c.wrap((id: string) => db.loadUser(id), { key: (id) => `user:${id}` });
   */
  wrap<A extends unknown[], T>(
    fn: (...args: A) => T | PromiseLike<T>,
    options: WrapOptions<A>,
  ): (...args: A) => Promise<Awaited<T>>;
  /** Empties this process's L1 (other replicas and the L2 are untouched). */
  clearL1(): void;
  /**
   * The L2 store's status: `'degraded'` after `storeFailureThreshold` consecutive store failures
   * (calls then take their `onStoreError` answer without waiting on the store), `'healthy'`
   * otherwise. Always `'healthy'` without an L2.
   */
  readonly storeStatus: StoreStatus;
  /**
   * Subscribes to the L2 store's status changes, one event of core's `StoreStatusChange` shape per
   * change: `{ policy, pattern: 'cache', store, status: 'degraded', error }` when the store
   * degrades, `{ policy, pattern, store, status: 'healthy' }` when a probe finds it back. Returns
   * the disposer.
   * @throws {TypeError} when `listener` is not a function.
   */
  onStoreStatusChange(listener: StoreStatusListener): Disposer;
  /**
   * Serverless: waits for the store writes nobody awaits (a load's write to the L2, the release
   * of its stampede lease), each bounded by `storeDeadlineMs`, so that a process frozen right
   * after the invocation leaves no lease to expire and no loaded value unwritten. Never rejects
   * (those writes are best effort; their failures count in the store telemetry). See
   * `serverless()` of `@breakwater/core`.
   */
  settle(): Promise<void>;
  /**
   * Unsubscribes from the invalidation bus, aborts running loads (releasing their leases), waits
   * for store operations still in flight (a load's write is not awaited by its callers; each is
   * bounded by `storeDeadlineMs`, so this completes within about one deadline whether the store is
   * up, refusing connections or hung), stops the store probe, and empties the L1. Call it before
   * closing the store (`store.close()`) and your clients, which stay yours. Calling it again
   * returns the same promise.
   */
  close(): Promise<void>;
  /** `close()`, for `await using c = cache(…)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Re-exported here so the cache's types read from one module. */
export type { Loader, LoaderContext };

/**
 * Creates a cache.
 *
 * @example
 * const c = cache({ name: 'profiles', l1: { maxEntries: 10_000 }, store: redisStore({ client }),
 *   ttlMs: 60_000, staleMs: 30_000, graceMs: 600_000 });
 * const profile = await c.getOrLoad(`user:${id}`, ({ signal }) => db.loadUser(id, signal),
 *   { tags: [`user:${id}`] });
 *
 * @throws {TypeError | RangeError} naming the option, for invalid options.
 */
export function cache(options: CacheOptions): Cache {
  return new CacheEngine(resolveOptions(options));
}
