/**
 * Options of `rateLimiter()`, their defaults, and their validation. Every check names the option
 * and the value it got: ``RangeError: Expected `limit` to be a finite number > 0, got -1``.
 */
import {
  type Clock,
  type OnStoreError as CoreOnStoreError,
  DEFAULT_REPLICA_RENEW_INTERVAL_MS,
  DEFAULT_REPLICA_TTL_MS,
  expectInteger,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
  expectOneOf,
  expectPositive,
  expectRatio,
  type ReplicaTiming,
  resolveReplicaTiming,
  resolveStoreOptions,
  STORE_DEFAULTS,
  type StoreOptions,
  type StoreSettings,
  systemClock,
} from '@breakwater/core';
import { compileLimit } from './algorithms/compile.js';
import { ALGORITHM_NAMES } from './algorithms/index.js';
import type { AlgorithmName, CompiledLimit } from './algorithms/limit.js';
import { warnUnknownRateLimiterOptions } from './known-options.js';
import {
  expectTimerMs,
  type LimitsFunction,
  PLAN_DEFAULTS,
  type PlanCacheOptions,
  type ResolvedPlans,
  resolvePlans,
} from './plan-options.js';
import type { LimitDefinition } from './rate-limiter.js';
import type { RateLimitStore } from './store.js';
import { memoryStore } from './stores/memory.js';

/** What a limiter does when its store fails or misses its deadline (core's shared type). */
export type OnStoreError = CoreOnStoreError;

/**
 * A limit that follows the fleet (Sentinel's "average × instances" mode): the fleet's limit is
 * `perReplica × N`, N the live replicas counted by the limiter's replica registry, re-read as
 * replicas join and leave. For limits that protect each replica's own capacity rather than a
 * fixed budget shared by the fleet. The limit's `burst` is per replica too (`burst × N`).
 */
export interface PerReplicaLimit {
  /** Cost each replica adds to the fleet's limit per interval; a finite number > 0. */
  perReplica: number;
}

/**
 * A limit value: a fixed cost per interval for the whole fleet, or `{ perReplica }` for one that
 * grows and shrinks with the fleet.
 */
export type LimitValue = number | PerReplicaLimit;

/** One limit: at most `limit` cost per `intervalMs`, plus `burst`. */
export interface LimitOptions {
  /**
   * Cost admitted per interval at the sustained rate: a finite number > 0, or `{ perReplica }`
   * (the fleet's limit is then `perReplica × N`, see {@link PerReplicaLimit}).
   */
  limit: LimitValue;
  /** The interval, in milliseconds; a finite number > 0. */
  intervalMs: number;
  /**
   * Extra cost admitted on top of the sustained rate. For `gcra` and `token-bucket`, a quiet key
   * admits `burst + 1` at once; for the window algorithms each window admits `limit + burst`.
   * @default 0
   */
  burst?: number | undefined;
  /**
   * The algorithm of this limit, e.g. `'fixed-window'` for a daily quota next to a GCRA rate.
   * @default the limiter's `algorithm`
   */
  algorithm?: AlgorithmName | undefined;
}

export type {
  LimitsFunction,
  PlanCacheOptions,
  PlanLimits,
  ResolvedPlans,
  SetLimitsOptions,
} from './plan-options.js';

/** Reservation mode: see {@link RateLimiterOptions.reserve}. */
export interface ReserveOptions {
  /** Permits taken from the store per round trip; an integer ≥ 1 the limits can admit at once. */
  batch: number;
  /**
   * How long reserved permits may be handed out, in milliseconds; older ones are dropped (never
   * returned, so the bound below holds).
   * @default the shortest `intervalMs`
   */
  holdMs?: number | undefined;
}

/**
 * Options of `rateLimiter()`. Give either `limit` + `intervalMs` (+ `burst`) or `limits`. The store
 * options (`onStoreError`, `storeDeadlineMs`, `storeFailureThreshold`, `storeProbeIntervalMs`) are
 * the ones every Breakwater pattern takes; see the core README, "When the store fails".
 */
export interface RateLimiterOptions extends StoreOptions {
  /**
   * Names the limiter in errors and telemetry, and in store keys: replicas that share a limit must
   * use the same name, limiters that must not share one must not.
   */
  name: string;
  /**
   * Cost admitted per `intervalMs` (single-limit form): a number, or `{ perReplica }` for a limit
   * of `perReplica × N` that follows the fleet's size N (see {@link PerReplicaLimit}).
   */
  limit?: LimitValue | undefined;
  /** The interval of `limit`, in milliseconds (single-limit form). */
  intervalMs?: number | undefined;
  /**
   * Extra cost admitted on top of the sustained rate (single-limit form).
   * @default 0
   */
  burst?: number | undefined;
  /**
   * Several limits checked and consumed together, atomically, in one store operation: a call is
   * admitted only if it fits all of them, and then consumes from all of them. Or a function of the
   * key giving each key its own limits (a plan per tenant, see {@link LimitsFunction}); its answers
   * are cached per key (`planCache`).
   */
  limits?: readonly LimitOptions[] | LimitsFunction | undefined;
  /**
   * With a `limits` function: how many keys' plans are cached, and for how long. A decision for a
   * key whose plan is cached calls no function and awaits nothing more than a fixed-limits one.
   * @default { maxKeys: 10_000, ttlMs: 60_000 }
   */
  planCache?: PlanCacheOptions | undefined;
  /**
   * How often this replica reads the limits `setLimits(limits, { fleet: true })` published for the
   * limiter's name in its store, in milliseconds (one small read per interval, on an unref'd timer
   * stopped by `close()`): every replica decides under published limits within one interval. 0:
   * never read (this replica ignores published limits). Not used with a `limits` function.
   * @default 1000
   */
  limitsSyncIntervalMs?: number | undefined;
  /**
   * `'gcra'`: exact, smooth, one timestamp per key. `'token-bucket'`: the same admissions, stored
   * as tokens. `'sliding-window'`: weighted two-window counter. `'fixed-window'`: one counter per
   * aligned window. See the README for when to pick which. Each entry of `limits` may choose its
   * own.
   * @default 'gcra'
   */
  algorithm?: AlgorithmName | undefined;
  /**
   * Where the state lives: `memoryStore()`, `redisStore()` from `@breakwater/rate-limit/redis`,
   * `dynamoStore()` from `@breakwater/rate-limit/dynamodb`.
   * @default memoryStore()
   */
  store?: RateLimitStore | undefined;
  /**
   * What decisions are made when the store fails, misses `storeDeadlineMs`, or is degraded:
   * `'local'` limits each replica in memory to its share of the limits (`limit / N`, N the fleet's
   * last known size, or `limit × localShare`) until the store answers again, so the fleet stays
   * near the limit; `'fail-open'` admits everything (an outage lifts the limit: measured 602,499
   * admitted against a bound of 801, see the README); `'fail-closed'` denies (with `retryAfterMs` =
   * `storeDeadlineMs`). Every such decision has `source: 'degraded'`.
   * @default 'local'
   */
  onStoreError?: OnStoreError | undefined;
  /**
   * Under `onStoreError: 'local'`, the share of each limit (and burst) one replica may use while
   * the store is down, in (0, 1]. Given, it replaces the fleet-sized share `1 / N` and the limiter
   * keeps no replica registry.
   * @default 1 / N, N = the live replicas counted by the registry (last known value)
   */
  localShare?: number | undefined;
  /**
   * How often this replica renews its heartbeat in the limiter's replica registry, in
   * milliseconds: one store operation per interval. The registry runs with a remote store when a
   * limit is `{ perReplica }` (whatever `onStoreError`), or under `onStoreError: 'local'` without
   * `localShare`.
   * @default 5000
   */
  replicaRenewIntervalMs?: number | undefined;
  /**
   * How long one heartbeat counts, in milliseconds; longer than `replicaRenewIntervalMs`. A
   * replica that stops (or is killed) leaves the count within this time.
   * @default 15000 (3 × `replicaRenewIntervalMs` when that is larger)
   */
  replicaTtlMs?: number | undefined;
  /**
   * Deadline of one store operation (decisions, peeks, `reset()`, the refunds of `close()`), in
   * milliseconds (> 0, ≤ 2³¹−1); a slower answer is a store failure.
   * @default 500
   */
  storeDeadlineMs?: number | undefined;
  /**
   * After this many consecutive store failures the store is `degraded`: decisions take the
   * `onStoreError` answer at once, without waiting on the store, until a probe succeeds.
   * @default 3
   */
  storeFailureThreshold?: number | undefined;
  /**
   * While the store is degraded, how often it is probed in the background, in milliseconds.
   * @default 1000
   */
  storeProbeIntervalMs?: number | undefined;
  /**
   * Local deny cache: a key the store denied until T is denied locally until T (zero round trips
   * while a client hammers a blocked key). `false` turns it off. Only used with remote stores: the
   * memory store answers as cheaply as the cache would.
   * @default { maxKeys: 10_000 }
   */
  denyCache?: boolean | { maxKeys?: number | undefined } | undefined;
  /**
   * Reservation mode: take `batch` permits per store round trip and hand them out locally. The
   * fleet can then admit up to `replicas × (batch − 1)` more than the limits in one interval
   * (whole costs); unused permits are returned by `close()`. Off by default.
   */
  reserve?: ReserveOptions | undefined;
  /**
   * Keeps a key denied for this long, in milliseconds, once a call of it does not fit: every call
   * of the key until then is denied without consuming, with `retryAfterMs` = the rest of the block
   * (rate-limiter-flexible's `blockDuration`, in milliseconds here). The block is kept in the store
   * with the key's state, set atomically by the denying decision, so the whole fleet sees it; only
   * `reset()` lifts it early (`reward()` does not). Not applied by `onStoreError: 'local'`
   * decisions. 0: no block.
   * @default 0
   */
  blockDurationMs?: number | undefined;
  /**
   * The clock of local decisions (deny cache, reservations, waits) and of the memory and DynamoDB
   * stores. Redis decisions always use the Redis server's clock.
   * @default systemClock
   */
  clock?: Clock | undefined;
}

/**
 * Defaults of the optional options. The store deadline, failure threshold and probe interval are
 * core's `STORE_DEFAULTS`, shared by every pattern; `onStoreError` is the rate limiter's own: a
 * limiter outage should neither become an outage of the service it protects (`'fail-closed'`)
 * nor lift the limit it exists to hold (`'fail-open'`).
 */
export const DEFAULTS = {
  burst: 0,
  algorithm: 'gcra',
  onStoreError: 'local',
  replicaRenewIntervalMs: DEFAULT_REPLICA_RENEW_INTERVAL_MS,
  replicaTtlMs: DEFAULT_REPLICA_TTL_MS,
  storeDeadlineMs: STORE_DEFAULTS.deadlineMs,
  storeFailureThreshold: STORE_DEFAULTS.failureThreshold,
  storeProbeIntervalMs: STORE_DEFAULTS.probeIntervalMs,
  denyCacheMaxKeys: 10_000,
  ...PLAN_DEFAULTS,
} as const;

/** One limit as configured, validated: fixed, or `perReplica` (scaled by the fleet's size). */
export interface LimitSpec {
  readonly algorithm: AlgorithmName;
  /** The fleet's limit, or with `perReplica` each replica's part of it. */
  readonly limit: number;
  /** Whether `limit` and `burst` are per replica: the fleet's are `× N`. */
  readonly perReplica: boolean;
  readonly intervalMs: number;
  /** The fleet's burst, or with `perReplica` each replica's part of it. */
  readonly burst: number;
}

/** The longest `blockDurationMs`: 10¹² ms, about 31 years (a store expiry stays exact). */
export const MAX_BLOCK_DURATION_MS = 1e12;

/**
 * Validates the limits `setLimits()` is given, as `rateLimiter()` validates `limit` + `intervalMs`
 * + `burst` or `limits` (the error names the same options).
 */
export function resolveNewLimits(limits: unknown, algorithm: AlgorithmName): LimitSpec[] {
  if (Array.isArray(limits)) return resolveLimits({ name: '', limits }, algorithm);
  const single = expectObject('limits', limits) as unknown as LimitOptions;
  const own =
    single.algorithm === undefined
      ? algorithm
      : expectOneOf('algorithm', single.algorithm, ALGORITHM_NAMES);
  return [limitOf(own, '', single.limit, single.intervalMs, single.burst)];
}

/** Options after validation, with defaults applied. */
export interface ResolvedOptions {
  readonly name: string;
  readonly algorithm: AlgorithmName;
  /** The limits as configured; a `perReplica` one is sized by the fleet (`fleetLimits()`). */
  readonly limitSpecs: readonly LimitSpec[];
  /** The limits with a fleet of one replica (the smallest a `perReplica` limit can be). */
  readonly limits: readonly CompiledLimit[];
  /** Whether a limit is `{ perReplica }`: the limits then follow the fleet's size. */
  readonly followsFleet: boolean;
  /**
   * The largest cost one call can be admitted with: the smallest capacity of the limits, with a
   * fleet of one replica (a `perReplica` limit only grows with the fleet, so a cost valid once
   * stays valid).
   */
  readonly maxCost: number;
  readonly store: RateLimitStore;
  /** `onStoreError`, the deadline, the failure threshold and the probe interval. */
  readonly storeSettings: StoreSettings;
  /** `undefined`: the share follows the fleet's size (`1 / N`). */
  readonly localShare: number | undefined;
  /** The replica registry's heartbeat interval and TTL. */
  readonly replicaTiming: ReplicaTiming;
  /** 0 when the deny cache is off. */
  readonly denyCacheMaxKeys: number;
  readonly reserve: { readonly batch: number; readonly holdMs: number } | undefined;
  /** 0: no block. */
  readonly blockDurationMs: number;
  readonly clock: Clock;
  /** With a `limits` function: the function and its cache; the limits above are then unused. */
  readonly plans: ResolvedPlans | undefined;
  /** 0: published limits are never read. */
  readonly limitsSyncIntervalMs: number;
}

/**
 * What a limiter with a `limits` function scopes before any plan: a limit no decision uses, whose
 * handle serves the store probe and the replica registry (both named by the limiter, not a plan).
 */
const PLACEHOLDER_LIMITS: readonly LimitOptions[] = [{ limit: 1, intervalMs: 1000 }];

/**
 * Validates `rateLimiter()` options and applies defaults.
 * @throws {TypeError | RangeError} naming the option and the bad value.
 */
export function resolveOptions(options: RateLimiterOptions): ResolvedOptions {
  expectObject('options', options);
  warnUnknownRateLimiterOptions(options);
  const name = expectNonEmptyString('name', options.name);
  const algorithm =
    options.algorithm === undefined
      ? DEFAULTS.algorithm
      : expectOneOf('algorithm', options.algorithm, ALGORITHM_NAMES);
  const plans = resolvePlans(options);
  const limitSpecs = resolveLimits(
    plans === undefined ? options : { name, limits: PLACEHOLDER_LIMITS },
    algorithm,
  );
  const limits = fleetLimits(limitSpecs, 1);
  const followsFleet = limitSpecs.some((spec) => spec.perReplica);
  let maxCost = Number.POSITIVE_INFINITY;
  for (const limit of limits) maxCost = Math.min(maxCost, limit.capacity);

  const store = options.store ?? memoryStore();
  expectObject('store', store);
  if (typeof store.scope !== 'function') {
    throw new TypeError(
      'Expected `store` to be a rate-limit store (memoryStore(), redisStore(), dynamoStore())',
    );
  }
  const storeSettings = resolveStoreOptions(options, {
    onStoreError: DEFAULTS.onStoreError,
    deadlineMs: DEFAULTS.storeDeadlineMs,
    failureThreshold: DEFAULTS.storeFailureThreshold,
    probeIntervalMs: DEFAULTS.storeProbeIntervalMs,
  });
  const localShare =
    options.localShare === undefined ? undefined : expectRatio('localShare', options.localShare);
  const replicaTiming = resolveReplicaTiming(
    { renewIntervalMs: options.replicaRenewIntervalMs, ttlMs: options.replicaTtlMs },
    { renewIntervalMs: 'replicaRenewIntervalMs', ttlMs: 'replicaTtlMs' },
  );

  let denyCacheMaxKeys: number = DEFAULTS.denyCacheMaxKeys;
  if (options.denyCache === false) denyCacheMaxKeys = 0;
  else if (typeof options.denyCache === 'object' && options.denyCache !== null) {
    const maxKeys = options.denyCache.maxKeys;
    if (maxKeys !== undefined) denyCacheMaxKeys = expectInteger('denyCache.maxKeys', maxKeys);
  } else if (options.denyCache !== undefined && options.denyCache !== true) {
    throw new TypeError(
      `Expected \`denyCache\` to be a boolean or { maxKeys }, got ${String(options.denyCache)}`,
    );
  }

  let reserve: ResolvedOptions['reserve'];
  if (options.reserve !== undefined && plans !== undefined) {
    throw new TypeError(
      'Expected either `reserve` or a `limits` function, got both (reserved permits are per limit, a plan per key)',
    );
  }
  if (options.reserve !== undefined) {
    expectObject('reserve', options.reserve);
    const batch = expectInteger('reserve.batch', options.reserve.batch);
    if (batch > maxCost) {
      throw new RangeError(
        `Expected \`reserve.batch\` to be at most ${maxCost} (the most the limits admit at once; raise \`burst\`), got ${batch}`,
      );
    }
    let shortest = Number.POSITIVE_INFINITY;
    for (const limit of limits) shortest = Math.min(shortest, limit.intervalMs);
    const holdMs =
      options.reserve.holdMs === undefined
        ? shortest
        : expectPositive('reserve.holdMs', options.reserve.holdMs);
    reserve = { batch, holdMs };
  }

  const blockDurationMs =
    options.blockDurationMs === undefined
      ? 0
      : expectNonNegative('blockDurationMs', options.blockDurationMs);
  if (blockDurationMs > MAX_BLOCK_DURATION_MS) {
    throw new RangeError(
      `Expected \`blockDurationMs\` to be at most ${MAX_BLOCK_DURATION_MS} (about 31 years), got ${blockDurationMs}`,
    );
  }

  const clock = options.clock ?? systemClock;
  expectObject('clock', clock);
  if (typeof clock.now !== 'function' || typeof clock.sleep !== 'function') {
    throw new TypeError('Expected `clock` to have now() and sleep() methods');
  }
  let limitsSyncIntervalMs: number = DEFAULTS.limitsSyncIntervalMs;
  if (options.limitsSyncIntervalMs !== undefined) {
    limitsSyncIntervalMs = expectTimerMs('limitsSyncIntervalMs', options.limitsSyncIntervalMs, 0);
  }
  return {
    name,
    algorithm,
    plans,
    limitsSyncIntervalMs,
    limitSpecs,
    limits,
    followsFleet,
    maxCost,
    store,
    storeSettings,
    localShare,
    replicaTiming,
    denyCacheMaxKeys,
    reserve,
    blockDurationMs,
    clock,
  };
}

function resolveLimits(options: RateLimiterOptions, algorithm: AlgorithmName): LimitSpec[] {
  const single =
    options.limit !== undefined || options.intervalMs !== undefined || options.burst !== undefined;
  if (options.limits !== undefined) {
    if (single) {
      throw new TypeError('Expected either `limit` + `intervalMs` or `limits`, got both');
    }
    if (!Array.isArray(options.limits) || options.limits.length === 0) {
      throw new TypeError(
        `Expected \`limits\` to be a non-empty array, got ${String(options.limits)}`,
      );
    }
    return options.limits.map((entry, i) => {
      expectObject(`limits[${i}]`, entry);
      const own =
        entry.algorithm === undefined
          ? algorithm
          : expectOneOf(`limits[${i}].algorithm`, entry.algorithm, ALGORITHM_NAMES);
      return limitOf(own, `limits[${i}].`, entry.limit, entry.intervalMs, entry.burst);
    });
  }
  return [limitOf(algorithm, '', options.limit, options.intervalMs, options.burst)];
}

function limitOf(
  algorithm: AlgorithmName,
  path: string,
  limit: unknown,
  intervalMs: unknown,
  burst: unknown,
): LimitSpec {
  const perReplica = typeof limit === 'object' && limit !== null;
  return {
    algorithm,
    limit: perReplica
      ? expectPerReplica(`${path}limit`, limit)
      : expectPositive(`${path}limit`, limit),
    perReplica,
    intervalMs: expectPositive(`${path}intervalMs`, intervalMs),
    burst: burst === undefined ? DEFAULTS.burst : expectNonNegative(`${path}burst`, burst),
  };
}

/** The `perReplica` of a `{ perReplica }` limit: a finite number > 0. */
function expectPerReplica(name: string, limit: object): number {
  if (!('perReplica' in limit)) {
    throw new TypeError(
      `Expected \`${name}\` to be a finite number > 0 or { perReplica: number }, got an object without \`perReplica\``,
    );
  }
  return expectPositive(`${name}.perReplica`, (limit as PerReplicaLimit).perReplica);
}

/**
 * The limits in force with a fleet of `replicas` live replicas: a `perReplica` limit (and its
 * burst) times `replicas`, the others as configured.
 */
export function fleetLimits(specs: readonly LimitSpec[], replicas: number): CompiledLimit[] {
  return specs.map((spec) => {
    const scale = spec.perReplica ? replicas : 1;
    return compileLimit(spec.algorithm, spec.limit * scale, spec.intervalMs, spec.burst * scale);
  });
}

/**
 * Checks limits given to `setLimits()` against the limiter they are for: `{ perReplica }` only on
 * a limiter that counts its fleet, and room for a whole `reserve.batch` at once.
 * @returns whether they follow the fleet, the limits with one replica, and the largest cost.
 */
export function checkRunTimeLimits(
  specs: readonly LimitSpec[],
  limiter: { name: string; countsFleet: boolean; reserveBatch: number | undefined },
): { followsFleet: boolean; base: CompiledLimit[]; maxCost: number } {
  const followsFleet = specs.some((spec) => spec.perReplica);
  if (followsFleet && !limiter.countsFleet) {
    throw new TypeError(
      `Expected \`limits\` without \`{ perReplica }\`: rate limiter "${limiter.name}" counts no fleet (build it with a \`{ perReplica }\` limit and a remote store to change such limits at run time)`,
    );
  }
  const base = fleetLimits(specs, 1);
  let maxCost = Number.POSITIVE_INFINITY;
  for (const limit of base) maxCost = Math.min(maxCost, limit.capacity);
  const batch = limiter.reserveBatch;
  if (batch !== undefined && batch > maxCost) {
    throw new RangeError(
      `Expected \`limits\` to admit at least \`reserve.batch\` (${batch}) at once, got limits admitting ${maxCost}`,
    );
  }
  return { followsFleet, base, maxCost };
}

/** The limits in force as `limiter.limits` shows them: `perReplica` ones say their share. */
export function defineLimits(
  specs: readonly LimitSpec[],
  limits: readonly CompiledLimit[],
): readonly LimitDefinition[] {
  return limits.map(({ limit, intervalMs, burst, algorithm }, i) =>
    specs[i]!.perReplica
      ? { limit, intervalMs, burst, algorithm, perReplica: specs[i]!.limit }
      : { limit, intervalMs, burst, algorithm },
  );
}

/**
 * Validates a per-call cost: a finite number > 0 that the limits can admit at all (a larger one
 * would wait forever).
 */
export function expectCost(cost: unknown, maxCost: number): number {
  const value = expectPositive('cost', cost);
  if (value > maxCost + 1e-9) {
    throw new RangeError(
      `Expected \`cost\` to be at most ${maxCost} (the most the limits can ever admit at once), got ${value}`,
    );
  }
  return value;
}

/** Validates a user key: a non-empty string (long keys are hashed by the stores, not refused). */
export function expectKey(key: unknown): string {
  return expectNonEmptyString('key', key);
}
