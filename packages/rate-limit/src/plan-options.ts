/**
 * The options of limits per key (a `limits` function and its `planCache`) and of the fleet form
 * of `setLimits()`, their defaults and their validation; part of `rateLimiter()`'s options
 * (options.ts re-exports the types).
 */
import { expectInteger, expectNonNegative, expectObject, expectPositive } from '@breakwater/core';
import type { LimitOptions, RateLimiterOptions } from './options.js';

/** The limits of one key, as a {@link LimitsFunction} gives them: one limit, or several. */
export type PlanLimits = LimitOptions | readonly LimitOptions[];

/**
 * Gives a key its limits (its "plan": e.g. the tenant's subscription), synchronously or as a
 * promise. Called once per key and `planCache.ttlMs` at most (concurrent calls for one key share
 * one call); keys given equal limits share their store layout and scripts, each with its own
 * state. A function that throws, rejects or returns invalid limits denies the key's calls with a
 * `LimitSourceError` (the decision's `error`, `source: 'limit-source'`), without asking the store.
 * `{ perReplica }` limits are refused there: a plan is per key, not per fleet.
 */
export type LimitsFunction = (key: string) => PlanLimits | PromiseLike<PlanLimits>;

/** Options of {@link RateLimiterOptions.planCache}. */
export interface PlanCacheOptions {
  /**
   * Most keys whose plan is cached; beyond it the least recently resolved is dropped.
   * @default 10_000
   */
  maxKeys?: number | undefined;
  /**
   * How long a key's plan is used before the function is asked again, in milliseconds (> 0): the
   * longest a changed plan takes to apply.
   * @default 60_000
   */
  ttlMs?: number | undefined;
}

/** Options of the fleet form of `setLimits()`. */
export interface SetLimitsOptions {
  /**
   * `true`: publish the limits through the store, so that every replica of the limiter (same
   * name, same store) adopts them within one `limitsSyncIntervalMs`.
   */
  fleet: true;
  /** Cancels the store write; the promise then rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
}

/** Defaults of the options of this file (part of `DEFAULTS`). */
export const PLAN_DEFAULTS = {
  planCacheMaxKeys: 10_000,
  planCacheTtlMs: 60_000,
  limitsSyncIntervalMs: 1000,
} as const;

/** The longest timer Node.js runs: `limitsSyncIntervalMs` and `planCache.ttlMs` stay below. */
const MAX_TIMER_MS = 2_147_483_647;

/** A `limits` function and its cache's settings. */
export interface ResolvedPlans {
  readonly resolve: LimitsFunction;
  readonly maxKeys: number;
  readonly ttlMs: number;
}

/** `limits` as a function, with `planCache`; `undefined` for fixed limits. */
export function resolvePlans(options: RateLimiterOptions): ResolvedPlans | undefined {
  if (typeof options.limits !== 'function') {
    if (options.planCache !== undefined) {
      throw new TypeError(
        'Expected `planCache` only with a `limits` function, got `planCache` with fixed limits',
      );
    }
    return undefined;
  }
  if (options.limit !== undefined || options.intervalMs !== undefined) {
    throw new TypeError('Expected either `limit` + `intervalMs` or `limits`, got both');
  }
  if (options.burst !== undefined) {
    throw new TypeError(
      'Expected `burst` inside the limits the `limits` function returns, got `burst` beside it',
    );
  }
  const cache =
    options.planCache === undefined
      ? {}
      : (expectObject('planCache', options.planCache) as PlanCacheOptions);
  return {
    resolve: options.limits,
    maxKeys:
      cache.maxKeys === undefined
        ? PLAN_DEFAULTS.planCacheMaxKeys
        : expectInteger('planCache.maxKeys', cache.maxKeys),
    ttlMs:
      cache.ttlMs === undefined
        ? PLAN_DEFAULTS.planCacheTtlMs
        : expectTimerMs('planCache.ttlMs', cache.ttlMs, Number.MIN_VALUE),
  };
}

/** A number of milliseconds in [`min`, 2³¹−1], the range of a Node.js timer. */
export function expectTimerMs(name: string, value: unknown, min: number): number {
  const ms = min > 0 ? expectPositive(name, value) : expectNonNegative(name, value);
  if (ms > MAX_TIMER_MS) {
    throw new RangeError(`Expected \`${name}\` to be at most ${MAX_TIMER_MS}, got ${ms}`);
  }
  return ms;
}
