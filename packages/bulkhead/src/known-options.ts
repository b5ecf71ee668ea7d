/**
 * The options every factory of the package reads, and what to use instead of the options of the
 * libraries it replaces (cockatiel, p-limit, bottleneck; see the README's migration tables). A
 * factory given an option it does not read warns once (core's `warnUnknownOptions`, code
 * `BREAKWATER_UNKNOWN_OPTION`). Each list is checked against its options type by tsc
 * (`satisfies KnownOptions<…>`), so it cannot drift from the type.
 */
import { type KnownOptions, type OptionRenames, warnUnknownOptions } from '@breakwater/core';
import type { AdaptiveOptions } from './adaptive/adaptive.js';
import type { BulkheadOptions, PerKeyOptions, PriorityClassOptions } from './options.js';
import type { DynamoStoreOptions } from './stores/dynamodb.js';
import type { MemoryStoreOptions } from './stores/memory.js';
import type { RedisStoreOptions } from './stores/redis.js';

/** The options of `bulkhead()`. */
export const BULKHEAD_OPTIONS = {
  name: true,
  maxConcurrent: true,
  limit: true,
  maxQueue: true,
  maxWaitMs: true,
  order: true,
  classes: true,
  defaultPriority: true,
  perKey: true,
  store: true,
  permitQuota: true,
  leaseTtlMs: true,
  renewIntervalMs: true,
  wakeupPollMs: true,
  onStoreError: true,
  localMaxConcurrent: true,
  replicaRenewIntervalMs: true,
  replicaTtlMs: true,
  storeDeadlineMs: true,
  storeFailureThreshold: true,
  storeProbeIntervalMs: true,
  clock: true,
} as const satisfies KnownOptions<BulkheadOptions>;

/** p-limit's, bottleneck's and resilience4j's options of a concurrency limiter. */
export const BULKHEAD_RENAMES: OptionRenames = {
  concurrency: 'maxConcurrent',
  maxConcurrentCalls: 'maxConcurrent',
  maxWaitDuration: { use: 'maxWaitMs', note: 'in milliseconds' },
  highWater: { use: 'maxQueue', note: 'a call beyond it is refused with `queue-full`' },
  strategy: {
    note: 'queued calls are never dropped: a newcomer beyond `maxQueue` is refused; `order: "lifo"` favours fresh calls',
  },
  expiration: { use: 'timeout({ ms })', note: 'from `@breakwater/core`, in a `pipeline()`' },
  datastore: 'store: redisStore({ client })',
  minTime: { note: 'a rate limit is `rateLimiter()` from `@breakwater/rate-limit`' },
  reservoir: { note: 'a rate limit is `rateLimiter()` from `@breakwater/rate-limit`' },
};

/** The options of one entry of `classes`. */
export const PRIORITY_CLASS_OPTIONS = {
  reserved: true,
  max: true,
  maxQueue: true,
  maxWaitMs: true,
} as const satisfies KnownOptions<PriorityClassOptions>;

/** The options of `perKey`. */
export const PER_KEY_OPTIONS = {
  maxConcurrent: true,
  maxQueue: true,
} as const satisfies KnownOptions<PerKeyOptions>;

/** The options of `adaptive()`. */
export const ADAPTIVE_OPTIONS = {
  algorithm: true,
  min: true,
  max: true,
  initial: true,
  backoffRatio: true,
  latencyThresholdMs: true,
  tolerance: true,
  smoothing: true,
  shortWindow: true,
  longWindow: true,
} as const satisfies KnownOptions<AdaptiveOptions>;

/** The options of the bulkhead's `memoryStore()`. */
export const MEMORY_STORE_OPTIONS = {
  clock: true,
} as const satisfies KnownOptions<MemoryStoreOptions>;

/** The options of the bulkhead's `redisStore()`. */
export const REDIS_STORE_OPTIONS = {
  client: true,
  subscriber: true,
  prefix: true,
} as const satisfies KnownOptions<RedisStoreOptions>;

/** The options of the bulkhead's `dynamoStore()`. */
export const DYNAMO_STORE_OPTIONS = {
  client: true,
  tableName: true,
  prefix: true,
  pollIntervalMs: true,
  maxAttempts: true,
  clock: true,
} as const satisfies KnownOptions<DynamoStoreOptions>;

/**
 * Warns once per unknown option of the options bag of `bulkhead()` and of the bags nested in it
 * (each entry of `classes`, by its name; `perKey`). Values that are not plain objects are left to
 * the validation.
 */
export function warnUnknownBulkheadOptions(options: object): void {
  const factory = 'bulkhead()';
  warnUnknownOptions(factory, options, { known: BULKHEAD_OPTIONS, renames: BULKHEAD_RENAMES });
  const bags = options as { readonly [K in keyof BulkheadOptions]?: unknown };
  const classes = bags.classes;
  if (typeof classes === 'object' && classes !== null && !Array.isArray(classes)) {
    for (const [name, spec] of Object.entries(classes)) {
      warnUnknownOptions(factory, spec, {
        known: PRIORITY_CLASS_OPTIONS,
        path: `classes.${name}.`,
      });
    }
  }
  warnUnknownOptions(factory, bags.perKey, { known: PER_KEY_OPTIONS, path: 'perKey.' });
}
