/**
 * The circuit-breaker policy, written once against the store interface (store.ts).
 *
 * Hot path: a call is admitted or rejected from this replica's cached view of the shared state,
 * with no store round trip while closed. Outcomes are counted locally and flushed to the store in
 * one atomic operation every `syncIntervalMs` (at once when local counts alone could trip the
 * breaker, and on every call with the memory store, whose operations are synchronous). The store
 * merges the counts, decides transitions, and its answer — or a view it pushes after another
 * replica's transition — updates the cached view. Only calls that need a global decision (a
 * half-open probe) wait for the store.
 */
import { randomUUID } from 'node:crypto';
import {
  type Clock,
  type ExecuteOptions,
  type ExecutionContext,
  isTimeoutError,
  neverAbortedSignal,
  type Policy,
  raceAbort,
  type StoreError,
  TimeoutError,
} from '@breakwater/core';
import { CachedView } from './cached-view.js';
import { CallDeadlines, TimedCall } from './call-timeout.js';
import { BrokenCircuitError, IsolatedCircuitError } from './errors.js';
import {
  type FailureEvent,
  Listeners,
  type RejectedEvent,
  type StateChangeEvent,
  type SuccessEvent,
} from './events.js';
import { LocalCounts } from './local-counts.js';
import {
  type BreakerFallback,
  type CallOutcome,
  type CircuitBreakerOptions,
  type OnStoreError,
  resolveOptions,
} from './options.js';
import { type CircuitBreakerSnapshot, SNAPSHOT_FORMAT, seedFromSnapshot } from './snapshot.js';
import type {
  BreakerBinding,
  BreakerCommand,
  BreakerRules,
  BreakerSeed,
  BreakerState,
  BreakerView,
  MaybePromise,
  OutcomeBatch,
  ProbeAnswer,
  ProbeResult,
} from './store.js';
import {
  isPromiseLike,
  StoreChannel,
  type StoreStatus,
  type StoreStatusEvent,
} from './store-channel.js';
import { memoryStore } from './stores/memory.js';
import { BreakerTelemetry, type CallOutcomeLabel } from './telemetry.js';

/** Window counts and ratios, as {@link CircuitBreaker.stats} reports them. */
export interface CircuitBreakerStats {
  /** The current state, as this replica sees it. */
  readonly state: BreakerState;
  /** Calls in the window (the shared window plus this replica's unflushed calls). */
  readonly calls: number;
  /** Failed calls in the window. */
  readonly failures: number;
  /** Slow calls in the window. */
  readonly slowCalls: number;
  /** `failures / calls`, 0 when the window is empty. */
  readonly failureRatio: number;
  /** `slowCalls / calls`, 0 when the window is empty. */
  readonly slowCallRatio: number;
  /** Failures in a row. */
  readonly consecutiveFailures: number;
  /** Openings in a row. */
  readonly consecutiveOpens: number;
  /** Half-open probe leases held across the fleet (as of the last store answer). */
  readonly halfOpenProbes: number;
  /** Milliseconds until an open breaker may probe, or an isolation ends (`undefined`: no end or not open). */
  readonly retryAfterMs: number | undefined;
  /** Whether the store answers (`'healthy'`) or the breaker applies `onStoreError`. */
  readonly storeStatus: StoreStatus;
}

/** A circuit breaker. */
export interface CircuitBreaker<R = never> extends Policy<ExecutionContext, R>, AsyncDisposable {
  /** The breaker's name. */
  readonly name: string;
  /** The current state, as this replica sees it. */
  readonly state: BreakerState;
  /** Window counts, ratios and the store's health. */
  stats(): CircuitBreakerStats;
  /**
   * Forces the breaker open across the fleet: calls reject with `IsolatedCircuitError` until
   * `reset()`, or for `forMs` milliseconds after which the next call probes.
   */
  isolate(options?: { forMs?: number }): Promise<void>;
  /** Closes the breaker across the fleet with an empty window (also ends `isolate()` and `disable()`). */
  reset(): Promise<void>;
  /** Lets every call through across the fleet, still measuring, until `reset()`. */
  disable(): Promise<void>;
  /** Subscribes to state changes seen by this replica; returns the disposer. */
  onStateChange(listener: (event: StateChangeEvent) => void): () => void;
  /**
   * Subscribes to calls that counted as successes; returns the disposer. Calls already running
   * when it subscribed may go unreported (unless something else measured their duration).
   */
  onSuccess(listener: (event: SuccessEvent) => void): () => void;
  /**
   * Subscribes to calls that counted as failures; returns the disposer. Calls already running
   * when it subscribed may go unreported (unless something else measured their duration).
   */
  onFailure(listener: (event: FailureEvent) => void): () => void;
  /** Subscribes to rejected calls; returns the disposer. */
  onRejected(listener: (event: RejectedEvent) => void): () => void;
  /** Subscribes to the store degrading and recovering; returns the disposer. */
  onStoreStatusChange(listener: (event: StoreStatusEvent) => void): () => void;
  /** The state as JSON, to pass as `initialState` to a later breaker (serverless). */
  toJSON(): CircuitBreakerSnapshot;
  /**
   * Flushes unflushed counts (best effort) and stops every timer and subscription the breaker
   * owns. The breaker still works afterwards, without background synchronisation.
   */
  close(): Promise<void>;
}

const RUN = 0;
const PROBE = 1;
const REJECT = 2;

/** Without pushes from the store, a breaker that heard nothing re-reads this often at most. */
const RESYNC_FACTOR = 10;
const MIN_RESYNC_MS = 1000;

/** The start time of a call whose duration nothing needs (see `timesCalls()`). */
const UNTIMED = Number.NaN;

let sharedContext: ExecutionContext | undefined;

/**
 * Creates a circuit breaker. With the default memory store it is a classic single-process
 * breaker; with `redisStore()` or `dynamoStore()` every replica shares one state.
 *
 * @example
 * const breaker = circuitBreaker({ name: 'payments', failureRatio: 0.5, breakDurationMs: 30_000 });
 * const receipt = await breaker.execute(({ signal }) => charge(order, { signal }));
 */
export function circuitBreaker<R = never>(options?: CircuitBreakerOptions<R>): CircuitBreaker<R> {
  return new Breaker<R>(options);
}

/**
 * A breaker that also accepts outcomes of calls it did not run, and hands out probe leases to a
 * caller that runs the probe itself. Internal: the opossum bridge drives one.
 */
export interface ObservedBreaker extends CircuitBreaker {
  /** Counts a call that ran elsewhere. */
  observe(failed: boolean, durationMs: number): void;
  /**
   * Asks the store for a half-open probe lease: a token when granted, `'closed'` when the breaker
   * turned out to be closed, `undefined` when refused.
   */
  acquireProbeLease(): Promise<string | undefined>;
  /** Ends a lease from {@link acquireProbeLease}. */
  releaseProbeLease(token: string, result: ProbeResult): Promise<void>;
  /** Whether the break is over (an open breaker may probe). */
  breakOver(): boolean;
  /** Starts synchronising now rather than at the first call (a bridge hears of transitions at once). */
  connect(): void;
}

/** Creates an {@link ObservedBreaker}. Internal. */
export function observedBreaker(options: CircuitBreakerOptions): ObservedBreaker {
  const breaker: ObservedBreaker = new Breaker<never>(options);
  return breaker;
}

class Breaker<R> implements CircuitBreaker<R> {
  readonly name: string;
  private readonly rules: BreakerRules;
  private readonly clock: Clock;
  private readonly binding: BreakerBinding;
  private readonly channel: StoreChannel;
  private readonly telemetry: BreakerTelemetry;
  private readonly onStoreError: OnStoreError;
  private readonly syncIntervalMs: number;
  private readonly resyncMs: number;
  private readonly strict: boolean;
  private readonly shouldHandle: ((outcome: CallOutcome) => boolean) | undefined;
  private readonly fallback: BreakerFallback<R> | undefined;
  private readonly timeoutMs: number | undefined;
  /** The deadlines of calls in flight, with `timeoutMs`. */
  private readonly deadlines: CallDeadlines | undefined;
  /** Whether every call needs its duration (a slow-call rule, an OpenTelemetry SDK). */
  private readonly timeEveryCall: boolean;
  /** `slowCall.durationMs`, or infinity without a slow-call rule. */
  private readonly slowCallMs: number;
  private readonly replica = randomUUID();
  private probeCounter = 0;

  /** The cached view of the shared state. */
  private readonly view = new CachedView();
  private answerSeq = 0;

  /** Outcomes counted since the last flush. */
  private readonly pending: LocalCounts;

  private local: BreakerBinding | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private started = false;
  private closed = false;
  private inFlightSync: Promise<void> | undefined;
  /** The first store answer, while it is pending: calls wait for it rather than guess. */
  private firstSync: Promise<void> | undefined;

  private readonly stateChange = new Listeners<StateChangeEvent>();
  private readonly success = new Listeners<SuccessEvent>();
  private readonly failure = new Listeners<FailureEvent>();
  private readonly rejected = new Listeners<RejectedEvent>();
  private readonly storeStatus = new Listeners<StoreStatusEvent>();

  constructor(options: CircuitBreakerOptions<R> | undefined) {
    const resolved = resolveOptions(options);
    this.name = resolved.name;
    this.rules = resolved.rules;
    this.pending = new LocalCounts(resolved.rules);
    this.clock = resolved.clock;
    this.onStoreError = resolved.onStoreError;
    this.syncIntervalMs = resolved.syncIntervalMs;
    this.resyncMs = Math.max(MIN_RESYNC_MS, resolved.syncIntervalMs * RESYNC_FACTOR);
    this.strict = resolved.strict;
    this.shouldHandle = resolved.shouldHandle;
    this.fallback = resolved.fallback;
    this.timeoutMs = resolved.timeoutMs;
    this.slowCallMs =
      resolved.slowCallDurationMs > 0 ? resolved.slowCallDurationMs : Number.POSITIVE_INFINITY;
    this.telemetry = new BreakerTelemetry(
      resolved.name,
      resolved.store.kind,
      () => this.view.state,
    );
    this.timeEveryCall = this.slowCallMs !== Number.POSITIVE_INFINITY || this.telemetry.recording;
    this.deadlines =
      resolved.timeoutMs === undefined
        ? undefined
        : new CallDeadlines(resolved.timeoutMs, this.timedOut);
    this.binding = resolved.store.bind(resolved.name, resolved.rules);
    this.channel = new StoreChannel(resolved.store.kind, resolved.storeDeadlineMs, {
      operationDone: (operation, durationMs) =>
        this.telemetry.storeOperation(operation, durationMs),
      operationFailed: (operation) => this.telemetry.storeError(operation),
      statusChanged: (event) => this.storeStatusChanged(event),
    });
    const now = this.clock.now();
    if (resolved.initialState !== undefined) {
      const seed = seedFromSnapshot(resolved.initialState, now);
      // The seed applies at once, so the first calls already respect a carried-over open state,
      // even before an asynchronous store answers.
      this.applySeed(seed, now);
      this.firstSync = this.settleAnswer(
        this.storeCall(
          'seed',
          () => this.binding.seed(seed, now),
          (b) => b.seed(seed, now),
          this.currentViewFallback,
        ),
      );
    } else {
      this.firstSync = this.settleAnswer(
        this.storeCall(
          'read',
          () => this.binding.read(now),
          (b) => b.read(now),
          this.currentViewFallback,
        ),
      );
    }
    // A replica joining an open fleet must not let calls through before it has heard of it: the
    // first calls wait for the first answer (bounded by the store deadline), later ones never do.
    this.firstSync?.then(() => {
      this.firstSync = undefined;
    });
  }

  get state(): BreakerState {
    return this.view.state;
  }

  // ---------------------------------------------------------------- execution

  execute<T>(
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    options?: ExecuteOptions,
  ): Promise<T | R> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!this.started) this.start();
    if (this.firstSync !== undefined) return this.firstSync.then(() => this.admit(fn, signal));
    if (this.strict && this.clock.now() - this.view.lastSyncAt >= this.syncIntervalMs) {
      return this.refresh().then(() => this.admit(fn, signal));
    }
    return this.admit(fn, signal);
  }

  private admit<T>(
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    signal: AbortSignal | undefined,
  ): Promise<T | R> {
    // The common case first, without the full gate, and without reading the clock unless the
    // call's duration is needed: the time of the outcome is read when the call settles.
    if (this.view.state === 'closed' && this.channel.status === 'healthy') {
      return this.run(fn, signal, undefined, this.timesCalls() ? this.clock.now() : UNTIMED);
    }
    const now = this.clock.now();
    const gate = this.gate(now);
    if (gate === RUN) return this.run(fn, signal, undefined, now);
    if (gate === REJECT) return this.reject(signal, now);
    return this.probe(fn, signal, now);
  }

  /**
   * Whether a call starting now needs its start time: a slow-call rule, an OpenTelemetry SDK or a
   * success or failure listener will use its duration. On Node 20 a clock read costs about as much
   * as the rest of the closed path, so the others go without.
   */
  private timesCalls(): boolean {
    return this.timeEveryCall || this.success.active || this.failure.active;
  }

  /** Asks the store for a probe lease, then runs the call as a probe (or rejects it). */
  private async probe<T>(
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    signal: AbortSignal | undefined,
    now: number,
  ): Promise<T | R> {
    const token = `${this.replica}:${++this.probeCounter}`;
    const answer = await this.storeCall(
      'acquire_probe',
      () => this.binding.acquireProbe(token, now),
      (b) => b.acquireProbe(token, now),
      this.probeFallback,
    );
    this.applyView(answer.view, ++this.answerSeq);
    if (answer.decision === 'reject') return this.reject(signal, this.clock.now());
    return this.run(fn, signal, answer.decision === 'probe' ? token : undefined, this.clock.now());
  }

  private gate(now: number): number {
    if (this.channel.status === 'degraded') {
      if (this.onStoreError === 'fail-open') return RUN;
      if (this.onStoreError === 'fail-closed') return REJECT;
    }
    switch (this.view.state) {
      case 'closed':
      case 'disabled':
        return RUN;
      case 'open':
      case 'isolated':
        return now < this.view.openUntil ? REJECT : PROBE;
      default:
        // Half-open: when the last answer is fresh and showed every slot taken, say no locally
        // rather than asking the store on behalf of every call.
        if (
          this.view.probes >= this.rules.halfOpenMaxCalls &&
          now - this.view.lastSyncAt < this.syncIntervalMs
        )
          return REJECT;
        return PROBE;
    }
  }

  /**
   * Runs the call and counts its outcome. A plain promise chain rather than an `async` function:
   * on the closed path this is every call's overhead. `started` is `UNTIMED` (NaN) when nothing
   * needs the call's duration.
   */
  private run<T>(
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    signal: AbortSignal | undefined,
    probeToken: string | undefined,
    started: number,
  ): Promise<T | R> {
    if (this.deadlines !== undefined) return this.runTimed(fn, signal, probeToken, started);
    let pending: T | PromiseLike<T>;
    try {
      if (signal === undefined) {
        if (sharedContext === undefined) sharedContext = { signal: neverAbortedSignal() };
        pending = fn(sharedContext);
      } else {
        pending = raceAbort(fn({ signal }), signal);
      }
    } catch (error) {
      pending = Promise.reject(error);
    }
    const call = Promise.resolve(pending);
    if (signal === undefined && probeToken === undefined && Number.isNaN(started)) {
      // Nothing to remember per call on success: a handler made once rather than a closure.
      return call.then(this.untimedSucceeded as (value: T) => T | R | Promise<T | R>, (error) =>
        this.passFailure(error, call, undefined, undefined, UNTIMED),
      );
    }
    return call.then(
      (value) => this.succeeded(value, signal, probeToken, started),
      (error: unknown) => this.passFailure(error, call, signal, probeToken, started),
    );
  }

  private readonly untimedSucceeded = (value: unknown): unknown =>
    this.succeeded(value, undefined, undefined, UNTIMED);

  /** The call returned `value`. */
  private succeeded<T>(
    value: T,
    signal: AbortSignal | undefined,
    probeToken: string | undefined,
    started: number,
  ): T | R | Promise<T | R> {
    const now = this.clock.now();
    const durationMs = now - started;
    const slow = durationMs >= this.slowCallMs;
    if (this.shouldHandle !== undefined && this.handles({ kind: 'result', result: value })) {
      const pending = this.conclude('failure', slow, probeToken, now, durationMs);
      if (pending !== undefined)
        return pending.then<T | R>(() => this.resultFailed(value, signal, durationMs));
      return this.resultFailed(value, signal, durationMs);
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
    signal: AbortSignal | undefined,
    durationMs: number,
  ): T | Promise<R> {
    if (this.failure.active && !Number.isNaN(durationMs))
      this.failure.emit({ reason: 'result', result: value, durationMs });
    if (this.fallback !== undefined) return this.useFallback(value, signal);
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
    signal: AbortSignal | undefined,
    probeToken: string | undefined,
    started: number,
  ): Promise<R> {
    return this.failed(error, signal, probeToken, started) ?? (call as Promise<never>);
  }

  /**
   * Counts a call that threw `error` (or was aborted). Answers what the caller gets instead of
   * `error`, or `undefined` when the caller gets `error` itself.
   */
  private failed(
    error: unknown,
    signal: AbortSignal | undefined,
    probeToken: string | undefined,
    started: number,
  ): Promise<R> | undefined {
    const now = this.clock.now();
    const durationMs = now - started;
    if (signal?.aborted) {
      // The caller gave up: the call says nothing about the dependency.
      const reason: unknown = signal.reason;
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
        () => this.countedFailure(error, signal, timedOut, durationMs) ?? Promise.reject(error),
      );
    }
    return this.countedFailure(error, signal, timedOut, durationMs);
  }

  private countedFailure(
    error: unknown,
    signal: AbortSignal | undefined,
    timedOut: boolean,
    durationMs: number,
  ): Promise<R> | undefined {
    if (this.failure.active && !Number.isNaN(durationMs))
      this.failure.emit({ reason: timedOut ? 'timeout' : 'error', error, durationMs });
    if (this.fallback !== undefined) return this.useFallback(error, signal);
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

  // ---------------------------------------------------------------- calls under timeoutMs

  /**
   * Runs the call under `timeoutMs`. The returned promise is settled by whichever comes first: the
   * call settling, its deadline (see call-timeout.ts), or the caller's signal.
   */
  private runTimed<T>(
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    signal: AbortSignal | undefined,
    probeToken: string | undefined,
    started: number,
  ): Promise<T | R> {
    const call = new TimedCall(probeToken, started);
    // The settlers go straight into the (young) call: parking them in module variables (old
    // space) costs two slow write barriers per call.
    const result = new Promise<T | R>((resolve, reject) => {
      call.resolve = resolve as (value: unknown) => void;
      call.reject = reject;
    });
    this.deadlines!.add(call);
    if (signal !== undefined) {
      call.callerSignal = signal;
      call.onCallerAbort = () => this.callerAborted(call);
      signal.addEventListener('abort', call.onCallerAbort, { once: true });
    }
    let pending: T | PromiseLike<T>;
    try {
      pending = fn(call);
    } catch (error) {
      this.timedFailed(call, error);
      return result;
    }
    // A native promise is watched directly (`Promise.resolve` would return it as it is).
    (pending instanceof Promise && pending.constructor === Promise
      ? (pending as Promise<T>)
      : Promise.resolve(pending)
    ).then(
      (value) => this.timedSucceeded(call, value),
      (error: unknown) => this.timedFailed(call, error),
    );
    return result;
  }

  private timedSucceeded(call: TimedCall, value: unknown): void {
    if (call.settled) return;
    this.deadlines!.remove(call);
    this.endTimed(call);
    try {
      call.resolve(this.succeeded(value, call.callerSignal, call.probeToken, call.started));
    } catch (error) {
      call.reject(error);
    }
  }

  private timedFailed(call: TimedCall, error: unknown): void {
    if (call.settled) return;
    this.deadlines!.remove(call);
    this.endTimed(call);
    this.settleFailure(call, error);
  }

  private callerAborted(call: TimedCall): void {
    if (call.settled) return;
    this.deadlines!.remove(call);
    this.endTimed(call);
    const reason: unknown = call.callerSignal?.reason;
    call.abort(reason);
    this.settleFailure(call, reason);
  }

  /** The deadline queue's answer for a call that ran out of time (already out of the queue). */
  private readonly timedOut = (call: TimedCall): void => {
    if (call.settled) return;
    this.endTimed(call);
    const ms = this.timeoutMs!;
    const error = new TimeoutError(`Circuit breaker "${this.name}" timed out after ${ms} ms`, {
      policyName: this.name,
      timeoutMs: ms,
    });
    call.abort(error);
    this.settleFailure(call, error);
  };

  private endTimed(call: TimedCall): void {
    call.settled = true;
    if (call.onCallerAbort !== undefined) {
      call.callerSignal?.removeEventListener('abort', call.onCallerAbort);
      call.onCallerAbort = undefined;
    }
  }

  private settleFailure(call: TimedCall, error: unknown): void {
    try {
      const answer = this.failed(error, call.callerSignal, call.probeToken, call.started);
      if (answer === undefined) call.reject(error);
      else call.resolve(answer);
    } catch (thrown) {
      call.reject(thrown);
    }
  }

  /**
   * Counts a call that settled at `now`: telemetry, then the probe lease or the local counts.
   * `durationMs` is NaN for an untimed call (telemetry is then off).
   */
  private conclude(
    outcome: CallOutcomeLabel,
    slow: boolean,
    probeToken: string | undefined,
    now: number,
    durationMs: number,
  ): Promise<void> | undefined {
    if (this.telemetry.recording) this.telemetry.call(outcome, durationMs);
    if (probeToken !== undefined) {
      const result: ProbeResult =
        outcome === 'ignored' ? 'ignored' : outcome === 'success' ? 'success' : 'failure';
      const answer = this.storeCall(
        'release_probe',
        () => this.binding.releaseProbe(probeToken, result, now),
        (b) => b.releaseProbe(probeToken, result, now),
        this.currentViewFallback,
      );
      return this.settleAnswer(answer);
    }
    if (outcome === 'ignored') return undefined;
    return this.count(outcome !== 'success', slow, now);
  }

  private count(failed: boolean, slow: boolean, now: number): Promise<void> | undefined {
    // Outcomes of calls admitted before the breaker opened are stale; the store would drop them.
    if (this.view.state !== 'closed' && this.view.state !== 'disabled') return undefined;
    // An outcome that cannot change the state waits in the local counts, even with a store that
    // syncs on every call, so the hot path stays a few increments; the trip check below is exact
    // for one process (shared window as last answered + local counts). A time window needs each
    // outcome in its own bucket, so a new bucket flushes the previous one's. A count window needs
    // the calls in order: with a store synced on every call, a failure goes out at once, after the
    // successes that preceded it, so the window drops exactly the oldest calls. And with a
    // synchronous store the first outcome of a new bucket goes out at once: the view the trip
    // check relies on must have rotated out the calls that left the window.
    const pending = this.pending;
    const newBucket = pending.isNewBucket(now);
    if (newBucket && pending.size > 0) void this.flush();
    const ordered =
      this.syncIntervalMs === 0 &&
      (newBucket || (this.rules.windowKind === 'count' && (failed || slow)));
    if (ordered && pending.successes > 0) void this.flush();
    pending.add(failed, slow, now);
    if (ordered || this.strict || pending.couldTrip(this.view.shared)) return this.flush();
    return undefined;
  }

  private reject(signal: AbortSignal | undefined, now: number): Promise<R> {
    const state = this.view.state;
    const degraded = this.channel.status === 'degraded' && this.onStoreError === 'fail-closed';
    const retryAfterMs = this.view.retryAfterMs(now);
    const options = {
      policyName: this.name,
      retryAfterMs,
      state,
      cause: degraded ? this.channel.lastError : undefined,
    };
    const error =
      state === 'isolated' && !degraded
        ? new IsolatedCircuitError(`Circuit breaker "${this.name}" is isolated`, options)
        : new BrokenCircuitError(
            degraded
              ? `Circuit breaker "${this.name}" rejects calls while its store is unavailable`
              : `Circuit breaker "${this.name}" is ${state}`,
            options,
          );
    this.telemetry.call('rejected', undefined);
    this.telemetry.rejected(state);
    if (this.rejected.active) this.rejected.emit({ error });
    if (this.fallback !== undefined) return this.useFallback(error, signal);
    return Promise.reject(error);
  }

  private async useFallback(error: unknown, signal: AbortSignal | undefined): Promise<R> {
    const fallback = this.fallback!;
    if (typeof fallback !== 'function') return fallback.value;
    return fallback({ error, signal: signal ?? neverAbortedSignal() });
  }

  // ---------------------------------------------------------------- store synchronisation

  /** Runs a store operation through the channel, with the fallback `onStoreError` chose. */
  private storeCall<T>(
    operation: string,
    invoke: () => MaybePromise<T>,
    onLocal: (binding: BreakerBinding) => MaybePromise<T>,
    otherwise: (error: StoreError) => MaybePromise<T>,
  ): MaybePromise<T> {
    return this.channel.run(operation, invoke, (error) =>
      this.onStoreError === 'local' ? onLocal(this.localBinding()) : otherwise(error),
    );
  }

  private readonly currentViewFallback = (): BreakerView => this.currentView();

  private readonly probeFallback = (): ProbeAnswer => ({
    decision: this.onStoreError === 'fail-closed' ? 'reject' : 'admit',
    view: this.currentView(),
  });

  /** The in-process stand-in used while the store is down and `onStoreError` is `'local'`. */
  private localBinding(): BreakerBinding {
    if (this.local === undefined) {
      this.local = memoryStore().bind(this.name, this.rules);
      this.local.seed(this.seedOfView(), this.clock.now());
    }
    return this.local;
  }

  private flush(): Promise<void> | undefined {
    const now = this.pending.at;
    const batch = this.pending.take();
    if (batch === undefined) return undefined;
    const replica = this.replica;
    if (this.channel.status === 'healthy') {
      // The common case, without the closures of storeCall(): a synchronous store answers here.
      let answer: MaybePromise<BreakerView>;
      try {
        answer = this.binding.record(batch, replica, now);
      } catch (error) {
        return this.settleAnswer(
          this.channel.failed('record', error, this.recordFallback(batch, now)),
        );
      }
      if (!isPromiseLike(answer)) {
        this.applyView(answer, ++this.answerSeq);
        return undefined;
      }
      return this.settleAnswer(
        this.channel.settle('record', answer, this.recordFallback(batch, now)),
      );
    }
    return this.settleAnswer(
      this.storeCall(
        'record',
        () => this.binding.record(batch, replica, now),
        (b) => b.record(batch, replica, now),
        this.currentViewFallback,
      ),
    );
  }

  /** What a failed flush answers, per `onStoreError`. */
  private recordFallback(
    batch: OutcomeBatch,
    now: number,
  ): (error: StoreError) => MaybePromise<BreakerView> {
    return () =>
      this.onStoreError === 'local'
        ? this.localBinding().record(batch, this.replica, now)
        : this.currentView();
  }

  private refresh(): Promise<void> {
    const now = this.clock.now();
    const answer = this.storeCall(
      'read',
      () => this.binding.read(now),
      (b) => b.read(now),
      this.currentViewFallback,
    );
    return this.settleAnswer(answer) ?? Promise.resolve();
  }

  /** Applies a store answer now if it is synchronous, otherwise when it arrives. */
  private settleAnswer(answer: MaybePromise<BreakerView>): Promise<void> | undefined {
    const seq = ++this.answerSeq;
    if (!isPromiseLike(answer)) {
      this.applyView(answer, seq);
      return undefined;
    }
    return answer.then(
      (view) => this.applyView(view, seq),
      () => {
        // The channel answers failures with a fallback view; only a fallback that itself throws
        // gets here, and it must not fail the call that triggered the sync.
      },
    );
  }

  private start(): void {
    this.started = true;
    if (this.closed) return;
    if (this.binding.subscribe !== undefined) {
      this.unsubscribe = this.binding.subscribe(
        (view) => this.applyPushed(view),
        () => {
          if (!this.closed) void this.refresh();
        },
      );
    }
    if (this.syncIntervalMs > 0) {
      this.timer = setInterval(() => this.tick(), this.syncIntervalMs);
      // A breaker must never keep a process alive on its own.
      this.timer.unref();
    }
  }

  private tick(): void {
    if (this.inFlightSync !== undefined) return;
    let sync: Promise<void> | undefined;
    if (this.pending.size > 0) sync = this.flush();
    else {
      const stale = this.clock.now() - this.view.lastSyncAt >= this.resyncMs;
      if (this.binding.subscribe === undefined || this.channel.status === 'degraded' || stale)
        sync = this.refresh();
    }
    if (sync !== undefined) {
      this.inFlightSync = sync;
      sync.finally(() => {
        this.inFlightSync = undefined;
      });
    }
  }

  private applyPushed(view: BreakerView): void {
    this.applyView(view, undefined);
  }

  private applyView(view: BreakerView, seq: number | undefined): void {
    const from = this.view.state;
    if (!this.view.apply(view, seq, this.clock.now())) return;
    if (view.replaced) {
      this.telemetry.storeError('replace');
      process.emitWarning(
        `Circuit breaker "${this.name}": the store held a malformed or foreign record; it was replaced`,
        { type: 'BreakwaterWarning', code: 'BREAKWATER_RECORD_REPLACED' },
      );
    }
    if (from !== view.state) this.transitioned(from, view.state);
  }

  private transitioned(from: BreakerState, to: BreakerState): void {
    if (to !== 'closed' && to !== 'disabled') {
      // Counts from before the transition belong to a window that no longer exists.
      this.pending.clear();
    }
    this.telemetry.transition(from, to);
    if (this.stateChange.active) this.stateChange.emit({ from, to });
  }

  private applySeed(seed: BreakerSeed, now: number): void {
    const from = this.view.state;
    this.view.applySeed(seed, now);
    if (from !== this.view.state) this.transitioned(from, this.view.state);
  }

  private storeStatusChanged(event: StoreStatusEvent): void {
    if (event.status === 'healthy') {
      // The store is authoritative again: accept its next answer whatever its version, and drop
      // the stand-in so a later outage starts from the then current state.
      this.view.forgetVersion();
      this.local = undefined;
    }
    this.telemetry.storeStatus(event.status);
    if (this.storeStatus.active) this.storeStatus.emit(event);
  }

  private currentView(): BreakerView {
    return this.view.toView(this.clock.now());
  }

  private seedOfView(): BreakerSeed {
    const view = this.currentView();
    return { ...view, version: Math.max(1, view.version) };
  }

  // ---------------------------------------------------------------- outside calls (opossum bridge)

  observe(failed: boolean, durationMs: number): void {
    if (!this.started) this.start();
    this.telemetry.call(failed ? 'failure' : 'success', durationMs);
    void this.count(failed, durationMs >= this.slowCallMs, this.clock.now());
  }

  async acquireProbeLease(): Promise<string | undefined> {
    if (!this.started) this.start();
    await this.firstSync;
    const now = this.clock.now();
    const token = `${this.replica}:${++this.probeCounter}`;
    const answer = await this.storeCall(
      'acquire_probe',
      () => this.binding.acquireProbe(token, now),
      (b) => b.acquireProbe(token, now),
      this.probeFallback,
    );
    this.applyView(answer.view, ++this.answerSeq);
    if (answer.decision === 'probe') return token;
    return answer.decision === 'admit' ? 'closed' : undefined;
  }

  async releaseProbeLease(token: string, result: ProbeResult): Promise<void> {
    const now = this.clock.now();
    await this.settleAnswer(
      this.storeCall(
        'release_probe',
        () => this.binding.releaseProbe(token, result, now),
        (b) => b.releaseProbe(token, result, now),
        this.currentViewFallback,
      ),
    );
  }

  breakOver(): boolean {
    return this.gate(this.clock.now()) === PROBE;
  }

  connect(): void {
    if (!this.started) this.start();
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
    return this.command({ type: 'isolate', forMs });
  }

  reset(): Promise<void> {
    return this.command({ type: 'reset' });
  }

  disable(): Promise<void> {
    return this.command({ type: 'disable' });
  }

  private async command(command: BreakerCommand): Promise<void> {
    if (!this.started) this.start();
    const now = this.clock.now();
    const answer = this.storeCall(
      'command',
      () => this.binding.command(command, now),
      (b) => b.command(command, now),
      (error) => {
        throw error;
      },
    );
    const seq = ++this.answerSeq;
    const view = isPromiseLike(answer) ? await answer : answer;
    this.applyView(view, seq);
  }

  // ---------------------------------------------------------------- observation

  stats(): CircuitBreakerStats {
    // A synchronous store answers at once: bring the view up to date (waiting successes, buckets
    // that rotated out) so the numbers are exact rather than as of the last failure.
    if (this.syncIntervalMs === 0 && this.channel.status === 'healthy') {
      if (this.pending.size > 0) void this.flush();
      else void this.refresh();
    }
    const pending = this.pending;
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
      storeStatus: this.channel.status,
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

  onStoreStatusChange(listener: (event: StoreStatusEvent) => void): () => void {
    return this.storeStatus.add(listener);
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.telemetry.dispose();
    this.deadlines?.dispose();
    await this.inFlightSync;
    await this.flush();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
