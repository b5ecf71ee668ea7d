/**
 * Options of {@link cache} and of its calls, their defaults, and their validation. Defaults are
 * mirrored in the README's options table.
 */
import {
  type Clock,
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
  expectOneOf,
  expectPositive,
  expectUnitInterval,
  systemClock,
} from '@breakwater/core';
import { type CacheCodec, defaultCodec } from './codec.js';
import type { CacheStore } from './store.js';

/** What the cache does when its L2 store fails, misses its deadline, or its health gate is open. */
export type CacheStoreErrorMode = 'fail-open' | 'fail-closed' | 'local';

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

/** Options of the health gate that stops calling a failing L2 store. */
export interface StoreBreakerOptions {
  /**
   * Consecutive store failures (errors or missed deadlines) that open the gate.
   * @default 5
   */
  failureThreshold?: number;
  /**
   * How long the gate stays open before one probe call is let through, in ms.
   * @default 5_000
   */
  breakDurationMs?: number;
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
  /** Name of the cache: the store namespace, and the `breakwater.policy.name` attribute. */
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
   * Deadline of each L2 store call, in ms.
   * @default 100
   */
  storeDeadlineMs?: number | undefined;
  /**
   * What to do when the L2 store fails: `'local'` serves what this process has (L1 entries within
   * their life, even past `l1.maxStaleMs`) or calls the loader; `'fail-open'` treats the store as
   * a miss and calls the loader; `'fail-closed'` rejects with the `StoreError`. Store errors are
   * never thrown otherwise.
   * @default 'local'
   */
  onStoreError?: CacheStoreErrorMode | undefined;
  /**
   * The health gate on the L2: after repeated failures the cache stops calling the store for a
   * while (as if each call failed at once). `false` disables it.
   * @default { failureThreshold: 5, breakDurationMs: 5_000 }
   */
  storeBreaker?: StoreBreakerOptions | false | undefined;
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

/** Defaults of {@link CacheOptions}. */
export const CACHE_DEFAULTS = {
  l1: { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, maxStaleMs: 10_000 },
  jitter: 0.1,
  beta: 1,
  staleMs: 0,
  graceMs: 0,
  negativeTtlMs: 0,
  graceBackoffMs: 1_000,
  maxGraceBackoffMs: 60_000,
  storeDeadlineMs: 100,
  onStoreError: 'local',
  storeBreaker: { failureThreshold: 5, breakDurationMs: 5_000 },
  lease: { ttlMs: 5_000 },
} as const;

const STORE_ERROR_MODES = ['fail-open', 'fail-closed', 'local'] as const;

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
  storeDeadlineMs: number;
  onStoreError: CacheStoreErrorMode;
  storeBreaker: Required<StoreBreakerOptions> | undefined;
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
    expectFunction('store.namespace', store.namespace);
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
  const perCall = resolvePerCall(options, undefined);
  return {
    ...perCall,
    name,
    store,
    l1,
    jitter: expectUnitInterval('jitter', options.jitter ?? CACHE_DEFAULTS.jitter),
    beta: expectNonNegative('beta', options.beta ?? CACHE_DEFAULTS.beta),
    graceBackoffMs: expectPositive(
      'graceBackoffMs',
      options.graceBackoffMs ?? CACHE_DEFAULTS.graceBackoffMs,
    ),
    codec,
    storeDeadlineMs: expectPositive(
      'storeDeadlineMs',
      options.storeDeadlineMs ?? CACHE_DEFAULTS.storeDeadlineMs,
    ),
    onStoreError: expectOneOf(
      'onStoreError',
      options.onStoreError ?? CACHE_DEFAULTS.onStoreError,
      STORE_ERROR_MODES,
    ),
    storeBreaker: resolveBreaker(options.storeBreaker),
    lease: resolveLease(options.lease),
    clock: resolveClock(options.clock),
    random: options.random === undefined ? Math.random : expectFunction('random', options.random),
  };
}

function resolveL1(l1: L1Options | false | undefined): Required<L1Options> | undefined {
  if (l1 === false) return undefined;
  const given = l1 === undefined ? {} : expectObject('l1', l1);
  const defaults = CACHE_DEFAULTS.l1;
  return {
    maxEntries: expectInteger('l1.maxEntries', given.maxEntries ?? defaults.maxEntries),
    maxBytes: expectPositive('l1.maxBytes', given.maxBytes ?? defaults.maxBytes),
    maxStaleMs: expectPositive('l1.maxStaleMs', given.maxStaleMs ?? defaults.maxStaleMs),
  };
}

function resolveBreaker(
  breaker: StoreBreakerOptions | false | undefined,
): Required<StoreBreakerOptions> | undefined {
  if (breaker === false) return undefined;
  const given = breaker === undefined ? {} : expectObject('storeBreaker', breaker);
  const defaults = CACHE_DEFAULTS.storeBreaker;
  return {
    failureThreshold: expectInteger(
      'storeBreaker.failureThreshold',
      given.failureThreshold ?? defaults.failureThreshold,
    ),
    breakDurationMs: expectPositive(
      'storeBreaker.breakDurationMs',
      given.breakDurationMs ?? defaults.breakDurationMs,
    ),
  };
}

function resolveLease(lease: LeaseOptions | false | undefined): Required<LeaseOptions> | undefined {
  if (lease === false) return undefined;
  const given = lease === undefined ? {} : expectObject('lease', lease);
  // Stores take whole milliseconds (Redis PX).
  return { ttlMs: expectInteger('lease.ttlMs', given.ttlMs ?? CACHE_DEFAULTS.lease.ttlMs) };
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
      ? (base?.staleMs ?? CACHE_DEFAULTS.staleMs)
      : expectNonNegative('staleMs', options.staleMs);
  const graceMs =
    options.graceMs === undefined
      ? (base?.graceMs ?? CACHE_DEFAULTS.graceMs)
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
        ? (base?.negativeTtlMs ?? CACHE_DEFAULTS.negativeTtlMs)
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
