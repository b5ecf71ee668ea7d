/**
 * The L2 store interface: the few atomic operations the cache needs from a shared store. The
 * cache logic is written once against it; the memory, Redis and DynamoDB stores only perform
 * these state transitions, and one contract suite checks that they all behave alike.
 *
 * A store holds, per cache name (a {@link CacheScope}):
 *
 * - records: one opaque string per key with a physical lifetime and a per-key **version** the
 *   store assigns on every write and delete. Versions only grow for a key, across all writers
 *   (stores take `max(previous + 1, now in µs)`, so they keep growing even after the record was
 *   deleted or expired). The invalidation bus carries them so replicas can ignore stale messages;
 *   write-behind will use them to order writes.
 * - tag versions: a counter per tag, bumped by `invalidateTags`. An entry remembers the versions
 *   of its tags when it was loaded and is void once any of them moved on.
 * - leases: a token per key with an expiry, so one replica of a fleet loads a missing key while the
 *   others wait for the value to appear. A write that lands and a delete end the key's lease in
 *   the same atomic operation (see {@link RecordWrite.leaseToken}).
 *
 * Room for write-behind (a later release): a write may later carry a "pending" pin that keeps the
 * record from expiring until the write is persisted; {@link RecordWrite} is an object so that field
 * can be added without changing the operations.
 */

/** A record read from a store. */
export interface StoredRecord {
  /** The record's per-key version (> 0). */
  readonly version: number;
  /** The record string the cache wrote. */
  readonly record: string;
}

/** What {@link CacheScope.set} writes. */
export interface RecordWrite {
  /** The record string. */
  readonly record: string;
  /** Physical lifetime in milliseconds (an integer ≥ 1), or `undefined` for none. */
  readonly ttlMs: number | undefined;
  /**
   * Write only if the key's current version is this (0: only if absent); otherwise leave the
   * record alone and report the current version. Loads pass the version they saw, so a value
   * loaded before a concurrent `set`/`delete` cannot overwrite it. `undefined`: write always.
   */
  readonly expectVersion?: number | undefined;
  /**
   * The token of the lease the write was loaded under (a load's write): write only while the key's
   * lease is still held by this token, and release it in the same operation. A holder that lost
   * its lease (paused or cut off past `lease.ttlMs`, another replica loading meanwhile) writes
   * nothing: its value is older than what the next holder may have written, even once that one
   * expired (the key absent again, so `expectVersion` alone would let it through). `undefined`:
   * no lease condition.
   *
   * Either way, a write that lands ends the key's lease, whoever holds it, in the same atomic
   * operation — as {@link CacheScope.delete} does. A `set` (no token) thereby fences off the load
   * running meanwhile: that load may have read the database before the change this `set` or
   * `delete` records, and the version check alone would let its write through whenever the key
   * was absent both when it read and when it writes (a `set` then a `delete` during the load, or
   * the delete of an absent key). Its write is refused as for a holder that lost its lease; the
   * replicas waiting on the lease find it gone, re-check the record and load again if absent.
   */
  readonly leaseToken?: string | undefined;
  /** The writing cache instance, stamped on the invalidation message so it can skip its own. */
  readonly origin: string;
}

/** The outcome of {@link CacheScope.set}. */
export interface WriteResult {
  /** Whether the record was written (false only when `expectVersion` did not match). */
  readonly written: boolean;
  /** The key's version after the call: the new one, or the current one when not written. */
  readonly version: number;
}

/** The outcome of {@link CacheScope.acquireLease}. */
export type LeaseResult =
  /** This caller holds the lease now. */
  | { readonly status: 'acquired' }
  /** Another caller holds it; it expires in `ttlMs` unless released first. */
  | { readonly status: 'held'; readonly ttlMs: number }
  /** The key's version is not the one the caller saw: here is the current record (if any). */
  | { readonly status: 'changed'; readonly current: StoredRecord | undefined };

/** A message of the invalidation bus: keys and versions, never values. */
export type InvalidationMessage =
  /** Records were written or deleted; `versions[i]` is the new version of `keys[i]`. */
  | {
      readonly kind: 'keys';
      readonly origin: string;
      readonly keys: readonly string[];
      readonly versions: readonly number[];
    }
  /** Tags were invalidated; `versions[i]` is the new version of `tags[i]`. */
  | {
      readonly kind: 'tags';
      readonly origin: string;
      readonly tags: readonly string[];
      readonly versions: readonly number[];
    }
  /**
   * The bus lost its connection and is back: messages may have been missed, so every replica
   * clears its L1 and its tag versions.
   */
  | { readonly kind: 'reset' };

/** Receives invalidation messages. */
export type InvalidationListener = (message: InvalidationMessage) => void;

/**
 * The store scoped to one cache name (what {@link CacheStore.scope} returns): the operations the
 * cache runs, each atomic.
 *
 * The cache calls them through core's store call path (`StoreCalls`), which bounds each one by
 * `storeDeadlineMs`, degrades after `storeFailureThreshold` consecutive failures and runs
 * {@link probe} while degraded; a scope needs no deadline of its own. `signal` is given only to a
 * scope that is {@link abortable}: it aborts when the deadline passes.
 */
export interface CacheScope {
  /**
   * Whether the operations stop their requests when their `signal` aborts (a DynamoDB request).
   * The cache then gives each operation a signal of its own, aborted at the deadline; otherwise it
   * creates none.
   * @default false
   */
  readonly abortable?: boolean | undefined;
  /** The record of `key`, or `undefined`. One round trip. */
  get(key: string, signal?: AbortSignal): Promise<StoredRecord | undefined>;
  /**
   * Writes a record (see {@link RecordWrite}), assigns it the next version, ends the key's lease
   * (the writer's own or any other), and publishes a `keys` message on the bus. A write refused by
   * its conditions changes nothing, except that a refused load's write still releases its own
   * lease.
   */
  set(key: string, write: RecordWrite, signal?: AbortSignal): Promise<WriteResult>;
  /**
   * Deletes the record and ends the key's lease (so the write of a load running meanwhile is
   * refused, see {@link RecordWrite.leaseToken}) — also for an absent key — assigns the key its
   * next version, publishes it, and returns it.
   */
  delete(key: string, origin: string, signal?: AbortSignal): Promise<number>;
  /** The current version of each tag (0 for a tag never invalidated). */
  getTagVersions(tags: readonly string[], signal?: AbortSignal): Promise<number[]>;
  /** Bumps each tag's version, publishes a `tags` message, and returns the new versions. */
  bumpTags(tags: readonly string[], origin: string, signal?: AbortSignal): Promise<number[]>;
  /**
   * Takes the lease of `key` for `ttlMs` under `token` — unless the key's version differs from
   * `seenVersion` (0: absent), in which case the caller gets the current record instead.
   */
  acquireLease(
    key: string,
    token: string,
    ttlMs: number,
    seenVersion: number,
    signal?: AbortSignal,
  ): Promise<LeaseResult>;
  /** Releases the lease if it still holds `token`; returns whether it did. */
  releaseLease(key: string, token: string, signal?: AbortSignal): Promise<boolean>;
  /**
   * Extends the lease to `ttlMs` from now if it still holds `token` (a long load keeps its lease
   * alive); returns whether it did.
   */
  extendLease(key: string, token: string, ttlMs: number, signal?: AbortSignal): Promise<boolean>;
  /**
   * Subscribes to the invalidation bus; returns a function that unsubscribes. Absent when the
   * store has no bus (then L1 coherence across replicas relies on `l1.maxStaleMs`). The listener
   * gets a `reset` whenever messages may have been missed: when the subscription becomes active,
   * and when its connection is back after a loss.
   */
  subscribe?(listener: InvalidationListener): () => void;
  /**
   * A cheap request proving the store answers again: a `return 1` script on one of the cache's
   * keys (so a Cluster asks the node that owns its slot), a GetItem. While the store is degraded
   * the cache runs it in the background, under the deadline, once per `storeProbeIntervalMs`.
   * Without it, one real operation per interval is let through as the probe.
   */
  probe?(signal: AbortSignal): PromiseLike<unknown>;
}

/** An L2 store: memory, Redis or DynamoDB. Pass it as the cache's `store` option. */
export interface CacheStore {
  /** The store kind, reported as the `breakwater.store` attribute: `memory`, `redis`, `dynamodb`. */
  readonly kind: string;
  /** Scopes the store to one cache name. Called once per cache, at construction. */
  scope(cacheName: string): CacheScope;
  /**
   * Closes what the store opened itself (the Redis subscriber connection of the bus), never a
   * client you passed in. Completes at once — within the cache's default store deadline for a
   * subscriber of yours, which it unsubscribes — with the store up, refusing connections or hung.
   * Close the caches first.
   */
  close(): Promise<void>;
  /** `close()`, for `await using store = redisStore(…)`. */
  [Symbol.asyncDispose](): Promise<void>;
}
