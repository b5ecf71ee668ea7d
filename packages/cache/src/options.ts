/**
 * Options of {@link cache} and of its calls, their defaults, and their validation. Defaults are
 * mirrored in the README's options table.
 */
import {
  type Clock,
  describeValue,
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
  expectPositive,
  expectUnitInterval,
  type OnStoreError,
  resolveStoreOptions,
  STORE_DEFAULTS,
  type StoreSettings,
  systemClock,
} from '@breakwater/core';
import { type CacheCodec, defaultCodec } from './codec.js';
import { warnUnknownCacheOptions } from './known-options.js';
import type { CacheStore } from './store.js';

/**
 * What the cache does when its L2 store fails, misses its deadline or is degraded (core's
 * `OnStoreError`, the same three modes in every pattern; see {@link CacheOptions.onStoreError}).
 */
export type { OnStoreError };

/** Options of the in-process L1 tier. */
export interface L1Options {
  /**
   * Upper bound on the number of entries; the least recently used are evicted first.
   * @default 10_000
   */
  maxEntries?: number;
  /**
   * Upper bound on the approximate size of all entries, in bytes (the length of the stored
   * record, or an estimate for caches without L2).
   * @default 67_108_864 (64 MiB)
   */
  maxBytes?: number;
  /**
   * How long an L1 entry (and a known tag version) may be served without checking the L2 again,
   * in ms. The invalidation bus drops changed keys from every L1 at once; this bounds staleness
   * when a bus message is lost or the store has no bus.
   * @default 10_000
   */
  maxStaleMs?: number;
}

/** Options of the fleet-wide lease that stops stampedes across replicas. */
export interface LeaseOptions {
  /**
   * Lifetime of the lease a replica takes on a key it loads, in ms. The holder renews it every
   * third of this while its loader runs; if the holder dies, another replica loads after at most
   * this long.
   * @default 5_000
   */
  ttlMs?: number;
}

/** Freshness options, settable per cache and per call. */
export interface FreshnessOptions {
  /**
   * How long a value is fresh, in ms. Without it, values never expire (the tiers' size bounds
   * still evict them).
   */
  ttlMs?: number | undefined;
  /**
   * Stale-while-revalidate window after `ttlMs`, in ms: the old value is served at once while one
   * refresh runs in the background. Requires `ttlMs`.
   * @default 0
   */
  staleMs?: number | undefined;
  /**
   * Stale-if-error window after `ttlMs`, in ms: when the loader fails, the old value is served
   * instead of the error, and the loader is not called again for that key until a backoff
   * passes. Requires `ttlMs`.
   * @default 0
   */
  graceMs?: number | undefined;
  /**
   * How long a "not found" (the loader returned `undefined`) is cached, in ms; 0 caches nothing.
   * @default 0
   */
  negativeTtlMs?: number | undefined;
}

/** Loader time limits, settable per cache and per call. */
export interface LoaderTimeoutOptions {
  /**
   * When an older value is available (stale or in grace) and the loader takes longer than this,
   * serve the older value and let the load finish in the background.
   */
  softTimeoutMs?: number | undefined;
  /**
   * Abort the loader's signal and reject with core's `TimeoutError` after this long (or serve the
   * value in grace, if there is one).
   */
  hardTimeoutMs?: number | undefined;
}

/** Options of {@link cache}. */
export interface CacheOptions extends FreshnessOptions, LoaderTimeoutOptions {
  /** Name of the cache: its scope of the store, and the `breakwater.policy.name` attribute. */
  name: string;
  /** The L2 store. Without it the cache has only its L1. */
  store?: CacheStore | undefined;
  /**
   * The in-process L1 tier, or `false` for none (then `store` is required).
   * @default { maxEntries: 10_000, maxBytes: 64 MiB, maxStaleMs: 10_000 }
   */
  l1?: L1Options | false | undefined;
  /**
   * Random spread of `ttlMs`, as a fraction: each entry lives `ttlMs × (1 ± jitter)`, so keys
   * written together do not expire together.
   * @default 0.1
   */
  jitter?: number | undefined;
  /**
   * XFetch early-refresh factor: a hot key is refreshed in the background before it expires, with
   * a probability that grows as expiry nears and with how long the loader took. 0 disables it;
   * above 1 refreshes earlier.
   * @default 1
   */
  beta?: number | undefined;
  /**
   * First wait after a failed load (grace) before the loader is tried again for that key, in ms;
   * doubles with each consecutive failure, up to 60 s.
   * @default 1_000
   */
  graceBackoffMs?: number | undefined;
  /**
   * Encodes values for the L2 store.
   * @default defaultCodec
   */
  codec?: CacheCodec | undefined;
  /**
   * Deadline of each L2 store operation, in ms (> 0, ≤ 2³¹−1); a slower answer is a store failure
   * (`StoreTimeoutError`). Shorter than the other patterns' 500 ms: the L2 read sits on the request
   * path in front of a loader that is usually as fast, so waiting longer for the cache than for
   * the data defeats the cache.
   * @default 100
   */
  storeDeadlineMs?: number | undefined;
  /**
   * What to do when the L2 store fails, misses its deadline or is degraded: `'local'` serves what
   * this process has (L1 entries within their life, even past `l1.maxStaleMs`) or calls the
   * loader; `'fail-open'` treats the store as a miss and calls the loader; `'fail-closed'` rejects
   * with the `StoreError`. Store errors are never thrown otherwise.
   * @default 'local'
   */
  onStoreError?: OnStoreError | undefined;
  /**
   * Consecutive store failures after which the store is `degraded`: from then on no call waits
   * on it (each takes its `onStoreError` answer at once) until a background probe succeeds.
   * @default 3
   */
  storeFailureThreshold?: number | undefined;
  /**
   * While the store is degraded, how often a background probe asks it whether it is back, in ms.
   * @default 1_000
   */
  storeProbeIntervalMs?: number | undefined;
  /**
   * The fleet-wide lease on misses, or `false` to load on every replica that misses.
   * @default { ttlMs: 5_000 }
   */
  lease?: LeaseOptions | false | undefined;
  /**
   * The clock (tests pass a fake one).
   * @default systemClock
   */
  clock?: Clock | undefined;
  /**
   * Source of randomness for jitter and XFetch, in [0, 1) (tests pass a fixed one).
   * @default Math.random
   */
  random?: (() => number) | undefined;
}

/** Options of {@link Cache.getOrLoad}; per-call values override the cache's. */
export interface GetOrLoadOptions extends FreshnessOptions, LoaderTimeoutOptions {
  /** Tags of the entry, for {@link Cache.invalidateTags}. */
  tags?: readonly string[] | undefined;
  /** Stops waiting: the call rejects with `signal.reason` (the load goes on for other callers). */
  signal?: AbortSignal | undefined;
}

/** Options of {@link Cache.set} and {@link Cache.write}. */
export interface SetOptions extends FreshnessOptions {
  /** Tags of the entry, for {@link Cache.invalidateTags}. */
  tags?: readonly string[] | undefined;
}

/**
 * Defaults of {@link CacheOptions}, mirrored in the README's options table. The store failure
 * threshold and probe interval are core's shared `STORE_DEFAULTS`; the deadline is the cache's own
 * (see {@link CacheOptions.storeDeadlineMs}).
 */
export const DEFAULTS = {
  l1: { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, maxStaleMs: 10_000 },
  jitter: 0.1,
  beta: 1,
  staleMs: 0,
  graceMs: 0,
  negativeTtlMs: 0,
  graceBackoffMs: 1_000,
  maxGraceBackoffMs: 60_000,
  storeDeadlineMs: 100,
  onStoreError: 'local' as OnStoreError,
  storeFailureThreshold: STORE_DEFAULTS.failureThreshold,
  storeProbeIntervalMs: STORE_DEFAULTS.probeIntervalMs,
  lease: { ttlMs: 5_000 },
} as const;

/** Freshness and timeout settings after validation and defaults. */
export interface ResolvedPerCall {
  ttlMs: number | undefined;
  staleMs: number;
  graceMs: number;
  negativeTtlMs: number;
  softTimeoutMs: number | undefined;
  hardTimeoutMs: number | undefined;
}

/** {@link CacheOptions} after validation and defaults. */
export interface ResolvedOptions extends ResolvedPerCall {
  name: string;
  store: CacheStore | undefined;
  l1: Required<L1Options> | undefined;
  jitter: number;
  beta: number;
  graceBackoffMs: number;
  codec: CacheCodec;
  /** The store settings, for core's store call path. */
  storeSettings: StoreSettings;
  /** `storeSettings.onStoreError`, which the read and write paths consult. */
  onStoreError: OnStoreError;
  lease: Required<LeaseOptions> | undefined;
  clock: Clock;
  random: () => number;
}

/**
 * Validates the options of {@link cache}.
 * @throws {TypeError | RangeError} naming the option and the value.
 */
export function resolveOptions(options: CacheOptions): ResolvedOptions {
  expectObject('options', options);
  const name = expectNonEmptyString('name', options.name);
  const store = options.store;
  if (store !== undefined) {
    expectObject('store', store);
    expectFunction('store.scope', store.scope);
  }
  const l1 = resolveL1(options.l1);
  if (l1 === undefined && store === undefined) {
    throw new TypeError('Expected `store` when `l1` is false: a cache needs at least one tier');
  }
  const codec = options.codec ?? defaultCodec;
  expectObject('codec', codec);
  expectNonEmptyString('codec.id', codec.id);
  expectFunction('codec.encode', codec.encode);
  expectFunction('codec.decode', codec.decode);
  rejectStoreBreaker(options);
  warnUnknownCacheOptions(options);
  const perCall = resolvePerCall(options, undefined);
  const storeSettings = resolveStoreOptions(options, {
    onStoreError: DEFAULTS.onStoreError,
    deadlineMs: DEFAULTS.storeDeadlineMs,
    failureThreshold: DEFAULTS.storeFailureThreshold,
    probeIntervalMs: DEFAULTS.storeProbeIntervalMs,
  });
  return {
    ...perCall,
    name,
    store,
    l1,
    jitter: expectUnitInterval('jitter', options.jitter ?? DEFAULTS.jitter),
    beta: expectNonNegative('beta', options.beta ?? DEFAULTS.beta),
    graceBackoffMs: expectPositive(
      'graceBackoffMs',
      options.graceBackoffMs ?? DEFAULTS.graceBackoffMs,
    ),
    codec,
    storeSettings,
    onStoreError: storeSettings.onStoreError,
    lease: resolveLease(options.lease),
    clock: resolveClock(options.clock),
    random: options.random === undefined ? Math.random : expectFunction('random', options.random),
  };
}

function resolveL1(l1: L1Options | false | undefined): Required<L1Options> | undefined {
  if (l1 === false) return undefined;
  const given = l1 === undefined ? {} : expectObject('l1', l1);
  const defaults = DEFAULTS.l1;
  return {
    maxEntries: expectInteger('l1.maxEntries', given.maxEntries ?? defaults.maxEntries),
    maxBytes: expectPositive('l1.maxBytes', given.maxBytes ?? defaults.maxBytes),
    maxStaleMs: expectPositive('l1.maxStaleMs', given.maxStaleMs ?? defaults.maxStaleMs),
  };
}

/**
 * `storeBreaker` (the cache's own health gate) was replaced by core's degraded-mode rule. A value
 * passed for it is refused rather than ignored, so nobody believes a setting is in force.
 * @throws {TypeError} naming the option and its replacements.
 */
function rejectStoreBreaker(options: CacheOptions): void {
  const breaker = (options as { storeBreaker?: unknown }).storeBreaker;
  if (breaker === undefined) return;
  throw new TypeError(
    'Expected no `storeBreaker`: it was replaced by `storeFailureThreshold` (the store is ' +
      'degraded after that many consecutive failures, default 3) and `storeProbeIntervalMs` (how ' +
      'often a degraded store is probed, default 1000); see "When the store fails" in the ' +
      `@breakwater/core README. Got ${describeValue(breaker)}`,
  );
}

function resolveLease(lease: LeaseOptions | false | undefined): Required<LeaseOptions> | undefined {
  if (lease === false) return undefined;
  const given = lease === undefined ? {} : expectObject('lease', lease);
  // Stores take whole milliseconds (Redis PX).
  return { ttlMs: expectInteger('lease.ttlMs', given.ttlMs ?? DEFAULTS.lease.ttlMs) };
}

function resolveClock(clock: Clock | undefined): Clock {
  if (clock === undefined) return systemClock;
  expectObject('clock', clock);
  expectFunction('clock.now', clock.now);
  expectFunction('clock.sleep', clock.sleep);
  return clock;
}

/**
 * Merges per-call freshness and timeout options over the cache's (`base`), validating only what
 * the call sets. With `base` undefined, validates the cache-level options themselves.
 * @throws {TypeError | RangeError} naming the option and the value.
 */
export function resolvePerCall(
  options: FreshnessOptions & LoaderTimeoutOptions,
  base: ResolvedPerCall | undefined,
): ResolvedPerCall {
  const ttlMs = options.ttlMs === undefined ? base?.ttlMs : expectPositive('ttlMs', options.ttlMs);
  const staleMs =
    options.staleMs === undefined
      ? (base?.staleMs ?? DEFAULTS.staleMs)
      : expectNonNegative('staleMs', options.staleMs);
  const graceMs =
    options.graceMs === undefined
      ? (base?.graceMs ?? DEFAULTS.graceMs)
      : expectNonNegative('graceMs', options.graceMs);
  if (ttlMs === undefined && options.staleMs !== undefined && options.staleMs > 0) {
    throw new TypeError(`Expected \`ttlMs\` with \`staleMs\` (${options.staleMs}), got no ttlMs`);
  }
  if (ttlMs === undefined && options.graceMs !== undefined && options.graceMs > 0) {
    throw new TypeError(`Expected \`ttlMs\` with \`graceMs\` (${options.graceMs}), got no ttlMs`);
  }
  return {
    ttlMs,
    staleMs,
    graceMs,
    negativeTtlMs:
      options.negativeTtlMs === undefined
        ? (base?.negativeTtlMs ?? DEFAULTS.negativeTtlMs)
        : expectNonNegative('negativeTtlMs', options.negativeTtlMs),
    softTimeoutMs:
      options.softTimeoutMs === undefined
        ? base?.softTimeoutMs
        : expectPositive('softTimeoutMs', options.softTimeoutMs),
    hardTimeoutMs:
      options.hardTimeoutMs === undefined
        ? base?.hardTimeoutMs
        : expectPositive('hardTimeoutMs', options.hardTimeoutMs),
  };
}
