/**
 * Runs the calls a breaker admits and settles the outcome of every call: it counts it (telemetry,
 * then the probe lease or the local counts), tells the listeners, and answers the caller, with the
 * fallback where one is set; and it answers rejected calls. Calls under `timeoutMs` run in
 * timed-call.ts and settle here too. The plain path and the settling stay in one class because
 * together they are every closed call's overhead.
 */
import {
  type Clock,
  coarseNow,
  type ExecutionContext,
  isTimeoutError,
  type LazyAbortController,
  type Listeners,
  lazyContext,
  markFollowsAbort,
  neverAbortedSignal,
  raceLazyAbortThen,
  type StoreError,
} from '@breakwater/core';
import type { CachedView } from '../cached-view.js';
import { BrokenCircuitError, IsolatedCircuitError } from '../errors.js';
import type { FailureEvent, RejectedEvent, SuccessEvent } from '../events.js';
import type { BreakerFallback, CallOutcome, OnStoreError, ResolvedOptions } from '../options.js';
import type { ProbeResult } from '../store.js';
import type { BreakerTelemetry, CallOutcomeLabel } from '../telemetry.js';
import { type CallerAbort, isLazy, runFollowing, signalOf } from './caller-abort.js';
import type { BreakerController } from './controller.js';
import type { StoreSync } from './store-sync.js';
import { TimedCalls } from './timed-call.js';

/** The start time of a call whose duration nothing needs (see `timesCalls()`). */
export const UNTIMED = Number.NaN;

let sharedContext: ExecutionContext | undefined;

/** The listeners a settled or rejected call is reported to. */
export interface CallListeners {
  readonly success: Listeners<SuccessEvent>;
  readonly failure: Listeners<FailureEvent>;
  readonly rejected: Listeners<RejectedEvent>;
}

/** Runs and settles the calls of one breaker. */
export class CallSettler<R> {
  /** `slowCall.durationMs`, or infinity without a slow-call rule. */
  readonly slowCallMs: number;
  private readonly name: string;
  private readonly clock: Clock;
  private readonly controller: BreakerController;
  private readonly sync: StoreSync;
  private readonly view: CachedView;
  private readonly telemetry: BreakerTelemetry;
  private readonly onStoreError: OnStoreError;
  private readonly shouldHandle: ((outcome: CallOutcome) => boolean) | undefined;
  private readonly fallback: BreakerFallback<R> | undefined;
  private readonly timeoutMs: number | undefined;
  /**
   * Whether an aborted call reaches its caller without waiting on I/O or user code (no fallback,
   * the in-process store): then the promise of a call under a lazy parent is marked as following
   * it (see `runLazy`).
   */
  private readonly promptOnAbort: boolean;
  /** The path of calls under `timeoutMs`, when it is set. */
  private readonly timed: TimedCalls<R> | undefined;
  private readonly success: Listeners<SuccessEvent>;
  private readonly failure: Listeners<FailureEvent>;
  private readonly rejected: Listeners<RejectedEvent>;

  constructor(
    resolved: ResolvedOptions<R>,
    controller: BreakerController,
    listeners: CallListeners,
  ) {
    this.name = resolved.name;
    this.clock = resolved.clock;
    this.controller = controller;
    this.sync = controller.sync;
    this.view = controller.view;
    this.telemetry = controller.telemetry;
    this.onStoreError = resolved.onStoreError;
    this.shouldHandle = resolved.shouldHandle;
    this.fallback = resolved.fallback;
    this.timeoutMs = resolved.timeoutMs;
    this.slowCallMs =
      resolved.slowCallDurationMs > 0 ? resolved.slowCallDurationMs : Number.POSITIVE_INFINITY;
    this.success = listeners.success;
    this.failure = listeners.failure;
    this.rejected = listeners.rejected;
    this.promptOnAbort = resolved.fallback === undefined && resolved.store.kind === 'memory';
    this.timed =
      resolved.timeoutMs === undefined
        ? undefined
        : new TimedCalls<R>(this, resolved.name, resolved.timeoutMs);
  }

  /**
   * Runs the call and counts its outcome. A plain promise chain rather than an `async` function:
   * on the closed path this is every call's overhead. `started` is `UNTIMED` (NaN) when nothing
   * needs the call's duration.
   */
  run<T>(
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    caller: CallerAbort | undefined,
    probeToken: string | undefined,
    started: number,
  ): Promise<T | R> {
    if (this.timed !== undefined) return this.timed.run(fn, caller, probeToken, started);
    if (caller !== undefined && isLazy(caller))
      return this.runLazy(fn, caller, probeToken, started);
    let pending: T | PromiseLike<T>;
    try {
      if (caller === undefined) {
        if (sharedContext === undefined) sharedContext = { signal: neverAbortedSignal() };
        pending = fn(sharedContext);
      } else {
        pending = runFollowing(fn, caller);
      }
    } catch (error) {
      pending = Promise.reject(error);
    }
    const call = Promise.resolve(pending);
    if (caller === undefined && probeToken === undefined && Number.isNaN(started)) {
      // Nothing to remember per call on success: a handler made once rather than a closure.
      return call.then(this.untimedSucceeded as (value: T) => T | R | Promise<T | R>, (error) =>
        this.passFailure(error, call, undefined, undefined, UNTIMED),
      );
    }
    return call.then(
      (value) => this.succeeded(value, caller, probeToken, started),
      (error: unknown) => this.passFailure(error, call, caller, probeToken, started),
    );
  }

  /**
   * Runs a call under a lazy parent (an outer policy's context, inside a pipeline). The call's
   * promise is usually that of the next policy in, which settles once the parent aborts already:
   * `raceLazyAbortThen` then settles it with a plain `.then`, not raced again (see core's
   * abort-marks.ts, measured on Node 20.20); otherwise the race and the settling share one promise.
   *
   * The breaker's promise is marked as following the parent when an abort reaches the caller
   * without waiting on I/O or user code: not a probe (its lease is released in the store first),
   * no fallback, and the in-process store (whose counts settle at once).
   */
  private runLazy<T>(
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    caller: LazyAbortController,
    probeToken: string | undefined,
    started: number,
  ): Promise<T | R> {
    let followed: T | PromiseLike<T>;
    try {
      followed = fn(lazyContext(caller));
    } catch (error) {
      followed = Promise.reject(error);
    }
    const onValue = (value: T) => this.succeeded(value, caller, probeToken, started);
    const onError = (error: unknown) =>
      this.failed(error, caller, probeToken, started) ?? Promise.reject(error);
    const call = raceLazyAbortThen(followed, caller, onValue, onError);
    return probeToken === undefined && this.promptOnAbort ? markFollowsAbort(call, caller) : call;
  }

  private readonly untimedSucceeded = (value: unknown): unknown =>
    this.succeeded(value, undefined, undefined, UNTIMED);

  /** The call returned `value`. */
  succeeded<T>(
    value: T,
    caller: CallerAbort | undefined,
    probeToken: string | undefined,
    started: number,
  ): T | R | Promise<T | R> {
    // An untimed call that is no probe only needs the bucket of its success: a coarse reading
    // (see core's `coarseNow`) saved ~50 ns of a breaker call's ~120 ns on Node 20.20.
    const now =
      probeToken === undefined && Number.isNaN(started) ? coarseNow(this.clock) : this.clock.now();
    const durationMs = now - started;
    const slow = durationMs >= this.slowCallMs;
    if (this.shouldHandle !== undefined && this.handles({ kind: 'result', result: value })) {
      const pending = this.conclude('failure', slow, probeToken, now, durationMs);
      if (pending !== undefined)
        return pending.then<T | R>(() => this.resultFailed(value, caller, durationMs));
      return this.resultFailed(value, caller, durationMs);
    }
    const pending = this.conclude('success', slow, probeToken, now, durationMs);
    if (pending !== undefined) return pending.then(() => this.emitSuccess(value, durationMs));
    return this.emitSuccess(value, durationMs);
  }

  /**
   * Tells the success listeners. A call that started untimed (NaN duration: nobody listened then)
   * is not reported to a listener that subscribed while it ran.
   */
  private emitSuccess<T>(value: T, durationMs: number): T {
    if (this.success.active && !Number.isNaN(durationMs)) this.success.emit({ durationMs });
    return value;
  }

  private resultFailed<T>(
    value: T,
    caller: CallerAbort | undefined,
    durationMs: number,
  ): T | Promise<R> {
    if (this.failure.active && !Number.isNaN(durationMs))
      this.failure.emit({ reason: 'result', result: value, durationMs });
    if (this.fallback !== undefined) return this.useFallback(value, caller);
    return value;
  }

  /**
   * The call threw `error` (or was aborted); `call` is its promise, rejected with `error`. Rather
   * than throwing `error` again (a throw costs V8 the better part of a microsecond, and more inside
   * a promise reaction) or rejecting a new promise (which Node tracks as unhandled until the
   * caller's handler attaches), the outcome is passed on by answering with `call` itself.
   */
  private passFailure(
    error: unknown,
    call: Promise<unknown>,
    caller: CallerAbort | undefined,
    probeToken: string | undefined,
    started: number,
  ): Promise<R> {
    return this.failed(error, caller, probeToken, started) ?? (call as Promise<never>);
  }

  /**
   * Counts a call that threw `error` (or was aborted). Answers what the caller gets instead of
   * `error`, or `undefined` when the caller gets `error` itself.
   */
  failed(
    error: unknown,
    caller: CallerAbort | undefined,
    probeToken: string | undefined,
    started: number,
  ): Promise<R> | undefined {
    const now = this.clock.now();
    const durationMs = now - started;
    if (caller?.aborted) {
      // The caller gave up: the call says nothing about the dependency.
      const reason: unknown = caller.reason;
      const pending = this.conclude('ignored', false, probeToken, now, durationMs);
      if (pending !== undefined) return pending.then(() => Promise.reject(reason));
      return Promise.reject(reason);
    }
    const timedOut =
      this.timeoutMs !== undefined &&
      isTimeoutError(error) &&
      error.policyName === this.name &&
      error.timeoutMs === this.timeoutMs;
    if (!timedOut && this.shouldHandle !== undefined && !this.handles({ kind: 'error', error })) {
      const pending = this.conclude('ignored', false, probeToken, now, durationMs);
      if (pending !== undefined) return pending.then(() => Promise.reject(error));
      return undefined;
    }
    const pending = this.conclude(
      timedOut ? 'timeout' : 'failure',
      durationMs >= this.slowCallMs,
      probeToken,
      now,
      durationMs,
    );
    if (pending !== undefined) {
      return pending.then(
        () => this.countedFailure(error, caller, timedOut, durationMs) ?? Promise.reject(error),
      );
    }
    return this.countedFailure(error, caller, timedOut, durationMs);
  }

  private countedFailure(
    error: unknown,
    caller: CallerAbort | undefined,
    timedOut: boolean,
    durationMs: number,
  ): Promise<R> | undefined {
    if (this.failure.active && !Number.isNaN(durationMs))
      this.failure.emit({ reason: timedOut ? 'timeout' : 'error', error, durationMs });
    if (this.fallback !== undefined) return this.useFallback(error, caller);
    return undefined;
  }

  private handles(outcome: CallOutcome): boolean {
    if (this.shouldHandle === undefined) return outcome.kind === 'error';
    try {
      return this.shouldHandle(outcome) === true;
    } catch {
      // A throwing predicate must not leave a probe lease dangling; treat the call as failed.
      return true;
    }
  }

  /**
   * Counts a call that settled at `now`: telemetry, then the probe lease or the local counts.
   * `durationMs` is NaN for an untimed call (telemetry counts it without a duration).
   */
  private conclude(
    outcome: CallOutcomeLabel,
    slow: boolean,
    probeToken: string | undefined,
    now: number,
    durationMs: number,
  ): Promise<void> | undefined {
    this.telemetry.call(outcome, durationMs);
    if (probeToken !== undefined) {
      const result: ProbeResult =
        outcome === 'ignored' ? 'ignored' : outcome === 'success' ? 'success' : 'failure';
      return this.sync.releaseProbe(probeToken, result, now);
    }
    if (outcome === 'ignored') return undefined;
    return this.controller.count(outcome !== 'success', slow, now);
  }

  /** Rejects a call the gate refused (open, isolated, or `'fail-closed'` with the store degraded). */
  reject(caller: CallerAbort | undefined, now: number): Promise<R> {
    const degraded = !this.sync.healthy && this.onStoreError === 'fail-closed';
    return this.rejectCall(caller, now, degraded, degraded ? this.sync.lastError : undefined);
  }

  /**
   * Rejects a call whose store read failed under `'fail-closed'`: `error`, the `StoreError`, is
   * the rejection's cause.
   */
  rejectUnavailable(error: StoreError, caller: CallerAbort | undefined, now: number): Promise<R> {
    return this.rejectCall(caller, now, true, error);
  }

  private rejectCall(
    caller: CallerAbort | undefined,
    now: number,
    unavailable: boolean,
    cause: StoreError | undefined,
  ): Promise<R> {
    const state = this.view.state;
    const retryAfterMs = this.view.retryAfterMs(now);
    const options = { policyName: this.name, retryAfterMs, state, cause };
    const error =
      state === 'isolated' && !unavailable
        ? new IsolatedCircuitError(`Circuit breaker "${this.name}" is isolated`, options)
        : new BrokenCircuitError(
            unavailable
              ? `Circuit breaker "${this.name}" rejects calls while its store is unavailable`
              : `Circuit breaker "${this.name}" is ${state}`,
            options,
          );
    this.telemetry.call('rejected', undefined);
    this.telemetry.rejected(state);
    if (this.rejected.active) this.rejected.emit({ error });
    if (this.fallback !== undefined) return this.useFallback(error, caller);
    return Promise.reject(error);
  }

  private async useFallback(error: unknown, caller: CallerAbort | undefined): Promise<R> {
    const fallback = this.fallback!;
    if (typeof fallback !== 'function') return fallback.value;
    return fallback({ error, signal: signalOf(caller) });
  }

  /** Stops the deadline timer when no call is in flight. */
  dispose(): void {
    this.timed?.dispose();
  }
}
