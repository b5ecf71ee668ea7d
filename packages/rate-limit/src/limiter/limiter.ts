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
import { type AlgorithmName, type CompiledLimit, layoutName } from '../algorithms/limit.js';
import type { RateLimitDecision } from '../decision.js';
import { RateLimitedError } from '../errors.js';
import {
  checkRunTimeLimits,
  defineLimits,
  expectCost,
  expectKey,
  fleetLimits,
  type LimitOptions,
  type LimitSpec,
  type ResolvedOptions,
  resolveNewLimits,
} from '../options.js';
import type {
  AcquireOptions,
  LimitCallOptions,
  LimitDefinition,
  RateLimitExecuteOptions,
  RateLimiter,
  ReplicaCount,
} from '../rate-limiter.js';
import type { RateLimitStore, StoreResult } from '../store.js';
import { LimiterTelemetry, PATTERN } from '../telemetry.js';
import { DenyCache } from './deny-cache.js';
import { describeDecision, retryAfterAll, wholeMs } from './describe-decision.js';
import { LocalShares } from './local-shares.js';
import { Reservations, refundReserved } from './reservations.js';
import { type LimiterStoreOps, limiterStoreOps, type ScopedLimits } from './store-ops.js';
import { expectMaxWait, WaitLines, waitForTurn } from './waiters.js';

/** The policy-wide key: used by `execute()` calls without a key. */
const POLICY_WIDE_KEY = '';

/** The rate limiter `rateLimiter()` builds. */
export class Limiter implements RateLimiter {
  readonly name: string;
  readonly algorithm: AlgorithmName;
  readonly storeKind: string;
  /** The limits as configured (`perReplica` ones are sized by the fleet). */
  private specs: readonly LimitSpec[];
  /** Whether a limit is `{ perReplica }` (the limits then follow the fleet's size). */
  private followsFleet: boolean;
  private readonly store: RateLimitStore;
  /**
   * The limits in force and the store handle scoped to them; replaced as a whole when a
   * `perReplica` limit follows a new fleet size. Read once per decision.
   */
  private scoped: ScopedLimits;
  /** {@link limits}, built when the limits change rather than on each read. */
  private definitions: readonly LimitDefinition[];
  private maxCost: number;
  private readonly clock: Clock;
  private readonly calls: StoreCalls;
  /** The operations of a remote store, built once; each answers failures as `onStoreError` says. */
  private readonly ops: LimiterStoreOps;
  private readonly telemetry: LimiterTelemetry;
  private readonly denyCache: DenyCache | undefined;
  private reservations: Reservations | undefined;
  /** Under `onStoreError: 'local'` with a remote store: this replica's share of the limits. */
  private readonly local: LocalShares | undefined;
  /** Counts the fleet, when the local share follows its size. */
  private readonly registry: ReplicaRegistry | undefined;
  private readonly lines = new WaitLines();
  private readonly onStoreError: OnStoreError;
  /** `blockDurationMs` (0: none). */
  private readonly blockDurationMs: number;
  private closed = false;

  constructor(options: ResolvedOptions) {
    this.name = options.name;
    this.algorithm = options.algorithm;
    this.specs = options.limitSpecs;
    this.followsFleet = options.followsFleet;
    this.store = options.store;
    this.maxCost = options.maxCost;
    this.clock = options.clock;
    this.storeKind = options.store.kind;
    this.blockDurationMs = options.blockDurationMs;
    this.scoped = this.scopeTo(options.limits);
    this.definitions = defineLimits(this.specs, options.limits);
    const handle = this.scoped.handle;
    this.telemetry = new LimiterTelemetry(this.name, this.storeKind, {
      limits: () => this.scoped.limits,
      replicas: () => this.registry?.count,
    });
    const settings = options.storeSettings;
    this.onStoreError = settings.onStoreError;
    this.calls = new StoreCalls({
      pattern: PATTERN,
      policy: this.name,
      store: this.storeKind,
      settings,
      telemetry: this.telemetry.telemetry,
      // Every handle of the limiter probes the same key; the current one asks.
      probe: handle.probe === undefined ? undefined : (signal) => this.scoped.handle.probe!(signal),
    });
    // The deny cache saves round trips; an in-process store answers as cheaply as the cache would.
    this.denyCache =
      options.denyCacheMaxKeys > 0 && handle.remote
        ? new DenyCache(options.denyCacheMaxKeys)
        : undefined;
    this.reservations = options.reserve
      ? new Reservations(options.reserve.batch, options.reserve.holdMs)
      : undefined;
    const local =
      settings.onStoreError === 'local' && handle.remote
        ? new LocalShares(this.name, this.specs, options.localShare, 1)
        : undefined;
    this.local = local;
    // The fleet is counted when something follows its size: a `perReplica` limit (whatever
    // `onStoreError`), or the local share under 'local' without a fixed `localShare`.
    const counted =
      options.followsFleet || (local !== undefined && options.localShare === undefined);
    if (counted && handle.replicaBackend) {
      const registry = new ReplicaRegistry({
        calls: this.calls,
        backend: handle.replicaBackend(),
        ...options.replicaTiming,
      });
      registry.onCountChange((count) => {
        local?.resize(count);
        if (this.followsFleet) this.resize(count);
      });
      this.registry = registry;
    }

    this.ops = limiterStoreOps(this.calls, {
      scoped: () => this.scoped,
      local,
      storeDeadlineMs: settings.deadlineMs,
      telemetry: this.telemetry,
      conclude: (call, result, limits) =>
        this.conclude(call.key, call.cost, call.now, call.request, result, limits),
    });
    this.registry?.start();
  }

  get limits(): readonly LimitDefinition[] {
    return this.definitions;
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
      const cost = options?.cost === undefined ? 1 : expectCost(options.cost, this.maxCost);
      return this.decide(validKey, cost, options?.signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async peek(key: string, options?: LimitCallOptions): Promise<RateLimitDecision> {
    const validKey = expectKey(key);
    const cost = options?.cost === undefined ? 1 : expectCost(options.cost, this.maxCost);
    const signal = options?.signal;
    signal?.throwIfAborted();
    const now = this.clock.now();
    const { handle, limits } = this.scoped;
    if (handle.remote) return this.ops.peek.run({ key: validKey, cost, now }, signal);
    const result = handle.peek(validKey, cost, now, signal) as StoreResult;
    return this.read(result, cost, result.allowed, 'store', limits);
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

  setLimits(limits: LimitOptions | readonly LimitOptions[]): void {
    const specs = resolveNewLimits(limits, this.algorithm);
    const { followsFleet, base, maxCost } = checkRunTimeLimits(specs, {
      name: this.name,
      countsFleet: this.registry !== undefined,
      reserveBatch: this.reservations?.batch,
    });
    this.specs = specs;
    this.followsFleet = followsFleet;
    this.maxCost = maxCost;
    // Operations already sent finish under the limits they were sent with (each reads the scoped
    // limits once); the keys' state stays in the store and is read under the new limits.
    const current = followsFleet ? fleetLimits(specs, this.registry!.count) : base;
    this.scoped = this.scopeTo(current);
    this.definitions = defineLimits(this.specs, current);
    this.denyCache?.clear();
    this.local?.respec(specs);
  }

  async acquire(key: string, options?: AcquireOptions): Promise<RateLimitDecision> {
    const validKey = expectKey(key);
    const cost = options?.cost === undefined ? 1 : expectCost(options.cost, this.maxCost);
    return this.waitFor(
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
    const cost = options?.cost === undefined ? 1 : expectCost(options.cost, this.maxCost);
    const maxWaitMs = expectMaxWait(options?.maxWaitMs, 0);
    const decision =
      maxWaitMs > 0
        ? await this.waitFor(key, cost, maxWaitMs, signal)
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
    return { count: registry.count, ageMs: registry.ageMs, localShare: this.local?.share };
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
        : refundReserved(reservations, this.clock.now(), this.scoped.handle, this.ops.refund),
    ]);
    // Stops the background probe; waits for the operations in flight, one deadline at most.
    await this.calls.close();
    this.telemetry.dispose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A store handle scoped to `limits` (same layout, so same keys' state, for every N). */
  private scopeTo(limits: readonly CompiledLimit[]): ScopedLimits {
    const blockDurationMs = this.blockDurationMs;
    const handle = this.store.scope(
      blockDurationMs > 0
        ? { name: this.name, layout: layoutName(limits), limits, blockDurationMs }
        : { name: this.name, layout: layoutName(limits), limits },
    );
    return { limits, only: limits.length === 1 ? limits[0] : undefined, handle };
  }

  /**
   * The fleet now has `replicas` live replicas: the `perReplica` limits become `perReplica × N`.
   * Operations already sent finish under the limits they were sent with; the keys' state stays in
   * the store as it is and is read under the new limits from the next decision on (what that
   * means per algorithm: the README, "Limits that follow the fleet"). Denials cached under the old
   * limits are dropped.
   */
  private resize(replicas: number): void {
    const limits = fleetLimits(this.specs, replicas);
    this.scoped = this.scopeTo(limits);
    this.definitions = defineLimits(this.specs, limits);
    this.denyCache?.clear();
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
    const now = this.clock.now();
    const scoped = this.scoped;
    const handle = scoped.handle;
    const reservations = this.reservations;
    if (!handle.remote && reservations === undefined) {
      // The in-process store without reservations: no deny cache (only remote stores get one), so
      // `conclude()` comes down to reading the decision and counting it.
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
      return Promise.resolve(this.conclude(key, cost, now, request, result, scoped.limits));
    }
    if (reservations === undefined) return this.decideRemotely(key, cost, now, request, signal);
    const pending = reservations.pending(key);
    if (pending !== undefined) {
      // A batch of this key is on its way: take from it once it lands.
      return pending.then(
        () => this.decide(key, cost, signal),
        () => this.decide(key, cost, signal),
      );
    }
    return reservations.fetch(key, this.decideRemotely(key, cost, now, request, signal));
  }

  /**
   * One store round trip; no async frame of its own. While the store is degraded the answer is the
   * `onStoreError` decision, taken at once.
   */
  private decideRemotely(
    key: string,
    cost: number,
    now: number,
    request: number,
    signal: AbortSignal | undefined,
  ): Promise<RateLimitDecision> {
    const answer = this.ops.consume.run({ key, request, cost, now }, signal);
    return answer instanceof Promise ? answer : Promise.resolve(answer);
  }

  /**
   * Reads the decision out of the store's answer, under the limits it was decided with, and
   * updates the local caches.
   */
  private conclude(
    key: string,
    cost: number,
    now: number,
    request: number,
    result: StoreResult,
    limits: readonly CompiledLimit[],
  ): RateLimitDecision {
    const reservations = this.reservations;
    const allowed = result.granted >= cost;
    let decision = this.read(result, cost, allowed, 'store', limits);
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
    } else if (reservations !== undefined && result.granted > cost && request > cost) {
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

  private read(
    result: StoreResult,
    cost: number,
    allowed: boolean,
    source: RateLimitDecision['source'],
    limits: readonly CompiledLimit[],
  ): RateLimitDecision {
    return describeDecision(limits, result.state, result.now, cost, allowed, source);
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
    // A denial cached before the change may now be too short (penalty) or wrong (reward).
    this.denyCache?.forget(validKey);
    const now = this.clock.now();
    const { handle, limits } = this.scoped;
    if (!handle.remote) {
      const result = handle.adjust(validKey, sign * valid, now, signal) as StoreResult;
      return this.read(result, 1, result.allowed, 'store', limits);
    }
    // Bounded by the deadline; while degraded, rejects at once with a StoreError naming `adjust`.
    return this.ops.adjust.run({ key: validKey, points: sign * valid, now }, signal);
  }

  private async resetKey(key: string, signal: AbortSignal | undefined): Promise<void> {
    this.denyCache?.forget(key);
    this.reservations?.forget(key);
    this.local?.handle.reset(key, undefined);
    const handle = this.scoped.handle;
    if (!handle.remote) {
      handle.reset(key, signal);
      return;
    }
    // Bounded by the deadline; while degraded, rejects at once with a StoreError naming `reset`.
    await this.ops.reset.run(key, signal);
  }

  /** `acquire()` after validation: waits in the key's line, then until the store admits. */
  private async waitFor(
    key: string,
    cost: number,
    maxWaitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<RateLimitDecision> {
    signal?.throwIfAborted();
    const started = this.clock.now();
    const turn = this.lines.join(key);
    let outcome: 'acquired' | 'rejected' | 'aborted' = 'aborted';
    try {
      if (!turn.first) await this.waitTurn(turn.ready, maxWaitMs, signal);
      for (;;) {
        const decision = await this.decide(key, cost, signal);
        const waited = this.clock.now() - started;
        if (decision.allowed) {
          outcome = 'acquired';
          return decision;
        }
        if (waited + decision.retryAfterMs > maxWaitMs) {
          outcome = 'rejected';
          throw this.rejection(decision);
        }
        await this.clock.sleep(decision.retryAfterMs, signal);
      }
    } catch (error) {
      if (isRateLimited(error)) outcome = 'rejected';
      throw error;
    } finally {
      turn.leave();
      this.telemetry.wait(Math.max(0, this.clock.now() - started) / 1000, outcome);
    }
  }

  /** Waits for the earlier waiters of the key, at most `maxWaitMs`; rejects when that ran out. */
  private async waitTurn(
    ready: Promise<void>,
    maxWaitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (await waitForTurn(ready, maxWaitMs, signal, this.clock)) return;
    const first = this.scoped.limits[0]!;
    throw this.rejection(
      {
        allowed: false,
        limit: first.limit,
        intervalMs: first.intervalMs,
        remaining: 0,
        retryAfterMs: Math.max(1, Math.ceil(first.emissionMs)),
        resetAfterMs: 0,
        source: 'local-cache',
      },
      `Rate limit "${this.name}": earlier callers of the key were still waiting after ${maxWaitMs} ms`,
    );
  }

  private rejection(decision: RateLimitDecision, message?: string): RateLimitedError {
    const cause = decision.source === 'degraded' ? this.calls.lastError : undefined;
    return new RateLimitedError(
      message ?? `Rate limit "${this.name}" exceeded; retry in ${decision.retryAfterMs} ms`,
      { policyName: this.name, decision, cause },
    );
  }
}

function isRateLimited(error: unknown): boolean {
  return error instanceof RateLimitedError;
}

let sharedNoSignalContext: ExecutionContext | undefined;

/** The context of calls without a signal, shared: creating one per call would be waste. */
function noSignalContext(): ExecutionContext {
  sharedNoSignalContext ??= { signal: neverAbortedSignal() };
  return sharedNoSignalContext;
}
