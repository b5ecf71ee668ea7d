/**
 * The options every factory of the package reads, and what to use instead of the options of the
 * libraries it replaces (opossum, cockatiel; see the README's migration tables). A factory given an
 * option it does not read warns once (core's `warnUnknownOptions`, code
 * `BREAKWATER_UNKNOWN_OPTION`). Each list is checked against its options type by tsc
 * (`satisfies KnownOptions<…>`), so it cannot drift from the type.
 */
import { type KnownOptions, type OptionRenames, warnUnknownOptions } from '@breakwater/core';
import type {
  CircuitBreakerOptions,
  HalfOpenOptions,
  OpenQuorumOptions,
  SlowCallOptions,
  WindowOptions,
} from './options.js';
import type { DynamoStoreOptions } from './stores/dynamodb.js';
import type { RedisStoreOptions } from './stores/redis.js';

/** The options of `circuitBreaker()`. */
export const CIRCUIT_BREAKER_OPTIONS = {
  name: true,
  store: true,
  failureRatio: true,
  minimumThroughput: true,
  slowCall: true,
  consecutiveFailures: true,
  window: true,
  breakDurationMs: true,
  halfOpen: true,
  shouldHandle: true,
  timeoutMs: true,
  fallback: true,
  syncIntervalMs: true,
  consistency: true,
  openQuorum: true,
  onStoreError: true,
  storeDeadlineMs: true,
  storeFailureThreshold: true,
  storeProbeIntervalMs: true,
  initialState: true,
  clock: true,
  durationSampleEvery: true,
} as const satisfies KnownOptions<CircuitBreakerOptions>;

/** opossum's and cockatiel's options of a breaker, and what `circuitBreaker()` takes instead. */
export const CIRCUIT_BREAKER_RENAMES: OptionRenames = {
  // opossum
  timeout: {
    use: 'timeoutMs',
    note: "opossum's `timeout` is on by default (10 s); `timeoutMs` is off unless set",
  },
  errorThresholdPercentage: {
    use: 'failureRatio',
    note: 'a ratio in (0, 1], not a percentage: 50 becomes 0.5',
  },
  volumeThreshold: {
    use: 'minimumThroughput',
    note: 'at least 1: no ratio opens the breaker before the window holds that many calls',
  },
  rollingCountTimeout: "window: { kind: 'time', durationMs }",
  rollingCountBuckets: "window: { kind: 'time', buckets }",
  resetTimeout: 'breakDurationMs',
  errorFilter: {
    use: 'shouldHandle',
    note: 'inverted: return false for calls that are not failures; they then count as neither success nor failure',
  },
  capacity: {
    note: 'a concurrency cap is `bulkhead({ maxConcurrent })` from `@breakwater/bulkhead`, composed with `pipeline()`',
  },
  allowWarmUp: {
    use: 'minimumThroughput',
    note: 'no ratio opens the breaker before the window holds that many calls',
  },
  enabled: { note: 'call `breaker.disable()` to let every call through, `reset()` to resume' },
  state: {
    use: 'initialState',
    note: 'a snapshot from `toJSON()`',
  },
  abortController: {
    note: 'each call gets a signal: `execute(({ signal }) => …, { signal })`',
  },
  autoRenewAbortController: {
    note: 'each call gets a signal of its own: `execute(({ signal }) => …, { signal })`',
  },
  cache: { note: 'caching and coalescing are `@breakwater/cache`' },
  coalesce: { note: 'caching and coalescing are `@breakwater/cache`' },
  // cockatiel
  breaker: {
    note: 'cockatiel breakers become options: `ConsecutiveBreaker(n)` is `consecutiveFailures: n`; `SamplingBreaker` and `CountBreaker` are `failureRatio`, `window` and `minimumThroughput`',
  },
  halfOpenAfter: {
    use: 'breakDurationMs',
    note: 'milliseconds, or `({ consecutiveOpens }) => ms` for a backoff',
  },
  halfOpenSampling: {
    use: 'halfOpen: { maxCalls, successThreshold }',
    note: 'any failed probe re-opens the breaker',
  },
};

/** The options of a `window` of kind `'count'`. */
export const COUNT_WINDOW_OPTIONS = {
  kind: true,
  size: true,
} as const satisfies KnownOptions<Extract<WindowOptions, { kind: 'count' }>>;

/** The options of a `window` of kind `'time'`. */
export const TIME_WINDOW_OPTIONS = {
  kind: true,
  durationMs: true,
  buckets: true,
} as const satisfies KnownOptions<Extract<WindowOptions, { kind: 'time' }>>;

/** What a count window takes instead of a time window's options. */
const COUNT_WINDOW_RENAMES: OptionRenames = {
  durationMs: { note: "a count window has no duration: use `{ kind: 'time', durationMs }`" },
  buckets: { note: "a count window has no buckets: use `{ kind: 'time', buckets }`" },
};

/** What a time window takes instead of a count window's or cockatiel's options. */
const TIME_WINDOW_RENAMES: OptionRenames = {
  size: { note: "a time window has no size: use `{ kind: 'count', size }`" },
  duration: 'durationMs',
};

/** The options of `slowCall`. */
export const SLOW_CALL_OPTIONS = {
  durationMs: true,
  ratio: true,
} as const satisfies KnownOptions<SlowCallOptions>;

/** The options of `halfOpen`. */
export const HALF_OPEN_OPTIONS = {
  maxCalls: true,
  successThreshold: true,
  maxDurationMs: true,
  probeLeaseMs: true,
} as const satisfies KnownOptions<HalfOpenOptions>;

/** The options of `openQuorum`. */
export const OPEN_QUORUM_OPTIONS = {
  replicas: true,
  windowMs: true,
} as const satisfies KnownOptions<OpenQuorumOptions>;

/** The options of `redisStore()`. */
export const REDIS_STORE_OPTIONS = {
  client: true,
  prefix: true,
  subscriber: true,
} as const satisfies KnownOptions<RedisStoreOptions>;

/** The options of `dynamoStore()`. */
export const DYNAMO_STORE_OPTIONS = {
  client: true,
  tableName: true,
  prefix: true,
  maxAttempts: true,
} as const satisfies KnownOptions<DynamoStoreOptions>;

/**
 * Warns once per unknown option of a breaker's options bag and of the bags nested in it
 * (`window`, by its `kind`; `slowCall`; `halfOpen`; `openQuorum`). Values that are not plain
 * objects are left to the validation.
 *
 * @param factory How users called the factory, for the message: `'circuitBreaker()'`.
 */
export function warnUnknownBreakerOptions(factory: string, options: object): void {
  warnUnknownOptions(factory, options, {
    known: CIRCUIT_BREAKER_OPTIONS,
    renames: CIRCUIT_BREAKER_RENAMES,
  });
  const bags = options as { readonly [K in keyof CircuitBreakerOptions]?: unknown };
  const window = bags.window as { readonly kind?: unknown } | null | undefined;
  if (window?.kind === 'count') {
    warnUnknownOptions(factory, window, {
      known: COUNT_WINDOW_OPTIONS,
      renames: COUNT_WINDOW_RENAMES,
      path: 'window.',
    });
  } else if (window?.kind === 'time') {
    warnUnknownOptions(factory, window, {
      known: TIME_WINDOW_OPTIONS,
      renames: TIME_WINDOW_RENAMES,
      path: 'window.',
    });
  }
  warnUnknownOptions(factory, bags.slowCall, { known: SLOW_CALL_OPTIONS, path: 'slowCall.' });
  warnUnknownOptions(factory, bags.halfOpen, { known: HALF_OPEN_OPTIONS, path: 'halfOpen.' });
  warnUnknownOptions(factory, bags.openQuorum, {
    known: OPEN_QUORUM_OPTIONS,
    path: 'openQuorum.',
  });
}
