/**
 * What a cache built by `cache()` offers the clients that write through it (write-behind): the
 * symbol that reaches the hooks and their interface. Not public API. The cache owns them; its
 * clients import them from here, so the cache never depends on a client.
 */
import type { CacheCodec } from './codec.js';

/**
 * How a client reaches into a cache built by `cache()`. Not public API: a symbol shared across
 * duplicated copies of the package.
 */
export const CACHE_HOOKS: unique symbol = Symbol.for('breakwater.cache.writeBehindHooks') as never;

/** The hooks a cache offers to write-behind. */
export interface CacheHooks {
  /** The cache's codec. */
  readonly codec: CacheCodec;
  /** The kind of the cache's L2 store (`memory`, `redis`, `dynamodb`), `undefined` without one. */
  readonly storeKind: string | undefined;
  /**
   * Caches a pending value in every tier, pinned: fresh, not evicted and not expired (physically
   * it lives `pinTtlMs`) until {@link settle}. Returns the record's version: the L2 store's, which
   * grows per key across the fleet, or without an L2 one numbered in this process. Throws store
   * errors whatever `onStoreError` says: a write must not be queued with a cache that would serve
   * an older value.
   */
  pin(key: string, value: unknown, pinTtlMs: number): Promise<number>;
  /**
   * The pending value of version `version` was persisted: give it the cache's normal freshness,
   * unless a newer write replaced it meanwhile.
   */
  settle(key: string, value: unknown, version: number): Promise<void>;
  /** The pinned value could not be queued: drop it from every tier. */
  unpin(key: string, version: number): Promise<void>;
}
