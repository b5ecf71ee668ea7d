/**
 * The rate limiter `rateLimiter()` (rate-limiter.ts) builds: every decision path (deny cache,
 * reservations, store, degraded modes), written once against the store interface. A remote store is called only through core's `StoreCalls`
 * (deadline, degraded mode, background probe, store telemetry and status events); an in-process
 * store cannot fail that way and is called directly, so its decisions stay synchronous.
 */
import {
  abortableSignal,
  type Clock,
  type Disposer,
  type ExecutionContext,
  expectedFunctionError,
  expectPositive,
  neverAbortedSignal,
  type OnStoreError,
  POLICY_HEALTH,
  type PolicyHealth,
  policyHealth,
  ReplicaRegistry,
  raceAbort,
  StoreCalls,
  type StoreStatus,
  type StoreStatusChange,
} from '@breakwater/core';
import type { AlgorithmName, CompiledLimit } from '../algorithms/limit.js';
import type { RateLimitDecision } from '../decision.js';
import { LimitSourceError, RateLimitedError } from '../errors.js';
import {
  expectCost,
  expectKey,
  type LimitOptions,
  type LimitsFunction,
  type ResolvedOptions,
  type SetLimitsOptions,
} from '../options.js';
import type {
  AcquireOptions,
  LimitCallOptions,
  LimitDefinition,
  RateLimitExecuteOptions,
  RateLimiter,
  ReplicaCount,
} from '../rate-limiter.js';
import type { StoreResult } from '../store.js';
import { LimiterTelemetry, PATTERN } from '../telemetry.js';
import { DenyCache } from './deny-cache.js';
import {
  describeDecision,
  describeGcra,
  limitSourceDenial,
  retryAfterAll,
  wholeMs,
} from './describe-decision.js';
import { LimitsInForce } from './limits-in-force.js';
import {
  type FleetLimitsContext,
  fleetLimitsOps,
  type LimitsSync,
  publishLimits,
  startLimitsSync,
  syncPublished,
} from './limits-sync.js';
import type { PlanOutcome } from './plans.js';
import { fetchBatch, Reservations, refundReserved } from './reservations.js';
import {
  type ConsumeRequest,
  type LimiterStoreOps,
  limiterStoreOps,
  type ScopedLimits,
} from './store-ops.js';
import { expectMaxWait, type WaitContext, WaitLines, waitForAdmission } from './waiters.js';

/** The policy-wide key: used by `execute()` calls without a key. */
const POLICY_WIDE_KEY = '';

/** The rate limiter `rateLimiter()` builds. */
export class Limiter implements RateLimiter {
  readonly name: string;
  readonly algorithm: AlgorithmName;
  readonly storeKind: string;
  /**
   * The limits in force (or the keys' plans) and the store handles scoped to them; replaced as a
   * whole when they change. Read once per decision.
   */
  private readonly inForce: LimitsInForce;
  private readonly clock: Clock;
  private readonly calls: StoreCalls;
  /** The operations of a remote store, built once; each answers failures as `onStoreError` says. */
  private readonly ops: LimiterStoreOps;
  private readonly telemetry: LimiterTelemetry;
  private readonly denyCache: DenyCache | undefined;
  private reservations: Reservations | undefined;
  /** Counts the fleet, when the local share follows its size. */
  private readonly registry: ReplicaRegistry | undefined;
  /** What `acquire()` waits with (waiters.ts). */
  private readonly waiting: WaitContext;
  private readonly onStoreError: OnStoreError;
  /** `blockDurationMs` (0: none). */
  private readonly blockDurationMs: number;
  /** Publishes limits for the fleet and adopts the published ones (limits-sync.ts). */
  private readonly fleetLimits: FleetLimitsContext;
  private readonly sync: LimitsSync | undefined;
  private closed = false;

  constructor(options: ResolvedOptions) {
    this.name = options.name;
    this.algorithm = options.algorithm;
    this.clock = options.clock;
    this.storeKind = options.store.kind;
    this.blockDurationMs = options.blockDurationMs;
    const settings = options.storeSettings;
    this.onStoreError = settings.onStoreError;
    const inForce = new LimitsInForce(options, {
      registry: () => this.registry,
      reserveBatch: () => this.reservations?.batch,
      changed: () => this.denyCache?.clear(),
    });
    this.inForce = inForce;
    // With a `limits` function, this handle serves the probe and the replica registry only.
    const handle = inForce.scoped.handle;
    this.telemetry = new LimiterTelemetry(this.name, this.storeKind, {
      limits: () => inForce.gauged,
      replicas: () => this.registry?.count,
    });
    this.calls = new StoreCalls({
      pattern: PATTERN,
      policy: this.name,
      store: this.storeKind,
      settings,
      telemetry: this.telemetry.telemetry,
      // Every handle of the limiter probes the same key; the current one asks.
      probe:
        handle.probe === undefined ? undefined : (signal) => inForce.scoped.handle.probe!(signal),
    });
    // The deny cache saves round trips; an in-process store answers as cheaply as the cache would.
    this.denyCache =
      options.denyCacheMaxKeys > 0 && handle.remote
        ? new DenyCache(options.denyCacheMaxKeys)
        : undefined;
    this.reservations = options.reserve
      ? new Reservations(options.reserve.batch, options.reserve.holdMs)
      : undefined;
    // The fleet is counted when something follows its size: a `perReplica` limit (whatever
    // `onStoreError`), or the local share under 'local' without a fixed `localShare`.
    const counted =
      options.followsFleet ||
      (settings.onStoreError === 'local' && handle.remote && options.localShare === undefined);
    if (counted && handle.replicaBackend) {
      const registry = new ReplicaRegistry({
        calls: this.calls,
        backend: handle.replicaBackend(),
        ...options.replicaTiming,
      });
      registry.onCountChange((count) => inForce.followFleet(count));
      this.registry = registry;
    }

    this.waiting = {
      name: this.name,
      lines: new WaitLines(),
      clock: this.clock,
      telemetry: this.telemetry,
      decide: (key, cost, signal) => this.decide(key, cost, signal),
      rejection: (decision, message) => this.rejection(decision, message),
      firstLimit: (key) => inForce.known(key).limits[0]!,
    };
    this.ops = limiterStoreOps(this.calls, {
      scoped: () => inForce.scoped,
      storeDeadlineMs: settings.deadlineMs,
      telemetry: this.telemetry,
      conclude: (call, result, limits) => this.conclude(call, result, limits),
    });
    this.registry?.start();
    const ops = fleetLimitsOps(this.calls, options.store, this.name, handle.abortable === true);
    this.fleetLimits = { name: this.name, storeKind: this.storeKind, limits: inForce, ops };
    this.sync =
      ops && !inForce.plans && options.limitsSyncIntervalMs > 0
        ? startLimitsSync(this, options.limitsSyncIntervalMs)
        : undefined;
  }

  get limits(): readonly LimitDefinition[] {
    return this.inForce.definitions;
  }

  get storeStatus(): StoreStatus {
    return this.calls.status;
  }

  [POLICY_HEALTH](): PolicyHealth {
    return policyHealth({
      name: this.name,
      pattern: PATTERN,
      storeKind: this.storeKind,
      storeStatus: this.calls.status,
      onStoreError: this.onStoreError,
      closed: this.closed,
    });
  }

  limit(key: string, options?: LimitCallOptions): Promise<RateLimitDecision> {
    try {
      const validKey = expectKey(key);
      const cost = options?.cost === undefined ? 1 : expectCost(options.cost, this.inForce.maxCost);
      return this.decide(validKey, cost, options?.signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async peek(key: string, options?: LimitCallOptions): Promise<RateLimitDecision> {
    const validKey = expectKey(key);
    const cost = options?.cost === undefined ? 1 : expectCost(options.cost, this.inForce.maxCost);
    const signal = options?.signal;
    signal?.throwIfAborted();
    // Awaited only for a plan not known yet: otherwise the operation reaches the store in the
    // same tick as its call, in call order (a penalty() then a limit() stay in that order).
    const found = this.inForce.of(validKey);
    const scoped = found instanceof Promise ? await found : found;
    if (scoped instanceof LimitSourceError) return limitSourceDenial(scoped);
    expectCost(cost, scoped.maxCost);
    const now = this.clock.now();
    const { handle, limits } = scoped;
    if (handle.remote) return this.ops.peek.run({ key: validKey, scoped, cost, now }, signal);
    const result = handle.peek(validKey, cost, now, signal) as StoreResult;
    return describeDecision(limits, result.state, result.now, cost, result.allowed, 'store');
  }

  async reset(key: string, options?: { signal?: AbortSignal | undefined }): Promise<void> {
    const validKey = expectKey(key);
    await this.resetKey(validKey, options?.signal);
  }

  penalty(
    key: string,
    points?: number,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<RateLimitDecision> {
    return this.adjust(key, points, 1, options?.signal);
  }

  reward(
    key: string,
    points?: number,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<RateLimitDecision> {
    return this.adjust(key, points, -1, options?.signal);
  }

  setLimits(limits: LimitOptions | readonly LimitOptions[] | LimitsFunction): void;
  setLimits(
    limits: LimitOptions | readonly LimitOptions[],
    options: SetLimitsOptions,
  ): Promise<void>;
  setLimits(
    limits: LimitOptions | readonly LimitOptions[] | LimitsFunction,
    options?: SetLimitsOptions,
  ): void | Promise<void> {
    if (options !== undefined) return publishLimits(this.fleetLimits, limits, options);
    this.inForce.set(limits);
  }

  /** @internal Run by the sync loop (limits-sync.ts): adopts newer published limits. */
  syncLimits(): Promise<void> {
    return syncPublished(this.fleetLimits);
  }

  async acquire(key: string, options?: AcquireOptions): Promise<RateLimitDecision> {
    const validKey = expectKey(key);
    const cost = options?.cost === undefined ? 1 : expectCost(options.cost, this.inForce.maxCost);
    return waitForAdmission(
      this.waiting,
      validKey,
      cost,
      expectMaxWait(options?.maxWaitMs, Number.POSITIVE_INFINITY),
      abortableSignal(options?.signal),
    );
  }

  async execute<T>(
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    options?: RateLimitExecuteOptions,
  ): Promise<T> {
    // Before anything else: no permit taken for a call that cannot run.
    if (typeof fn !== 'function') throw expectedFunctionError('fn', fn);
    // The never-aborted signal an outer policy passes for a call given none is no signal: a
    // waiting call would otherwise add a listener to it.
    const signal = abortableSignal(options?.signal);
    signal?.throwIfAborted();
    const key = options?.key === undefined ? POLICY_WIDE_KEY : expectKey(options.key);
    const cost = options?.cost === undefined ? 1 : expectCost(options.cost, this.inForce.maxCost);
    const maxWaitMs = expectMaxWait(options?.maxWaitMs, 0);
    const decision =
      maxWaitMs > 0
        ? await waitForAdmission(this.waiting, key, cost, maxWaitMs, signal)
        : await this.decide(key, cost, signal);
    if (!decision.allowed) throw this.rejection(decision);
    if (signal === undefined) return fn(noSignalContext());
    return raceAbort(fn({ signal }), signal);
  }

  onStoreStatusChange(listener: (change: StoreStatusChange) => void): Disposer {
    return this.calls.onStatusChange(listener);
  }

  get replicas(): ReplicaCount | undefined {
    const registry = this.registry;
    if (registry === undefined) return undefined;
    return { count: registry.count, ageMs: registry.ageMs, localShare: this.inForce.local?.share };
  }

  async settle(): Promise<void> {
    const held = this.reservations;
    if (held)
      await refundReserved(held, this.clock.now(), this.inForce.scoped.handle, this.ops.refund);
    if (this.calls.lastError !== undefined) throw this.calls.lastError;
  }

  async close(): Promise<void> {
    this.closed = true;
    const reservations = this.reservations;
    this.reservations = undefined;
    // Leaving the registry (best effort) and the refunds run side by side, each within deadlines.
    await Promise.all([
      this.registry?.close(),
      reservations === undefined
        ? undefined
        : refundReserved(
            reservations,
            this.clock.now(),
            this.inForce.scoped.handle,
            this.ops.refund,
          ),
    ]);
    this.sync?.stop();
    // Stops the background probe; waits for the operations in flight, one deadline at most.
    await this.calls.close();
    this.telemetry.dispose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * The decision path of `limit()` and `execute()`; arguments are validated. Answers that need no
   * round trip (deny cache, reservation, in-process store) are taken synchronously, without an
   * async frame: that is the whole cost of a memory-store decision.
   */
  private decide(
    key: string,
    cost: number,
    signal: AbortSignal | undefined,
  ): Promise<RateLimitDecision> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const plans = this.inForce.plans;
    if (plans === undefined) return this.decideUnder(this.inForce.scoped, key, cost, signal);
    const plan = plans.resolve(key);
    if (plan instanceof Promise) {
      return plan.then((resolved) => this.decideByPlan(resolved, key, cost, signal));
    }
    return this.decideByPlan(plan, key, cost, signal);
  }

  /** {@link decide} with a key's plan, or the denial of a key without one. */
  private decideByPlan(
    plan: PlanOutcome,
    key: string,
    cost: number,
    signal: AbortSignal | undefined,
  ): Promise<RateLimitDecision> {
    if (plan instanceof LimitSourceError) {
      this.telemetry.decision(false, 'limit-source');
      return Promise.resolve(limitSourceDenial(plan));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    try {
      expectCost(cost, plan.maxCost);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.decideUnder(plan, key, cost, signal);
  }

  /** {@link decide} under `scoped`, the limits of the key. */
  private decideUnder(
    scoped: ScopedLimits,
    key: string,
    cost: number,
    signal: AbortSignal | undefined,
  ): Promise<RateLimitDecision> {
    const now = this.clock.now();
    const handle = scoped.handle;
    const reservations = this.reservations;
    if (!handle.remote && reservations === undefined) {
      // The in-process store without reservations: no deny cache (only remote stores get one), so
      // `conclude()` comes down to reading the decision and counting it.
      const gcra = scoped.gcra;
      if (gcra !== undefined) {
        // One GCRA limit in memory (the default limiter): the store answers with one number and
        // the decision is read from it. See `consumeGcra` in stores/memory.ts for what it saves.
        const decision = describeGcra(handle.consumeGcra!(key, cost, now), cost, gcra, 'store');
        this.telemetry.decision(decision.allowed, 'store');
        return Promise.resolve(decision);
      }
      const result = handle.consume(key, cost, cost, now, signal) as StoreResult;
      const allowed = result.granted >= cost;
      const only = scoped.only;
      let decision: RateLimitDecision;
      if (only !== undefined && this.blockDurationMs === 0) {
        // `describeDecision()` for one limit, written out: this is the whole per-call cost.
        const impl = only.impl;
        const state = result.state;
        decision = {
          allowed,
          limit: only.limit,
          intervalMs: only.intervalMs,
          remaining: impl.remaining(state, 0, result.now, only),
          retryAfterMs: allowed
            ? 0
            : Math.max(1, wholeMs(impl.retryAfterMs(state, 0, result.now, cost, only))),
          resetAfterMs: wholeMs(impl.idleAfterMs(state, 0, result.now, only)),
          source: 'store',
        };
      } else {
        decision = describeDecision(
          scoped.limits,
          result.state,
          result.now,
          cost,
          allowed,
          'store',
        );
      }
      this.telemetry.decision(allowed, 'store');
      return Promise.resolve(decision);
    }
    const cached = this.denyCache?.lookup(key, cost, now);
    if (cached !== undefined) {
      this.telemetry.decision(false, 'local-cache');
      return Promise.resolve(cached);
    }
    if (reservations !== undefined) {
      const reserved = reservations.take(key, cost, now);
      if (reserved !== undefined) {
        this.telemetry.decision(true, 'reservation');
        return Promise.resolve(reserved);
      }
    }
    const request = reservations === undefined ? cost : Math.max(reservations.batch, cost);
    if (!handle.remote) {
      const result = handle.consume(key, request, cost, now, signal) as StoreResult;
      return Promise.resolve(this.conclude({ key, cost, now, request }, result, scoped.limits));
    }
    if (reservations === undefined) {
      return this.decideRemotely(scoped, key, cost, now, request, signal);
    }
    const pending = reservations.pending(key);
    if (pending !== undefined) {
      // A batch of this key is on its way: take from it once it lands.
      return pending.then(
        () => this.decide(key, cost, signal),
        () => this.decide(key, cost, signal),
      );
    }
    const call: ConsumeRequest = { key, scoped, request, cost, now };
    return reservations.fetch(key, fetchBatch(this.ops.consume, call, signal));
  }

  /**
   * One store round trip; no async frame of its own. While the store is degraded the answer is the
   * `onStoreError` decision, taken at once.
   */
  private decideRemotely(
    scoped: ScopedLimits,
    key: string,
    cost: number,
    now: number,
    request: number,
    signal: AbortSignal | undefined,
  ): Promise<RateLimitDecision> {
    const answer = this.ops.consume.run({ key, scoped, request, cost, now }, signal);
    return answer instanceof Promise ? answer : Promise.resolve(answer);
  }

  /**
   * Reads the decision out of the store's answer, under the limits it was decided with, and
   * updates the local caches (a reservation batch only for a call not abandoned: see `fetchBatch`).
   */
  private conclude(
    call: Pick<ConsumeRequest, 'key' | 'cost' | 'now' | 'request' | 'abandoned'>,
    result: StoreResult,
    limits: readonly CompiledLimit[],
  ): RateLimitDecision {
    const { key, cost, now, request } = call;
    const reservations = this.reservations;
    const allowed = result.granted >= cost;
    let decision = describeDecision(limits, result.state, result.now, cost, allowed, 'store');
    if (!allowed) {
      this.denyCache?.remember(key, cost, decision, now);
    } else if (
      decision.remaining === 0 &&
      reservations === undefined &&
      this.denyCache !== undefined &&
      // A blocking limiter's next call must reach the store: its denial is what starts the block.
      this.blockDurationMs === 0
    ) {
      // The call took the last whole unit: the store would deny the next one until a known time,
      // so say so locally instead of letting the next caller spend a round trip to hear it.
      this.rememberExhausted(key, result, decision, now, limits);
    } else if (
      reservations !== undefined &&
      call.abandoned !== true &&
      result.granted > cost &&
      request > cost
    ) {
      const unused = result.granted - cost;
      reservations.keep(key, unused, result.now, now, decision);
      decision = { ...decision, remaining: decision.remaining + Math.floor(unused) };
    }
    this.telemetry.decision(allowed, 'store');
    return decision;
  }

  private rememberExhausted(
    key: string,
    result: StoreResult,
    decision: RateLimitDecision,
    now: number,
    limits: readonly CompiledLimit[],
  ): void {
    const wait = retryAfterAll(limits, result.state, result.now, 1);
    if (wait > 0) this.denyCache!.remember(key, 1, { ...decision, retryAfterMs: wait }, now);
  }

  /** `penalty()` (sign 1) and `reward()` (sign −1): one atomic store operation. */
  private async adjust(
    key: string,
    points: number | undefined,
    sign: 1 | -1,
    signal: AbortSignal | undefined,
  ): Promise<RateLimitDecision> {
    const validKey = expectKey(key);
    const valid = points === undefined ? 1 : expectPositive('points', points);
    signal?.throwIfAborted();
    // As in peek(): awaited only for a plan not known yet.
    const found = this.inForce.of(validKey);
    const scoped = found instanceof Promise ? await found : found;
    if (scoped instanceof LimitSourceError) throw scoped;
    // A denial cached before the change may now be too short (penalty) or wrong (reward).
    this.denyCache?.forget(validKey);
    const now = this.clock.now();
    const { handle, limits } = scoped;
    if (!handle.remote) {
      const result = handle.adjust(validKey, sign * valid, now, signal) as StoreResult;
      return describeDecision(limits, result.state, result.now, 1, result.allowed, 'store');
    }
    // Bounded by the deadline; while degraded, rejects at once with a StoreError naming `adjust`.
    return this.ops.adjust.run({ key: validKey, scoped, points: sign * valid, now }, signal);
  }

  private async resetKey(key: string, signal: AbortSignal | undefined): Promise<void> {
    // As in peek(): awaited only for a plan not known yet.
    const found = this.inForce.of(key);
    const scoped = found instanceof Promise ? await found : found;
    if (scoped instanceof LimitSourceError) throw scoped;
    this.denyCache?.forget(key);
    this.reservations?.forget(key);
    scoped.local?.handle.reset(key, undefined);
    const handle = scoped.handle;
    if (!handle.remote) {
      handle.reset(key, signal);
      return;
    }
    // Bounded by the deadline; while degraded, rejects at once with a StoreError naming `reset`.
    await this.ops.reset.run({ key, scoped }, signal);
  }

  private rejection(decision: RateLimitDecision, message?: string): RateLimitedError {
    const cause = decision.source === 'degraded' ? this.calls.lastError : decision.error;
    return new RateLimitedError(
      message ?? `Rate limit "${this.name}" exceeded; retry in ${decision.retryAfterMs} ms`,
      { policyName: this.name, decision, cause },
    );
  }
}

let sharedNoSignalContext: ExecutionContext | undefined;

/** The context of calls without a signal, shared: creating one per call would be waste. */
function noSignalContext(): ExecutionContext {
  sharedNoSignalContext ??= { signal: neverAbortedSignal() };
  return sharedNoSignalContext;
}
