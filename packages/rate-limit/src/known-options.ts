/**
 * The options every factory of the package reads, and what to use instead of the options of the
 * libraries it replaces (rate-limiter-flexible, bottleneck; see the README's migration tables). A
 * factory given an option it does not read warns once (core's `warnUnknownOptions`, code
 * `BREAKWATER_UNKNOWN_OPTION`). Each list is checked against its options type by tsc
 * (`satisfies KnownOptions<…>`), so it cannot drift from the type.
 */
import { type KnownOptions, type OptionRenames, warnUnknownOptions } from '@breakwater/core';
import type {
  LimitOptions,
  PerReplicaLimit,
  PlanCacheOptions,
  RateLimiterOptions,
  ReserveOptions,
} from './options.js';
import type { DynamoStoreOptions } from './stores/dynamodb.js';
import type { MemoryStoreOptions } from './stores/memory.js';
import type { RedisStoreOptions } from './stores/redis.js';

/** The options of `rateLimiter()`. */
export const RATE_LIMITER_OPTIONS = {
  name: true,
  limit: true,
  intervalMs: true,
  burst: true,
  limits: true,
  algorithm: true,
  store: true,
  onStoreError: true,
  localShare: true,
  replicaRenewIntervalMs: true,
  replicaTtlMs: true,
  storeDeadlineMs: true,
  storeFailureThreshold: true,
  storeProbeIntervalMs: true,
  denyCache: true,
  reserve: true,
  blockDurationMs: true,
  clock: true,
  planCache: true,
  limitsSyncIntervalMs: true,
} as const satisfies KnownOptions<RateLimiterOptions>;

/** rate-limiter-flexible's `points` and `duration`, which a limit definition also meets. */
const LIMIT_RENAMES: OptionRenames = {
  points: 'limit',
  duration: {
    use: 'intervalMs',
    note: "rate-limiter-flexible's `duration` is in seconds, `intervalMs` in milliseconds: 60 becomes 60_000",
  },
};

/** rate-limiter-flexible's and bottleneck's options of a limiter, and what `rateLimiter()` takes. */
export const RATE_LIMITER_RENAMES: OptionRenames = {
  ...LIMIT_RENAMES,
  // rate-limiter-flexible
  storeClient: 'store: redisStore({ client })',
  keyPrefix: {
    use: 'store: redisStore({ client, prefix })',
    note: 'the key prefix is an option of the store',
  },
  blockDuration: {
    use: 'blockDurationMs',
    note: "rate-limiter-flexible's `blockDuration` is in seconds, `blockDurationMs` in milliseconds: 60 becomes 60_000",
  },
  inMemoryBlockOnConsumed: { use: 'denyCache', note: 'on by default' },
  insuranceLimiter: {
    use: "onStoreError: 'local'",
    note: 'the default: each replica enforces its share of the limit (1 / fleet size, or `localShare`) while the store fails',
  },
  execEvenly: {
    use: "algorithm: 'gcra'",
    note: 'with `burst: 0` it paces calls evenly at the store',
  },
  // bottleneck
  reservoir: {
    use: 'limit',
    note: "with `intervalMs` and `algorithm: 'fixed-window'` for a reservoir refilled every interval",
  },
  reservoirRefreshAmount: {
    use: 'limit',
    note: "with `intervalMs` and `algorithm: 'fixed-window'`",
  },
  reservoirRefreshInterval: {
    use: 'intervalMs',
    note: "with `limit` and `algorithm: 'fixed-window'`",
  },
  minTime: {
    use: 'limit: 1, intervalMs',
    note: '`minTime: 10` is `limit: 1, intervalMs: 10` (GCRA with `burst: 0`)',
  },
  maxConcurrent: {
    note: 'a concurrency cap is a bulkhead: `bulkhead({ maxConcurrent })` from `@breakwater/bulkhead`, composed with `pipeline()`',
  },
  datastore: 'store: redisStore({ client })',
  highWater: {
    note: '`maxWaitMs` of `acquire()` and `execute()` bounds the wait; calls that cannot make it are refused at once',
  },
  strategy: {
    note: '`maxWaitMs` of `acquire()` and `execute()` bounds the wait; calls that cannot make it are refused at once',
  },
};

/** The options of each entry of `limits`. */
export const LIMIT_OPTIONS = {
  limit: true,
  intervalMs: true,
  burst: true,
  algorithm: true,
} as const satisfies KnownOptions<LimitOptions>;

/** The options of a `{ perReplica }` limit. */
export const PER_REPLICA_OPTIONS = {
  perReplica: true,
} as const satisfies KnownOptions<PerReplicaLimit>;

/** The options of `denyCache`, when it is an object. */
export const DENY_CACHE_OPTIONS = {
  maxKeys: true,
} as const satisfies KnownOptions<Exclude<RateLimiterOptions['denyCache'], boolean | undefined>>;

/** The options of `planCache`. */
export const PLAN_CACHE_OPTIONS = {
  maxKeys: true,
  ttlMs: true,
} as const satisfies KnownOptions<PlanCacheOptions>;

/** The options of `reserve`. */
export const RESERVE_OPTIONS = {
  batch: true,
  holdMs: true,
} as const satisfies KnownOptions<ReserveOptions>;

/** The options of the rate limiter's `memoryStore()`. */
export const MEMORY_STORE_OPTIONS = {
  maxKeys: true,
} as const satisfies KnownOptions<MemoryStoreOptions>;

/** The options of the rate limiter's `redisStore()`. */
export const REDIS_STORE_OPTIONS = {
  client: true,
  prefix: true,
} as const satisfies KnownOptions<RedisStoreOptions>;

/** The options of the rate limiter's `dynamoStore()`. */
export const DYNAMO_STORE_OPTIONS = {
  client: true,
  tableName: true,
  prefix: true,
  maxAttempts: true,
  cacheKeys: true,
} as const satisfies KnownOptions<DynamoStoreOptions>;

/** rate-limiter-flexible's options of a store, and what the rate limiter's stores take instead. */
export const STORE_RENAMES: OptionRenames = {
  storeClient: 'client',
  keyPrefix: 'prefix',
};

/**
 * Warns once per unknown option of the options bag of `rateLimiter()` and of the bags nested in it
 * (each entry of `limits`, by its index; a `{ perReplica }` limit; `denyCache`; `reserve`;
 * `planCache`). Values
 * that are not plain objects are left to the validation.
 */
export function warnUnknownRateLimiterOptions(options: object): void {
  const factory = 'rateLimiter()';
  warnUnknownOptions(factory, options, {
    known: RATE_LIMITER_OPTIONS,
    renames: RATE_LIMITER_RENAMES,
  });
  const bags = options as { readonly [K in keyof RateLimiterOptions]?: unknown };
  warnUnknownOptions(factory, bags.limit, { known: PER_REPLICA_OPTIONS, path: 'limit.' });
  if (Array.isArray(bags.limits)) {
    bags.limits.forEach((entry: unknown, i) => {
      warnUnknownOptions(factory, entry, {
        known: LIMIT_OPTIONS,
        renames: LIMIT_RENAMES,
        path: `limits[${i}].`,
      });
      const limit = (entry as { limit?: unknown } | null)?.limit;
      warnUnknownOptions(factory, limit, {
        known: PER_REPLICA_OPTIONS,
        path: `limits[${i}].limit.`,
      });
    });
  }
  warnUnknownOptions(factory, bags.denyCache, { known: DENY_CACHE_OPTIONS, path: 'denyCache.' });
  warnUnknownOptions(factory, bags.reserve, { known: RESERVE_OPTIONS, path: 'reserve.' });
  warnUnknownOptions(factory, bags.planCache, { known: PLAN_CACHE_OPTIONS, path: 'planCache.' });
}
