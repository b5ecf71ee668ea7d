/**
 * The limits a limiter decides under, and every way they change: `setLimits()` on this replica,
 * limits published for the fleet (limits-sync.ts), a `perReplica` limit following the fleet's
 * size, and, with a `limits` function, the plan of each key (plans.ts). Each change replaces the
 * scoped limits as a whole, synchronously: an operation reads them once, when it starts, and is
 * decided under them to the end, so no decision ever sees half of a change.
 */
import type { OnStoreError, ReplicaRegistry } from '@breakwater/core';
import { type AlgorithmName, type CompiledLimit, layoutName } from '../algorithms/limit.js';
import {
  checkRunTimeLimits,
  defineLimits,
  fleetLimits,
  type LimitSpec,
  type LimitsFunction,
  type ResolvedOptions,
  resolveNewLimits,
} from '../options.js';
import type { LimitDefinition } from '../rate-limiter.js';
import type { LimiterShape, RateLimitStore, StoreHandle } from '../store.js';
import { LocalShares } from './local-shares.js';
import { PlanCache, type PlanOutcome } from './plans.js';
import type { ScopedLimits } from './store-ops.js';

const NO_LIMITS: readonly LimitDefinition[] = Object.freeze([]);

/** What the limits need from their limiter, read when they change. */
export interface LimitsOwner {
  /** The replica registry, when the limiter counts its fleet. */
  readonly registry: () => ReplicaRegistry | undefined;
  /** `reserve.batch`, when the limiter reserves. */
  readonly reserveBatch: () => number | undefined;
  /** The limits changed: denials cached under the old ones may be wrong. */
  readonly changed: () => void;
}

/** Limits validated for one limiter, ready to be put in force. */
export interface CheckedLimits {
  readonly specs: readonly LimitSpec[];
  readonly followsFleet: boolean;
  /** The limits with a fleet of one replica. */
  readonly base: readonly CompiledLimit[];
  readonly maxCost: number;
}

/** The limits of one limiter. */
export class LimitsInForce {
  private readonly name: string;
  private readonly algorithm: AlgorithmName;
  private readonly store: RateLimitStore;
  private readonly blockDurationMs: number;
  private readonly onStoreError: OnStoreError;
  private readonly localShare: number | undefined;
  /** The limits as configured (`perReplica` ones are sized by the fleet). */
  private specs: readonly LimitSpec[];
  /** Whether a limit is `{ perReplica }` (the limits then follow the fleet's size). */
  private followsFleet: boolean;
  /**
   * The limits in force and the store handle scoped to them. With a `limits` function: a
   * placeholder no decision uses, whose handle serves the probe and the replica registry.
   */
  scoped: ScopedLimits;
  /** `limiter.limits`, built when the limits change rather than on each read. */
  definitions: readonly LimitDefinition[];
  /** The largest cost a call may have (∞ with plans: each plan checks its own). */
  maxCost: number;
  /** Under `onStoreError: 'local'` with a remote store and fixed limits: this replica's shares. */
  readonly local: LocalShares | undefined;
  /** With a `limits` function: the plans of the keys. */
  readonly plans: PlanCache | undefined;
  /** The version of the published limits adopted last (0: none). */
  version = 0;

  constructor(
    options: ResolvedOptions,
    private readonly owner: LimitsOwner,
  ) {
    this.name = options.name;
    this.algorithm = options.algorithm;
    this.store = options.store;
    this.blockDurationMs = options.blockDurationMs;
    this.onStoreError = options.storeSettings.onStoreError;
    this.localShare = options.localShare;
    this.specs = options.limitSpecs;
    this.followsFleet = options.followsFleet;
    const handle = this.store.scope(this.shapeOf(options.limits));
    this.local =
      this.onStoreError === 'local' && handle.remote && options.plans === undefined
        ? new LocalShares(this.name, this.specs, options.localShare, 1)
        : undefined;
    this.maxCost = options.plans ? Number.POSITIVE_INFINITY : options.maxCost;
    this.scoped = this.scopeTo(options.limits, this.maxCost, handle);
    this.definitions = options.plans ? NO_LIMITS : defineLimits(this.specs, options.limits);
    this.plans =
      options.plans &&
      new PlanCache(options.plans, {
        name: this.name,
        algorithm: this.algorithm,
        clock: options.clock,
        scope: (specs) => this.scopePlan(specs),
      });
  }

  /** The limits `key` is decided under: the limiter's, or the key's plan (then maybe awaited). */
  of(key: string): PlanOutcome | Promise<PlanOutcome> {
    return this.plans === undefined ? this.scoped : this.plans.resolve(key);
  }

  /** Like {@link of}, but only what is known without calling the `limits` function. */
  known(key: string): ScopedLimits {
    return this.plans?.cached(key) ?? this.scoped;
  }

  /** The limits the gauges report: none with plans (they are per key). */
  get gauged(): readonly CompiledLimit[] {
    return this.plans ? [] : this.scoped.limits;
  }

  /**
   * `setLimits()` on this replica: fixed limits for a limiter built with fixed limits, a new
   * function for one built with a `limits` function.
   * @throws {TypeError | RangeError} naming the option; the limits in force then stay.
   */
  set(limits: unknown): void {
    const plans = this.plans;
    if (plans !== undefined || typeof limits === 'function') {
      if (plans === undefined || typeof limits !== 'function') {
        throw new TypeError(
          `Expected \`limits\` of the kind rate limiter "${this.name}" was built with (${plans ? 'a function' : 'fixed limits'}), got ${typeof limits === 'function' ? 'a function' : 'fixed limits'}`,
        );
      }
      // Plans of the old function are dropped: each key asks the new one on its next call.
      plans.replace(limits as LimitsFunction);
      this.owner.changed();
      return;
    }
    this.apply(this.check(limits));
  }

  /**
   * Validates limits for this limiter, as `rateLimiter()` validates them, and against it: no
   * `{ perReplica }` on a limiter counting no fleet, room for a whole `reserve.batch`.
   */
  check(limits: unknown): CheckedLimits {
    const specs = resolveNewLimits(limits, this.algorithm);
    const checked = checkRunTimeLimits(specs, {
      name: this.name,
      countsFleet: this.owner.registry() !== undefined,
      reserveBatch: this.owner.reserveBatch(),
    });
    return { specs, ...checked };
  }

  /**
   * Puts checked limits in force from the next decision on. Operations already sent finish under
   * the limits they were sent with; the keys' state stays in the store and is read under the new
   * limits (an algorithm change starts every key afresh: it changes the state layout).
   */
  apply({ specs, followsFleet, base, maxCost }: CheckedLimits): void {
    this.specs = specs;
    this.followsFleet = followsFleet;
    this.maxCost = maxCost;
    const current = followsFleet ? fleetLimits(specs, this.owner.registry()!.count) : base;
    this.scoped = this.scopeTo(current, maxCost);
    this.definitions = defineLimits(specs, current);
    this.owner.changed();
    this.local?.respec(specs);
  }

  /** Puts published limits of `version` in force, unless a version as new is in force already. */
  adopt(version: number, checked: CheckedLimits): void {
    if (!(version > this.version)) return;
    this.version = version;
    this.apply(checked);
  }

  /**
   * The fleet now has `replicas` live replicas: local shares follow, and `perReplica` limits
   * become `perReplica × N` (see the README, "Limits that follow the fleet").
   */
  followFleet(replicas: number): void {
    this.local?.resize(replicas);
    this.plans?.forEachScoped((scoped) => scoped.local?.resize(replicas));
    if (!this.followsFleet) return;
    const limits = fleetLimits(this.specs, replicas);
    this.scoped = this.scopeTo(limits, this.maxCost);
    this.definitions = defineLimits(this.specs, limits);
    this.owner.changed();
  }

  /** What the store is told of `limits` (the layout, not the values, names the keys' state). */
  private shapeOf(limits: readonly CompiledLimit[]): LimiterShape {
    const blockDurationMs = this.blockDurationMs;
    return blockDurationMs > 0
      ? { name: this.name, layout: layoutName(limits), limits, blockDurationMs }
      : { name: this.name, layout: layoutName(limits), limits };
  }

  /** A store handle scoped to `limits` (same layout, so same keys' state, for every N). */
  private scopeTo(
    limits: readonly CompiledLimit[],
    maxCost: number,
    handle: StoreHandle = this.store.scope(this.shapeOf(limits)),
  ): ScopedLimits {
    return this.scopedLimits(limits, handle, maxCost, this.local);
  }

  /** The store handle and local shares of a plan (a `limits` function's validated answer). */
  private scopePlan(specs: readonly LimitSpec[]): ScopedLimits {
    const limits = fleetLimits(specs, 1);
    const handle = this.store.scope(this.shapeOf(limits));
    const local =
      this.onStoreError === 'local' && handle.remote
        ? new LocalShares(this.name, specs, this.localShare, this.owner.registry()?.count ?? 1)
        : undefined;
    let maxCost = Number.POSITIVE_INFINITY;
    for (const limit of limits) maxCost = Math.min(maxCost, limit.capacity);
    return this.scopedLimits(limits, handle, maxCost, local);
  }

  /** Limits and their handle, with the single limit picked out for the decision paths. */
  private scopedLimits(
    limits: readonly CompiledLimit[],
    handle: StoreHandle,
    maxCost: number,
    local: LocalShares | undefined,
  ): ScopedLimits {
    const only = limits.length === 1 ? limits[0] : undefined;
    const gcra =
      only?.algorithm === 'gcra' && this.blockDurationMs === 0 && handle.consumeGcra !== undefined
        ? only
        : undefined;
    return { limits, only, gcra, handle, maxCost, local };
  }
}
