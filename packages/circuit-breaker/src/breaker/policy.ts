/**
 * The breaker users hold: the `CircuitBreaker` methods over its controller (controller.ts). It
 * admits each call from the controller's cached view — the closed case without the full gate — and
 * hands it to the CallSettler (settle.ts) to run, reject, or run as a half-open probe once the
 * store granted a lease.
 */
import {
  type Clock,
  CONTEXT_FIELDS,
  type ContextFields,
  type Disposer,
  type ExecuteOptions,
  type ExecutionContext,
  expectedFunctionError,
  Listeners,
  NO_CONTEXT_FIELDS,
  type OnStoreError,
  POLICY_HEALTH,
  type PolicyHealth,
  policyHealth,
  type StoreError,
  type StoreStatus,
  type StoreStatusListener,
} from '@breakwater/core';
import type { CachedView } from '../cached-view.js';
import type { CircuitBreaker, CircuitBreakerStats } from '../circuit-breaker.js';
import type { FailureEvent, RejectedEvent, StateChangeEvent, SuccessEvent } from '../events.js';
import { type CircuitBreakerOptions, resolveOptions } from '../options.js';
import { type CircuitBreakerSnapshot, SNAPSHOT_FORMAT } from '../snapshot.js';
import type { BreakerState } from '../store.js';
import type { BreakerTelemetry } from '../telemetry.js';
import { type CallerAbort, callerAbortOf } from './caller-abort.js';
import { BreakerController, REJECT, RUN } from './controller.js';
import { CallSettler, UNTIMED } from './settle.js';
import type { StoreSync } from './store-sync.js';

/** A circuit breaker: what `circuitBreaker()` returns. */
export class BreakerPolicy<R> implements CircuitBreaker<R> {
  /** `fn`'s context has only `signal` (for `pipeline()`'s merge). */
  readonly [CONTEXT_FIELDS]: ContextFields = NO_CONTEXT_FIELDS;
  readonly name: string;
  protected readonly clock: Clock;
  protected readonly controller: BreakerController;
  protected readonly sync: StoreSync;
  protected readonly calls: CallSettler<R>;
  /** The controller's cached view, read on every call. */
  private readonly view: CachedView;
  private readonly syncIntervalMs: number;
  private readonly strict: boolean;
  /** Whether every call needs its duration for the slow-call rule. */
  private readonly timeSlowCalls: boolean;
  /** Records the calls; asked per call, as an SDK may be registered after the breaker is built. */
  private readonly telemetry: BreakerTelemetry;

  private readonly stateChange = new Listeners<StateChangeEvent>('circuit-breaker onStateChange');
  private readonly success = new Listeners<SuccessEvent>('circuit-breaker onSuccess');
  private readonly failure = new Listeners<FailureEvent>('circuit-breaker onFailure');
  private readonly rejected = new Listeners<RejectedEvent>('circuit-breaker onRejected');
  private closing: Promise<void> | undefined;
  private readonly storeKind: string;
  private readonly onStoreError: OnStoreError;

  /** @param factory How users built the breaker, for warnings about unknown options. */
  constructor(options: CircuitBreakerOptions<R> | undefined, factory?: string) {
    const resolved = resolveOptions(options, factory);
    this.name = resolved.name;
    this.clock = resolved.clock;
    this.syncIntervalMs = resolved.syncIntervalMs;
    this.strict = resolved.strict;
    this.storeKind = resolved.store.kind;
    this.onStoreError = resolved.onStoreError;
    this.controller = new BreakerController(resolved, this.stateChange);
    this.view = this.controller.view;
    this.sync = this.controller.sync;
    this.calls = new CallSettler<R>(resolved, this.controller, {
      success: this.success,
      failure: this.failure,
      rejected: this.rejected,
    });
    this.timeSlowCalls = this.calls.slowCallMs !== Number.POSITIVE_INFINITY;
    this.telemetry = this.controller.telemetry;
  }

  get state(): BreakerState {
    return this.view.state;
  }

  get storeStatus(): StoreStatus {
    return this.sync.status;
  }

  [POLICY_HEALTH](): PolicyHealth {
    return policyHealth({
      name: this.name,
      pattern: 'circuit-breaker',
      state: this.view.state,
      storeKind: this.storeKind,
      storeStatus: this.sync.status,
      onStoreError: this.onStoreError,
      closed: this.closing !== undefined,
    });
  }

  // ---------------------------------------------------------------- execution

  execute<T>(
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    options?: ExecuteOptions,
  ): Promise<T | R> {
    // Before anything else: not counted as a failure, not answered by the fallback, no probe taken.
    if (typeof fn !== 'function') return Promise.reject(expectedFunctionError('fn', fn));
    // Inside a pipeline the options are an outer policy's lazy context: the call follows its
    // controller, so no signal is created unless `fn` reads one (caller-abort.ts). The
    // never-aborted signal an outer policy passes for a call given none is no signal: the calls
    // under `timeoutMs` would otherwise each add a listener to it.
    const caller = callerAbortOf(options);
    if (caller?.aborted) return Promise.reject(caller.reason);
    const sync = this.sync;
    if (!sync.started) sync.start();
    if (sync.firstSync !== undefined) return this.afterRead(sync.firstSync, fn, caller);
    if (this.strict && this.clock.now() - this.view.lastSyncAt >= this.syncIntervalMs) {
      const read = sync.readBeforeCall();
      if (read !== undefined) return this.afterRead(read, fn, caller);
    }
    return this.admit(fn, caller);
  }

  /**
   * Admits the call once the read it waits for has been answered, or rejects it when that read
   * failed under `'fail-closed'` (`failure`, the StoreError): a call that had to ask the store is
   * refused when the store cannot say yes.
   */
  private afterRead<T>(
    read: Promise<StoreError | undefined>,
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    caller: CallerAbort | undefined,
  ): Promise<T | R> {
    return read.then((failure) =>
      failure === undefined
        ? this.admit(fn, caller)
        : this.calls.rejectUnavailable(failure, caller, this.clock.now()),
    );
  }

  private admit<T>(
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    caller: CallerAbort | undefined,
  ): Promise<T | R> {
    // The common case first, without the full gate, and without reading the clock unless the
    // call's duration is needed: the time of the outcome is read when the call settles.
    if (this.view.state === 'closed' && this.sync.healthy) {
      return this.calls.run(fn, caller, undefined, this.timesCalls() ? this.clock.now() : UNTIMED);
    }
    const now = this.clock.now();
    const gate = this.controller.gate(now);
    if (gate === RUN) return this.calls.run(fn, caller, undefined, now);
    if (gate === REJECT) return this.calls.reject(caller, now);
    return this.probe(fn, caller, now);
  }

  /**
   * Whether a call starting now needs its start time: a slow-call rule or a success or failure
   * listener will use its duration, or the call is the one in `durationSampleEvery` whose duration
   * an OpenTelemetry SDK records. On Node 20 a clock read costs about as much as the rest of the
   * closed path, so the others go without. Telemetry is asked last: it counts on being asked only
   * for calls nothing else times.
   */
  private timesCalls(): boolean {
    return (
      this.timeSlowCalls || this.success.active || this.failure.active || this.telemetry.timesCall()
    );
  }

  /** Asks the store for a probe lease, then runs the call as a probe (or rejects it). */
  private async probe<T>(
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    caller: CallerAbort | undefined,
    now: number,
  ): Promise<T | R> {
    const token = this.sync.nextProbeToken();
    const answer = await this.sync.acquireProbe(token, now);
    this.sync.applyAnswer(answer.view);
    if (answer.decision === 'reject') return this.calls.reject(caller, this.clock.now());
    return this.calls.run(
      fn,
      caller,
      answer.decision === 'probe' ? token : undefined,
      this.clock.now(),
    );
  }

  // ---------------------------------------------------------------- controls

  isolate(options?: { forMs?: number }): Promise<void> {
    const forMs = options?.forMs ?? 0;
    if (
      options?.forMs !== undefined &&
      !(typeof forMs === 'number' && Number.isFinite(forMs) && forMs > 0)
    ) {
      return Promise.reject(
        new RangeError(`Expected \`forMs\` to be a finite number > 0, got ${String(forMs)}`),
      );
    }
    return this.sync.command({ type: 'isolate', forMs });
  }

  reset(): Promise<void> {
    return this.sync.command({ type: 'reset' });
  }

  disable(): Promise<void> {
    return this.sync.command({ type: 'disable' });
  }

  // ---------------------------------------------------------------- observation

  stats(): CircuitBreakerStats {
    const sync = this.sync;
    const pending = this.controller.pending;
    // A synchronous store answers at once: bring the view up to date (waiting successes, buckets
    // that rotated out) so the numbers are exact rather than as of the last failure.
    if (this.syncIntervalMs === 0 && sync.healthy) {
      if (pending.size > 0) void sync.flush();
      else void sync.refresh();
    }
    const calls = this.view.shared.calls + pending.size;
    const failures = this.view.shared.failures + pending.failures;
    const slowCalls = this.view.shared.slowCalls + pending.slowCalls;
    const now = this.clock.now();
    return {
      state: this.view.state,
      calls,
      failures,
      slowCalls,
      failureRatio: calls === 0 ? 0 : failures / calls,
      slowCallRatio: calls === 0 ? 0 : slowCalls / calls,
      consecutiveFailures: pending.consecutiveFailures(this.view.shared),
      consecutiveOpens: this.view.consecutiveOpens,
      halfOpenProbes: this.view.probes,
      retryAfterMs: this.view.retryAfterMs(now),
      storeStatus: sync.status,
    };
  }

  onStateChange(listener: (event: StateChangeEvent) => void): () => void {
    return this.stateChange.add(listener);
  }

  onSuccess(listener: (event: SuccessEvent) => void): () => void {
    return this.success.add(listener);
  }

  onFailure(listener: (event: FailureEvent) => void): () => void {
    return this.failure.add(listener);
  }

  onRejected(listener: (event: RejectedEvent) => void): () => void {
    return this.rejected.add(listener);
  }

  onStoreStatusChange(listener: StoreStatusListener): Disposer {
    return this.sync.calls.onStatusChange(listener);
  }

  toJSON(): CircuitBreakerSnapshot {
    const stats = this.stats();
    const openUntil =
      (this.view.state === 'open' || this.view.state === 'isolated') &&
      Number.isFinite(this.view.openUntil)
        ? this.view.openUntil
        : null;
    return {
      format: SNAPSHOT_FORMAT,
      name: this.name,
      state: this.view.state,
      openUntil,
      consecutiveOpens: stats.consecutiveOpens,
      consecutiveFailures: stats.consecutiveFailures,
      window: { calls: stats.calls, failures: stats.failures, slowCalls: stats.slowCalls },
      takenAt: this.clock.now(),
    };
  }

  // ---------------------------------------------------------------- lifecycle

  async settle(): Promise<void> {
    const sync = this.sync;
    await Promise.all([sync.inFlightSync, sync.flush()]);
    // The counts reached the store unless its last operation failed (a success clears the error).
    const error = sync.lastError;
    if (error !== undefined) throw error;
  }

  close(): Promise<void> {
    if (this.closing === undefined) this.closing = this.shutDown();
    return this.closing;
  }

  /** Every wait is a store operation bounded by the store deadline: at most one deadline in all. */
  private async shutDown(): Promise<void> {
    const sync = this.sync;
    sync.stop();
    this.controller.telemetry.dispose();
    this.calls.dispose();
    await sync.drain();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
