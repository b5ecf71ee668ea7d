/**
 * The options of `circuitBreaker()`, their defaults, and their validation. Bad options throw at
 * construction, naming the option and the value received.
 */
import {
  type Clock,
  describeValue,
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
  expectOneOf,
  expectPositive,
  expectRatio,
  type OnStoreError,
  resolveStoreOptions,
  STORE_DEFAULTS,
  type StoreSettings,
  systemClock,
} from '@breakwater/core';
import { warnUnknownBreakerOptions } from './known-options.js';
import type { CircuitBreakerSnapshot } from './snapshot.js';
import { type BreakerRules, type BreakerStore, isBreakerStore } from './store.js';
import { memoryStore } from './stores/memory.js';

/**
 * What the breaker does when its store fails, misses its deadline, or is degraded (core's
 * `OnStoreError`): `'local'` keeps deciding from the last known state and local counts,
 * `'fail-open'` lets every call through, `'fail-closed'` rejects every call.
 */
export type { OnStoreError };

/** The window over which ratios are computed. */
export type WindowOptions =
  | {
      /** The last `size` calls. */
      kind: 'count';
      /** Calls in the window; at least `minimumThroughput`. */
      size: number;
    }
  | {
      /** The calls of the last `durationMs`, kept in `buckets` buckets rotated lazily. */
      kind: 'time';
      /** Window length in milliseconds. */
      durationMs: number;
      /**
       * Buckets the window is split into; a bucket leaves the window as a whole.
       * @default 10
       */
      buckets?: number;
    };

/** Trip on the share of slow calls. */
export interface SlowCallOptions {
  /** A call taking at least this long, in milliseconds, is slow (whether it fails or not). */
  durationMs: number;
  /** Slow-call ratio in (0, 1] that opens the breaker once `minimumThroughput` calls were seen. */
  ratio: number;
}

/** How the breaker probes a dependency after a break. */
export interface HalfOpenOptions {
  /**
   * Probes allowed at once across the whole fleet.
   * @default 1
   */
  maxCalls?: number;
  /**
   * Successful probes that close the breaker (one failed probe re-opens it).
   * @default 1
   */
  successThreshold?: number;
  /**
   * A half-open state older than this re-opens the breaker, so probes that never conclude cannot
   * keep it half-open forever.
   * @default 60_000
   */
  maxDurationMs?: number;
  /**
   * Lifetime of a probe lease: a probe that has not reported by then (its replica died, its call
   * hangs) no longer blocks another probe.
   * @default 30_000, or `timeoutMs` when that is shorter
   */
  probeLeaseMs?: number;
}

/** Require several replicas to see failures before the fleet opens. */
export interface OpenQuorumOptions {
  /** Distinct replicas that must have reported failures within `windowMs`. */
  replicas: number;
  /**
   * How long a replica's failure report counts.
   * @default the time window's duration, or 60_000 with a count window
   */
  windowMs?: number;
}

/** What a break-duration function learns. */
export interface BreakDurationContext {
  /** Openings in a row, counting the one starting now (1 for the first). */
  readonly consecutiveOpens: number;
}

/** A fixed break duration in milliseconds, or one computed per consecutive opening (backoff). */
export type BreakDuration = number | ((ctx: BreakDurationContext) => number);

/** A settled call, as `shouldHandle` sees it. */
export type CallOutcome =
  | { readonly kind: 'error' /** What the call threw. */; readonly error: unknown }
  | { readonly kind: 'result' /** What the call returned. */; readonly result: unknown };

/** What a fallback function learns. */
export interface BreakerFallbackContext {
  /** Why the call failed or was rejected. */
  readonly error: unknown;
  /** The caller's signal (a never-aborting one if the caller passed none). */
  readonly signal: AbortSignal;
}

/** A fixed fallback value, or a function computing one. */
export type BreakerFallback<R> =
  | { /** Returned in place of the failed or rejected call's result. */ readonly value: R }
  | ((ctx: BreakerFallbackContext) => R | PromiseLike<R>);

/** Options of `circuitBreaker()`. */
export interface CircuitBreakerOptions<R = never> {
  /**
   * The breaker's name: in errors, telemetry and the store key. Breakers sharing a store and a name
   * share one state, so name the dependency, not the replica.
   * @default 'circuit-breaker'
   */
  name?: string;
  /**
   * Where the state lives: `memoryStore()` (this process), `redisStore()` or `dynamoStore()` (the
   * whole fleet).
   * @default a new `memoryStore()`
   */
  store?: BreakerStore;
  /**
   * Failure ratio in (0, 1] that opens the breaker once `minimumThroughput` calls are in the window.
   * @default 0.5 when no trip condition (`failureRatio`, `slowCall`, `consecutiveFailures`) is set
   */
  failureRatio?: number;
  /**
   * Calls the window must hold before a ratio can open the breaker.
   * @default 10
   */
  minimumThroughput?: number;
  /** Open when too many calls are slow. @default off */
  slowCall?: SlowCallOptions;
  /** Open after this many failures in a row. @default off */
  consecutiveFailures?: number;
  /** The window ratios are computed over. @default `{ kind: 'time', durationMs: 10_000, buckets: 10 }` */
  window?: WindowOptions;
  /**
   * How long the breaker stays open before probing, in milliseconds, or a function of the number of
   * openings in a row for a backoff. A function is sampled once, for 1 to 16 openings in a row (the
   * store cannot call it); later openings use its value for 16.
   * @default 10_000
   */
  breakDurationMs?: BreakDuration;
  /** Half-open probing. */
  halfOpen?: HalfOpenOptions;
  /**
   * Decides which settled calls are failures. Calls it rejects count as neither success nor failure
   * (when they threw, the error still propagates).
   * @default every error is a failure, every result a success
   */
  shouldHandle?: (outcome: CallOutcome) => boolean;
  /**
   * Time limit of each call in milliseconds; a call that exceeds it is aborted, counts as a failure
   * and rejects with a `TimeoutError`. One timer per breaker times its calls out, never before the
   * limit and at most `timeoutMs / 16` after it (1 ms under 32 ms).
   * @default none
   */
  timeoutMs?: number;
  /** Answer rejected calls and handled failures with this instead of an error. @default none */
  fallback?: BreakerFallback<R>;
  /**
   * How often a replica flushes its counts to a shared store and resynchronises, in milliseconds.
   * Counts flush sooner when local counts alone could trip the breaker. 0 (synchronous stores):
   * an outcome is applied at once when it could change the state, when it is the first of a new
   * time bucket, or, with a count window, when it is a failure or a slow call.
   * @default the store's: 100 for Redis and DynamoDB, 0 for memory
   */
  syncIntervalMs?: number;
  /**
   * `'eventual'`: outcomes are flushed every `syncIntervalMs`. `'strict'`: every outcome is written
   * to the store before the call returns, and the state is re-read before a call when the last
   * read is older than `syncIntervalMs` — for fleets too quiet for local counts to ever trip. A call
   * waits out one store deadline at most: after a failed read (which `'fail-closed'` answers by
   * rejecting the call), its outcome goes out with the next write.
   * @default 'eventual'
   */
  consistency?: 'eventual' | 'strict';
  /** Open the fleet only when several replicas see failures. @default `{ replicas: 1 }` */
  openQuorum?: OpenQuorumOptions;
  /**
   * When the store fails, misses `storeDeadlineMs`, or is degraded: `'local'` keeps deciding from
   * the last known state and local counts; `'fail-open'` lets every call through; `'fail-closed'`
   * rejects every call. Store errors never count as failures of calls. See the core README,
   * "When the store fails".
   * @default 'local'
   */
  onStoreError?: OnStoreError | undefined;
  /**
   * Deadline of each store operation in milliseconds (> 0, ≤ 2³¹−1), including `isolate()`,
   * `reset()`, `disable()` and what `close()` waits on; no call waits on the store longer.
   * @default 500
   */
  storeDeadlineMs?: number | undefined;
  /**
   * Consecutive store failures after which the store is `degraded`: calls then take the
   * `onStoreError` answer at once, without waiting on the store, until a probe succeeds.
   * @default 3
   */
  storeFailureThreshold?: number | undefined;
  /**
   * While the store is degraded, how often a background probe asks it whether it is back, in
   * milliseconds.
   * @default 1000
   */
  storeProbeIntervalMs?: number | undefined;
  /** State to start from when the store has none, as produced by `toJSON()`. @default none */
  initialState?: CircuitBreakerSnapshot;
  /** Time source; tests pass a fake clock. @default the system clock */
  clock?: Clock;
  /**
   * With an OpenTelemetry SDK, the `call.duration` histogram records the duration of one call in
   * this many (a systematic sample: its percentiles are the calls', its count is the sample's;
   * the `calls` counter counts every call). `1` records every call, which costs each call two
   * clock reads and the SDK's histogram record (about 1.5 µs on Node 20); `0` records none.
   * An integer ≥ 0.
   * @default 64
   */
  durationSampleEvery?: number;
}

/** Default values of the options, mirrored in the README. */
export const DEFAULTS = {
  name: 'circuit-breaker',
  failureRatio: 0.5,
  minimumThroughput: 10,
  windowDurationMs: 10_000,
  windowBuckets: 10,
  breakDurationMs: 10_000,
  halfOpenMaxCalls: 1,
  halfOpenSuccessThreshold: 1,
  halfOpenMaxDurationMs: 60_000,
  probeLeaseMs: 30_000,
  quorumWindowMs: 60_000,
  /** What a breaker does while its store fails: decide from local state. */
  onStoreError: 'local',
  /** Core's shared store defaults (see the core README, "When the store fails"). */
  storeDeadlineMs: STORE_DEFAULTS.deadlineMs,
  storeFailureThreshold: STORE_DEFAULTS.failureThreshold,
  storeProbeIntervalMs: STORE_DEFAULTS.probeIntervalMs,
  /** Shared records nobody touched for a week expire. */
  recordTtlMs: 7 * 24 * 3600 * 1000,
  durationSampleEvery: 64,
} as const;

/** Openings in a row for which a break-duration function is sampled. */
export const BREAK_DURATION_SAMPLES = 16;

/** Options after validation, with defaults applied. */
export interface ResolvedOptions<R> {
  readonly name: string;
  readonly store: BreakerStore;
  readonly rules: BreakerRules;
  readonly slowCallDurationMs: number;
  readonly shouldHandle: ((outcome: CallOutcome) => boolean) | undefined;
  readonly timeoutMs: number | undefined;
  readonly fallback: BreakerFallback<R> | undefined;
  readonly syncIntervalMs: number;
  readonly strict: boolean;
  readonly onStoreError: OnStoreError;
  /** The store settings (deadline, degraded-mode rule), resolved by core. */
  readonly storeSettings: StoreSettings;
  readonly initialState: CircuitBreakerSnapshot | undefined;
  readonly clock: Clock;
  readonly durationSampleEvery: number;
}

const MAX_TIMER_MS = 2_147_483_647;

function expectDuration(name: string, value: unknown): number {
  const ms = expectPositive(name, value);
  if (ms > MAX_TIMER_MS)
    throw new RangeError(`Expected \`${name}\` to be at most ${MAX_TIMER_MS}, got ${ms}`);
  return ms;
}

function resolveWindow(
  value: unknown,
  minimumThroughput: number,
): Pick<BreakerRules, 'windowKind' | 'windowSize' | 'bucketMs'> & { durationMs: number } {
  if (value === undefined) {
    return {
      windowKind: 'time',
      windowSize: DEFAULTS.windowBuckets,
      bucketMs: DEFAULTS.windowDurationMs / DEFAULTS.windowBuckets,
      durationMs: DEFAULTS.windowDurationMs,
    };
  }
  const window = expectObject('window', value);
  const kind = expectOneOf('window.kind', window.kind, ['count', 'time'] as const);
  if (kind === 'count') {
    const size = expectInteger('window.size', window.size);
    if (size < minimumThroughput) {
      throw new RangeError(
        `Expected \`window.size\` to be >= \`minimumThroughput\` (${minimumThroughput}), got ${size}`,
      );
    }
    return { windowKind: 'count', windowSize: size, bucketMs: 1, durationMs: 0 };
  }
  const durationMs = expectDuration('window.durationMs', window.durationMs);
  const buckets =
    window.buckets === undefined
      ? DEFAULTS.windowBuckets
      : expectInteger('window.buckets', window.buckets);
  if (durationMs / buckets < 1) {
    throw new RangeError(
      `Expected \`window.buckets\` to be at most \`window.durationMs\` (${durationMs}), got ${buckets}`,
    );
  }
  return { windowKind: 'time', windowSize: buckets, bucketMs: durationMs / buckets, durationMs };
}

function resolveBreakDurations(value: unknown): number[] {
  if (value === undefined) return [DEFAULTS.breakDurationMs];
  if (typeof value === 'number') return [expectDuration('breakDurationMs', value)];
  const fn = expectFunction<(ctx: BreakDurationContext) => number>('breakDurationMs', value);
  const durations: number[] = [];
  for (let opens = 1; opens <= BREAK_DURATION_SAMPLES; opens++) {
    durations.push(
      expectDuration(
        `breakDurationMs({ consecutiveOpens: ${opens} })`,
        fn({ consecutiveOpens: opens }),
      ),
    );
  }
  return durations;
}

/**
 * Validates `options` and applies the defaults. Warns once per option it does not know (code
 * `BREAKWATER_UNKNOWN_OPTION`), naming `factory`.
 */
export function resolveOptions<R>(
  options: CircuitBreakerOptions<R> | undefined,
  factory = 'circuitBreaker()',
): ResolvedOptions<R> {
  const raw =
    options === undefined ? {} : (expectObject('options', options) as CircuitBreakerOptions<R>);
  warnUnknownBreakerOptions(factory, raw);
  const name = raw.name === undefined ? DEFAULTS.name : expectNonEmptyString('name', raw.name);
  let store: BreakerStore;
  if (raw.store === undefined) store = memoryStore();
  else if (isBreakerStore(raw.store)) store = raw.store;
  else {
    throw new TypeError(
      `Expected \`store\` to be a circuit-breaker store (memoryStore(), redisStore() or dynamoStore()), got ${describeValue(raw.store)}`,
    );
  }
  const minimumThroughput =
    raw.minimumThroughput === undefined
      ? DEFAULTS.minimumThroughput
      : expectInteger('minimumThroughput', raw.minimumThroughput);
  let slowCallDurationMs = 0;
  let slowCallRatio = 0;
  if (raw.slowCall !== undefined) {
    const slowCall = expectObject('slowCall', raw.slowCall);
    slowCallDurationMs = expectDuration('slowCall.durationMs', slowCall.durationMs);
    slowCallRatio = expectRatio('slowCall.ratio', slowCall.ratio);
  }
  const consecutiveFailures =
    raw.consecutiveFailures === undefined
      ? 0
      : expectInteger('consecutiveFailures', raw.consecutiveFailures);
  const anyTripCondition =
    raw.failureRatio !== undefined ||
    raw.slowCall !== undefined ||
    raw.consecutiveFailures !== undefined;
  const failureRatio =
    raw.failureRatio !== undefined
      ? expectRatio('failureRatio', raw.failureRatio)
      : anyTripCondition
        ? 0
        : DEFAULTS.failureRatio;
  const window = resolveWindow(raw.window, minimumThroughput);
  const breakDurationsMs = resolveBreakDurations(raw.breakDurationMs);
  const timeoutMs =
    raw.timeoutMs === undefined ? undefined : expectDuration('timeoutMs', raw.timeoutMs);

  const halfOpen =
    raw.halfOpen === undefined ? {} : (expectObject('halfOpen', raw.halfOpen) as HalfOpenOptions);
  const halfOpenMaxCalls =
    halfOpen.maxCalls === undefined
      ? DEFAULTS.halfOpenMaxCalls
      : expectInteger('halfOpen.maxCalls', halfOpen.maxCalls);
  const halfOpenSuccessThreshold =
    halfOpen.successThreshold === undefined
      ? DEFAULTS.halfOpenSuccessThreshold
      : expectInteger('halfOpen.successThreshold', halfOpen.successThreshold);
  const halfOpenMaxDurationMs =
    halfOpen.maxDurationMs === undefined
      ? DEFAULTS.halfOpenMaxDurationMs
      : expectDuration('halfOpen.maxDurationMs', halfOpen.maxDurationMs);
  const probeLeaseMs =
    halfOpen.probeLeaseMs === undefined
      ? Math.min(DEFAULTS.probeLeaseMs, timeoutMs ?? Number.POSITIVE_INFINITY)
      : expectDuration('halfOpen.probeLeaseMs', halfOpen.probeLeaseMs);

  let quorumReplicas = 1;
  let quorumWindowMs: number =
    window.windowKind === 'time' ? window.durationMs : DEFAULTS.quorumWindowMs;
  if (raw.openQuorum !== undefined) {
    const quorum = expectObject('openQuorum', raw.openQuorum);
    quorumReplicas = expectInteger('openQuorum.replicas', quorum.replicas);
    if (quorum.windowMs !== undefined)
      quorumWindowMs = expectDuration('openQuorum.windowMs', quorum.windowMs);
  }

  const syncIntervalMs =
    raw.syncIntervalMs === undefined
      ? store.defaultSyncIntervalMs
      : expectNonNegative('syncIntervalMs', raw.syncIntervalMs);
  if (syncIntervalMs > MAX_TIMER_MS) {
    throw new RangeError(
      `Expected \`syncIntervalMs\` to be at most ${MAX_TIMER_MS}, got ${syncIntervalMs}`,
    );
  }
  const consistency =
    raw.consistency === undefined
      ? 'eventual'
      : expectOneOf('consistency', raw.consistency, ['eventual', 'strict'] as const);
  const storeSettings = resolveStoreOptions(raw, {
    onStoreError: DEFAULTS.onStoreError,
    deadlineMs: DEFAULTS.storeDeadlineMs,
    failureThreshold: DEFAULTS.storeFailureThreshold,
    probeIntervalMs: DEFAULTS.storeProbeIntervalMs,
  });
  const shouldHandle =
    raw.shouldHandle === undefined
      ? undefined
      : expectFunction<(outcome: CallOutcome) => boolean>('shouldHandle', raw.shouldHandle);
  if (raw.fallback !== undefined && typeof raw.fallback !== 'function') {
    const fallback = expectObject('fallback', raw.fallback);
    if (!('value' in fallback)) {
      throw new TypeError(
        `Expected \`fallback\` to be a function or { value }, got ${describeValue(raw.fallback)}`,
      );
    }
  }
  const clock =
    raw.clock === undefined ? systemClock : (expectObject('clock', raw.clock) as unknown as Clock);
  if (typeof clock.now !== 'function')
    throw new TypeError(`Expected \`clock.now\` to be a function, got ${describeValue(clock.now)}`);
  if (raw.initialState !== undefined) expectObject('initialState', raw.initialState);
  const durationSampleEvery =
    raw.durationSampleEvery === undefined
      ? DEFAULTS.durationSampleEvery
      : expectInteger('durationSampleEvery', raw.durationSampleEvery, 0);

  return {
    name,
    store,
    rules: {
      windowKind: window.windowKind,
      windowSize: window.windowSize,
      bucketMs: window.bucketMs,
      minimumThroughput,
      failureRatio,
      slowCallRatio,
      consecutiveFailures,
      breakDurationsMs,
      halfOpenMaxCalls,
      halfOpenSuccessThreshold,
      halfOpenMaxDurationMs,
      probeLeaseMs,
      quorumReplicas,
      quorumWindowMs,
      recordTtlMs: DEFAULTS.recordTtlMs,
    },
    slowCallDurationMs,
    shouldHandle,
    timeoutMs,
    fallback: raw.fallback,
    syncIntervalMs,
    strict: consistency === 'strict',
    onStoreError: storeSettings.onStoreError,
    storeSettings,
    initialState: raw.initialState,
    clock,
    durationSampleEvery,
  };
}
