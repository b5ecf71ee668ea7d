/**
 * Limits per key: a limiter built with a `limits` function asks it for each key's limits (its
 * plan), validates the answer as `rateLimiter()` validates its options, and caches it per key, so
 * that a key with a cached plan is decided without calling the function and without an await.
 *
 * - Keys given equal limits share one scoped store handle (one script, one state layout, one
 *   `LocalShares`); each key keeps its own state in the store, as with fixed limits.
 * - Concurrent misses of one key share one call of the function.
 * - A function that throws, rejects, or returns limits that are not valid yields a
 *   `LimitSourceError` naming the key: the caller denies the call (it never reaches the store).
 *   Failures are not cached: the next call of the key asks again.
 * - Both maps are bounded by `planCache.maxKeys`, the oldest entry dropped first (a Map keeps
 *   insertion order); a plan is also dropped `ttlMs` after it was resolved.
 */
import type { Clock } from '@breakwater/core';
import type { AlgorithmName } from '../algorithms/limit.js';
import { LimitSourceError } from '../errors.js';
import {
  type LimitSpec,
  type LimitsFunction,
  type PlanLimits,
  type ResolvedPlans,
  resolveNewLimits,
} from '../options.js';
import type { ScopedLimits } from './store-ops.js';

/** A key's plan, or why it has none. */
export type PlanOutcome = ScopedLimits | LimitSourceError;

/** What the cache needs from its limiter. */
export interface PlanContext {
  /** The limiter's name, for errors. */
  readonly name: string;
  /** The default algorithm of a plan's limits. */
  readonly algorithm: AlgorithmName;
  readonly clock: Clock;
  /** Scopes the store (and the local shares) to a plan's validated limits. */
  readonly scope: (specs: readonly LimitSpec[]) => ScopedLimits;
}

interface CachedPlan {
  readonly scoped: ScopedLimits;
  /** Clock time after which the function is asked again. */
  readonly expiresAt: number;
}

/** The plans of a limiter's keys. */
export class PlanCache {
  private resolver: LimitsFunction;
  private readonly maxKeys: number;
  private readonly ttlMs: number;
  private readonly plans = new Map<string, CachedPlan>();
  /** Scoped handles by the signature of their limits: shared by the keys on one plan. */
  private readonly shapes = new Map<string, ScopedLimits>();
  private readonly inFlight = new Map<string, Promise<PlanOutcome>>();
  /** Bumped by {@link replace}: answers of the old function are not cached. */
  private generation = 0;

  constructor(
    settings: ResolvedPlans,
    private readonly context: PlanContext,
  ) {
    this.resolver = settings.resolve;
    this.maxKeys = settings.maxKeys;
    this.ttlMs = settings.ttlMs;
  }

  /** Keys with a cached plan; for tests. */
  get size(): number {
    return this.plans.size;
  }

  /** The cached plan of `key`, if it has one that has not expired. */
  cached(key: string): ScopedLimits | undefined {
    const entry = this.plans.get(key);
    if (entry === undefined) return undefined;
    if (this.context.clock.now() >= entry.expiresAt) {
      this.plans.delete(key);
      return undefined;
    }
    return entry.scoped;
  }

  /**
   * The plan of `key`: synchronously when it is cached or the function answers synchronously, a
   * promise when the function returns one. Never throws nor rejects: a failure is the outcome.
   */
  resolve(key: string): PlanOutcome | Promise<PlanOutcome> {
    const hit = this.cached(key);
    if (hit !== undefined) return hit;
    const pending = this.inFlight.get(key);
    if (pending !== undefined) return pending;
    const generation = this.generation;
    let answer: PlanLimits | PromiseLike<PlanLimits>;
    try {
      answer = this.resolver(key);
    } catch (error) {
      return this.failure(key, error);
    }
    if (!isThenable(answer)) return this.settle(key, answer, generation);
    const settled = Promise.resolve(answer).then(
      (limits) => this.settle(key, limits, generation),
      (error: unknown) => this.failure(key, error),
    );
    const tracked = settled.finally(() => {
      if (this.inFlight.get(key) === tracked) this.inFlight.delete(key);
    });
    this.inFlight.set(key, tracked);
    return tracked;
  }

  /** A new function (`setLimits(fn)`): every cached plan is dropped, answers in flight too. */
  replace(resolver: LimitsFunction): void {
    this.resolver = resolver;
    this.generation++;
    this.plans.clear();
    this.inFlight.clear();
  }

  /** Forgets the cached plan of `key` (its next call asks the function). */
  forget(key: string): void {
    this.plans.delete(key);
  }

  /** Calls `fn` with every plan's scoped limits in use (to resize their local shares). */
  forEachScoped(fn: (scoped: ScopedLimits) => void): void {
    for (const scoped of this.shapes.values()) fn(scoped);
  }

  /** Validates an answer, caches it (unless the function was replaced meanwhile). */
  private settle(key: string, answer: unknown, generation: number): PlanOutcome {
    let specs: LimitSpec[];
    try {
      specs = resolveNewLimits(answer, this.context.algorithm);
      const perReplica = specs.findIndex((spec) => spec.perReplica);
      if (perReplica >= 0) {
        throw new TypeError(
          `Expected limits without \`{ perReplica }\` (a plan is per key, not per fleet), got one in limit ${perReplica}`,
        );
      }
    } catch (error) {
      return this.failure(key, error);
    }
    const scoped = this.shapeOf(specs);
    if (generation === this.generation) {
      const plans = this.plans;
      plans.delete(key);
      plans.set(key, { scoped, expiresAt: this.context.clock.now() + this.ttlMs });
      dropOldest(plans, this.maxKeys);
    }
    return scoped;
  }

  private failure(key: string, error: unknown): LimitSourceError {
    return LimitSourceError.of(this.context.name, key, error);
  }

  /** The scoped handle of these limits: shared with every key on equal limits. */
  private shapeOf(specs: readonly LimitSpec[]): ScopedLimits {
    const signature = specs
      .map((s) => `${s.algorithm}/${s.limit}/${s.intervalMs}/${s.burst}`)
      .join(' ');
    let scoped = this.shapes.get(signature);
    if (scoped === undefined) {
      scoped = this.context.scope(specs);
      this.shapes.set(signature, scoped);
      dropOldest(this.shapes, this.maxKeys);
    }
    return scoped;
  }
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Drops the oldest entries of `map` beyond `max`. */
function dropOldest(map: Map<string, unknown>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done) return;
    map.delete(oldest.value);
  }
}
