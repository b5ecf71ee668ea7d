/**
 * The store operations of a limiter whose store is remote, each built once, at construction, on
 * core's `StoreCalls` (the one store call path: deadline, degraded mode, background probe, store
 * telemetry and status events), and what each answers when the store does not — failed, late, or
 * degraded: one decision per `onStoreError` mode, which core picks once, so no call branches on
 * the mode.
 */
import type { StoreCalls, StoreFallbacks, StoreOp } from '@breakwater/core';
import type { CompiledLimit } from '../algorithms/limit.js';
import type { RateLimitDecision } from '../decision.js';
import type { StoreHandle, StoreResult } from '../store.js';
import type { LimiterTelemetry } from '../telemetry.js';
import { describeDecision } from './describe-decision.js';
import type { LocalShares } from './local-shares.js';

/** The arguments of one consume, carried through the store operation (one object per call). */
export interface ConsumeRequest {
  readonly key: string;
  /** The limits the call is decided under, read once when it started (see {@link ScopedLimits}). */
  readonly scoped: ScopedLimits;
  /** The cost asked of the store: the call's own, or a reservation batch. */
  readonly request: number;
  /** The call's own cost: the least the store may grant. */
  readonly cost: number;
  /** The limiter's clock when the call started. */
  readonly now: number;
  /**
   * Set once a reservation call was answered without the store (its deadline passed, the store
   * failed, the caller aborted): a batch the store still grants after that is not kept (see
   * `Limiter.fetchBatch`).
   */
  abandoned?: boolean;
}

/** The arguments of one peek. */
export interface PeekRequest {
  readonly key: string;
  readonly scoped: ScopedLimits;
  readonly cost: number;
  readonly now: number;
}

/** Reserved permits given back by `close()`. */
export interface RefundRequest {
  readonly key: string;
  readonly permits: number;
  readonly takenAt: number;
  readonly now: number;
}

/** A reset of one key. */
export interface ResetRequest {
  readonly key: string;
  readonly scoped: ScopedLimits;
}

/** A penalty (positive `points`) or a reward (negative). */
export interface AdjustRequest {
  readonly key: string;
  readonly scoped: ScopedLimits;
  readonly points: number;
  readonly now: number;
}

/** The operations of one limiter's store. */
export interface LimiterStoreOps {
  /** A decision: the store's, read by `conclude`, or the `onStoreError` one (counted as such). */
  readonly consume: StoreOp<RateLimitDecision, ConsumeRequest>;
  /** A peek: the store's answer, or the `onStoreError` one. */
  readonly peek: StoreOp<RateLimitDecision, PeekRequest>;
  /** Rejects with a `StoreError` naming `reset` when the store does not answer. */
  readonly reset: StoreOp<void, ResetRequest>;
  /** Rejects with a `StoreError` naming `refund` when the store does not answer. */
  readonly refund: StoreOp<void, RefundRequest>;
  /**
   * `penalty()` / `reward()`: the key's state afterwards, read as a peek of cost 1; rejects with a
   * `StoreError` naming `adjust` when the store does not answer (never guessed: a penalty that
   * might not have landed must not be reported as applied).
   */
  readonly adjust: StoreOp<RateLimitDecision, AdjustRequest>;
}

/**
 * The limits in force and the store handle scoped to them: the limiter's, or one plan's (a
 * `limits` function). A limiter replaces the whole object when its limits change (`setLimits()`,
 * a `perReplica` limit following N); an operation reads it once, when it starts, and carries it in
 * its request: it is decided and read out under those limits to the end.
 */
export interface ScopedLimits {
  readonly limits: readonly CompiledLimit[];
  /** The limit, when there is exactly one (the common case). */
  readonly only: CompiledLimit | undefined;
  /**
   * The limit, when it is the only one, it is GCRA, the limiter does not block and the handle has
   * `consumeGcra` (the memory store): the decisions then take the limiter's GCRA fast path.
   */
  readonly gcra: CompiledLimit | undefined;
  readonly handle: StoreHandle;
  /** The largest cost one call can be admitted with under these limits (one replica). */
  readonly maxCost: number;
  /**
   * Under `onStoreError: 'local'` with a remote store: this replica's shares of these limits, in
   * an in-process store (its handle and limits change as the fleet does).
   */
  readonly local: LocalShares | undefined;
}

/** What the operations need from their limiter. */
export interface LimiterStoreOpsOptions {
  /** The limiter's limits and handle in force now (refunds of reserved permits use them). */
  readonly scoped: () => ScopedLimits;
  /** `'fail-closed'` refusals say to retry after one deadline. */
  readonly storeDeadlineMs: number;
  readonly telemetry: LimiterTelemetry;
  /**
   * Reads the decision out of the store's answer to a consume under the limits it was made with,
   * and updates the local caches.
   */
  readonly conclude: (
    call: ConsumeRequest,
    result: StoreResult,
    limits: readonly CompiledLimit[],
  ) => RateLimitDecision;
}

/** Builds the store operations of a limiter on its `calls`. */
export function limiterStoreOps(
  calls: StoreCalls,
  options: LimiterStoreOpsOptions,
): LimiterStoreOps {
  const { scoped, conclude } = options;
  // Every handle of one limiter comes from the same store: the first one speaks for all.
  const abortable = { abortable: scoped().handle.abortable === true };
  const answers = degradedAnswers(options);
  return {
    consume: calls.guarded<RateLimitDecision, ConsumeRequest>(
      'consume',
      (call, signal) => {
        const { handle, limits } = call.scoped;
        // `Promise.resolve` of a native promise is that promise: no extra allocation.
        return Promise.resolve(
          handle.consume(call.key, call.request, call.cost, call.now, signal),
        ).then((result) => conclude(call, result, limits));
      },
      answers.consume,
      abortable,
    ),
    peek: calls.guarded<RateLimitDecision, PeekRequest>(
      'peek',
      (call, signal) => {
        const { handle, limits } = call.scoped;
        return Promise.resolve(handle.peek(call.key, call.cost, call.now, signal)).then((result) =>
          describeDecision(limits, result.state, result.now, call.cost, result.allowed, 'store'),
        );
      },
      answers.peek,
      abortable,
    ),
    reset: calls.operation<void, ResetRequest>(
      'reset',
      (call, signal) => call.scoped.handle.reset(call.key, signal),
      abortable,
    ),
    refund: calls.operation<void, RefundRequest>(
      'refund',
      (call, signal) =>
        scoped().handle.refund(call.key, call.permits, call.takenAt, call.now, signal),
      abortable,
    ),
    adjust: calls.operation<RateLimitDecision, AdjustRequest>(
      'adjust',
      (call, signal) => {
        const { handle, limits } = call.scoped;
        return Promise.resolve(handle.adjust(call.key, call.points, call.now, signal)).then(
          (result) =>
            describeDecision(limits, result.state, result.now, 1, result.allowed, 'store'),
        );
      },
      abortable,
    ),
  };
}

/** The `onStoreError` answers of consumes and peeks; every consume answered so is counted. */
function degradedAnswers(options: LimiterStoreOpsOptions): {
  consume: StoreFallbacks<RateLimitDecision, ConsumeRequest>;
  peek: StoreFallbacks<RateLimitDecision, PeekRequest>;
} {
  const { storeDeadlineMs, telemetry } = options;
  const fixed = (allowed: boolean, scoped: ScopedLimits): RateLimitDecision => ({
    allowed,
    limit: scoped.limits[0]!.limit,
    intervalMs: scoped.limits[0]!.intervalMs,
    remaining: 0,
    retryAfterMs: allowed ? 0 : Math.ceil(storeDeadlineMs),
    resetAfterMs: 0,
    source: 'degraded',
  });
  const counted = (decision: RateLimitDecision): RateLimitDecision => {
    telemetry.decision(decision.allowed, 'degraded');
    return decision;
  };
  const localOnly = (scoped: ScopedLimits): LocalShares => {
    // Built whenever `onStoreError` is 'local' and the store is remote: only then do ops run.
    if (scoped.local === undefined) throw new Error('onStoreError: local without a local store');
    return scoped.local;
  };
  return {
    consume: {
      failOpen: (_error, call) => counted(fixed(true, call.scoped)),
      failClosed: (_error, call) => counted(fixed(false, call.scoped)),
      local: (_error, call) => {
        const { handle, limits: shares } = localOnly(call.scoped);
        const result = handle.consume(call.key, call.cost, call.cost, call.now, undefined);
        const { state, now, granted } = result as StoreResult;
        const allowed = granted >= call.cost;
        return counted(describeDecision(shares, state, now, call.cost, allowed, 'degraded'));
      },
    },
    peek: {
      failOpen: (_error, call) => fixed(true, call.scoped),
      failClosed: (_error, call) => fixed(false, call.scoped),
      local: (_error, call) => {
        const { handle, limits: shares } = localOnly(call.scoped);
        const result = handle.peek(call.key, call.cost, call.now, undefined) as StoreResult;
        return describeDecision(
          shares,
          result.state,
          result.now,
          call.cost,
          result.allowed,
          'degraded',
        );
      },
    },
  };
}
