/**
 * The options every factory of the package reads, and what to use instead of the options of the
 * libraries it replaces (bentocache, cache-manager; see the README's migration tables). A factory
 * given an option it does not read warns once (core's `warnUnknownOptions`, code
 * `BREAKWATER_UNKNOWN_OPTION`). Each list is checked against its options type by tsc
 * (`satisfies KnownOptions<…>`), so it cannot drift from the type.
 */
import { type KnownOptions, type OptionRenames, warnUnknownOptions } from '@breakwater/core';
import type { WrapOptions } from './cache.js';
import type { CacheOptions, GetOrLoadOptions, L1Options, LeaseOptions } from './options.js';
import type { DynamoStoreOptions } from './stores/dynamodb.js';
import type { MemoryStoreOptions } from './stores/memory.js';
import type { RedisStoreOptions } from './stores/redis.js';
import type { DynamoWriteBehindQueueOptions } from './write-behind/dynamodb-queue.js';
import type { MemoryWriteBehindQueueOptions } from './write-behind/memory-queue.js';
import type { WriteBehindOptions } from './write-behind/options.js';
import type { RedisWriteBehindQueueOptions } from './write-behind/redis-queue.js';

/** The options of `cache()`. */
export const CACHE_OPTIONS = {
  name: true,
  store: true,
  l1: true,
  ttlMs: true,
  jitter: true,
  staleMs: true,
  graceMs: true,
  graceBackoffMs: true,
  beta: true,
  negativeTtlMs: true,
  softTimeoutMs: true,
  hardTimeoutMs: true,
  codec: true,
  storeDeadlineMs: true,
  onStoreError: true,
  storeFailureThreshold: true,
  storeProbeIntervalMs: true,
  lease: true,
  clock: true,
  random: true,
} as const satisfies KnownOptions<CacheOptions>;

/** bentocache's freshness and timeout options, which a cache and `wrap()` both take. */
const FRESHNESS_RENAMES: OptionRenames = {
  ttl: {
    use: 'ttlMs',
    note: "a number of milliseconds, never a string: bentocache's `'1h'` is `ttlMs: 3_600_000`; without `ttlMs` entries never expire",
  },
  grace: { use: 'graceMs', note: 'a number of milliseconds' },
  timeout: {
    use: 'softTimeoutMs',
    note: "bentocache's soft `timeout`, in milliseconds; `timeout: 0` with `grace` is `staleMs`",
  },
  hardTimeout: {
    use: 'hardTimeoutMs',
    note: "a number of milliseconds; the call rejects with core's `TimeoutError`",
  },
  lockTimeout: {
    use: 'hardTimeoutMs',
    note: 'it also bounds the wait for another loader',
  },
};

/** bentocache's and cache-manager's options of a cache, and what `cache()` takes instead. */
export const CACHE_RENAMES: OptionRenames = {
  ...FRESHNESS_RENAMES,
  graceBackoff: {
    use: 'graceBackoffMs',
    note: 'a number of milliseconds; it doubles per consecutive failure',
  },
  suppressL2Errors: {
    use: 'onStoreError',
    note: "`'local'` by default, with `storeDeadlineMs`, `storeFailureThreshold` and `storeProbeIntervalMs`",
  },
  serializer: {
    use: 'codec',
    note: 'the default codec already handles Date, BigInt, Map and Set',
  },
  prefix: {
    note: 'a key prefix belongs to the store (`redisStore({ client, prefix })`); `name` scopes each cache',
  },
  stores: {
    note: 'a cache has an L1 (`l1`) and one L2 `store`: `cache({ name, l1: { maxEntries }, store: redisStore({ client }) })`',
  },
  refreshThreshold: {
    use: 'staleMs',
    note: 'a background refresh after expiry; XFetch (`beta`) refreshes hot keys before it',
  },
  nonBlocking: { note: 'not needed: every L2 call is bounded by `storeDeadlineMs`' },
  cacheId: 'name',
};

/** The options of `l1`. */
export const L1_OPTIONS = {
  maxEntries: true,
  maxBytes: true,
  maxStaleMs: true,
} as const satisfies KnownOptions<L1Options>;

/** bentocache's memory-driver options, and what `l1` takes instead. */
export const L1_RENAMES: OptionRenames = {
  maxItems: 'maxEntries',
};

/** The options of `lease`. */
export const LEASE_OPTIONS = {
  ttlMs: true,
} as const satisfies KnownOptions<LeaseOptions>;

/**
 * The options of `cache.wrap()`: `key` and the `getOrLoad()` options (its `signal` too, which every
 * call of the wrapped function would then use, although the type leaves it out).
 */
export const WRAP_OPTIONS = {
  key: true,
  tags: true,
  signal: true,
  ttlMs: true,
  staleMs: true,
  graceMs: true,
  negativeTtlMs: true,
  softTimeoutMs: true,
  hardTimeoutMs: true,
} as const satisfies KnownOptions<WrapOptions<never> | GetOrLoadOptions>;

/** bentocache's options of a call, and what `cache.wrap()` takes instead. */
export const WRAP_RENAMES: OptionRenames = FRESHNESS_RENAMES;

/**
 * Warns once per unknown option of the options bag of `cache()` and of the bags nested in it
 * (`l1`, `lease`; `false` and other values that are not plain objects are left to the validation).
 */
export function warnUnknownCacheOptions(options: object): void {
  warnUnknownOptions('cache()', options, { known: CACHE_OPTIONS, renames: CACHE_RENAMES });
  const bags = options as { readonly [K in keyof CacheOptions]?: unknown };
  warnUnknownOptions('cache()', bags.l1, { known: L1_OPTIONS, renames: L1_RENAMES, path: 'l1.' });
  warnUnknownOptions('cache()', bags.lease, { known: LEASE_OPTIONS, path: 'lease.' });
}

/** The options of the cache's `memoryStore()`. */
export const MEMORY_STORE_OPTIONS = {
  maxEntries: true,
  clock: true,
} as const satisfies KnownOptions<MemoryStoreOptions>;

/** bentocache's memory-driver options, and what the cache's `memoryStore()` takes instead. */
export const MEMORY_STORE_RENAMES: OptionRenames = {
  maxItems: 'maxEntries',
};

/** The options of the cache's `redisStore()`. */
export const REDIS_STORE_OPTIONS = {
  client: true,
  subscriber: true,
  prefix: true,
} as const satisfies KnownOptions<RedisStoreOptions>;

/** bentocache's Redis-driver options, and what the cache's `redisStore()` takes instead. */
export const REDIS_STORE_RENAMES: OptionRenames = {
  connection: {
    use: 'client',
    note: 'your ioredis, iovalkey or node-redis client; the store opens the connection of its invalidation bus itself',
  },
};

/** The options of the cache's `dynamoStore()`. */
export const DYNAMO_STORE_OPTIONS = {
  client: true,
  tableName: true,
  prefix: true,
  clock: true,
} as const satisfies KnownOptions<DynamoStoreOptions>;

/** The options of `writeBehind()`. */
export const WRITE_BEHIND_OPTIONS = {
  name: true,
  persist: true,
  queue: true,
  cache: true,
  codec: true,
  batchSize: true,
  flushIntervalMs: true,
  maxAttempts: true,
  retryDelayMs: true,
  maxRetryDelayMs: true,
  maxPending: true,
  onBacklog: true,
  maxWaitMs: true,
  claimIdleMs: true,
  persistTimeoutMs: true,
  storeDeadlineMs: true,
  storeFailureThreshold: true,
  storeProbeIntervalMs: true,
  pinTtlMs: true,
  deadLetter: true,
  flusher: true,
  consumer: true,
  clock: true,
  random: true,
} as const satisfies KnownOptions<WriteBehindOptions<unknown>>;

/** The options of `memoryWriteBehindQueue()`. */
export const MEMORY_WRITE_BEHIND_QUEUE_OPTIONS = {
  clock: true,
} as const satisfies KnownOptions<MemoryWriteBehindQueueOptions>;

/** The options of `redisWriteBehindQueue()`. */
export const REDIS_WRITE_BEHIND_QUEUE_OPTIONS = {
  client: true,
  prefix: true,
  group: true,
  idleConsumerMs: true,
  durability: true,
  waitReplicas: true,
  waitTimeoutMs: true,
} as const satisfies KnownOptions<RedisWriteBehindQueueOptions>;

/** The options of `dynamoWriteBehindQueue()`. */
export const DYNAMO_WRITE_BEHIND_QUEUE_OPTIONS = {
  client: true,
  tableName: true,
  prefix: true,
  clock: true,
  maxConflictAttempts: true,
  versionRetentionMs: true,
} as const satisfies KnownOptions<DynamoWriteBehindQueueOptions>;
