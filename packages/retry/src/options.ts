/**
 * Options of {@link retry}, their defaults and their validation (once, at construction).
 */
import {
  type Clock,
  type ExecuteOptions,
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectObject,
  expectPositive,
  type OnStoreError,
  systemClock,
} from '@breakwater/core';
import { type Backoff, exponential } from './backoff.js';
import type { RetryBudget } from './budget.js';
import type { AttemptOutcome, RetryFailure } from './events.js';

/** Options of {@link retry}. `R` is the result type `shouldRetry` and hooks see. */
export interface RetryOptions<R = unknown> {
  /**
   * Name reported in errors and telemetry (`breakwater.policy.name`).
   * @default 'retry'
   */
  name?: string;
  /**
   * Attempts in total, the first one included (an integer ≥ 1; 1 disables retries).
   * @default 3
   */
  maxAttempts?: number;
  /**
   * The delay before each retry: `constant(…)`, `linear(…)`, `exponential(…)` or a function
   * `(attempt, lastDelayMs) => ms`.
   * @default exponential({ initialMs: 100, factor: 2, maxMs: 10_000, jitter: 'full' })
   */
  backoff?: Backoff;
  /**
   * Give up instead of waiting when the next attempt would start later than this many
   * milliseconds after the call started (finite, > 0).
   * @default no limit
   */
  maxElapsedMs?: number;
  /**
   * Decides whether an attempt's outcome is retried. It sees errors (`ok: false`) and results
   * (`ok: true`), so a result such as an HTTP 503 can be retried without throwing. If it throws,
   * the call rejects with what it threw and is not retried. A `NonRetryableError` is never retried
   * and an abort by the caller never is either, whatever this says.
   * @default retry every error, accept every result: `({ ok }) => !ok`
   */
  shouldRetry?: (outcome: AttemptOutcome<R>) => boolean;
  /**
   * The minimum delay a server asked for, in milliseconds, or `undefined`. The next delay is at
   * least this (and `maxElapsedMs` still applies). Use `retryAfterFromHeaders` for HTTP.
   * @default `error.retryAfterMs` when it is a finite number ≥ 0 (every Breakwater rejection has it)
   */
  retryAfter?: (outcome: AttemptOutcome<R>) => number | undefined;
  /**
   * Caps retries relative to recent traffic, for this process or the whole fleet:
   * `retryBudget({ ratio: 0.2, minPerSecond: 10, store })`. When it refuses, the call rejects at
   * once with its last error.
   * @default no budget
   */
  budget?: RetryBudget;
  /**
   * Receives every call the policy gives up on, with what is needed to replay it (see
   * `redisDeadLetters`). Awaited before the call settles; if it throws or rejects, the failure is
   * counted (`breakwater.retry.dead_letters`, `outcome=failed`) and handed to `onGiveUp` as
   * `deadLetterError` (with the whole failure, so a listener can log or keep it elsewhere), and
   * the call still settles with its own error (or result). The wait is only as long as
   * `deadLetter` takes: `redisDeadLetters(...).append` rejects with a `StoreError` within its
   * `storeDeadlineMs` (at once while its store is degraded); a function of your own should bound
   * itself. Not called for calls the caller aborted.
   * @default none
   */
  deadLetter?: (failure: RetryFailure<R>) => unknown;
  /**
   * Time source for delays and `maxElapsedMs`; tests pass a fake clock.
   * @default systemClock
   */
  clock?: Clock;
}

/** Per-call options of a retry policy's `execute`. */
export interface RetryExecuteOptions extends ExecuteOptions {
  /**
   * What the call works on (a message, a request body), handed to `deadLetter` on give-up so the
   * call can be replayed. Never read by the policy.
   */
  readonly input?: unknown;
}

/**
 * The defaults of the package's options, as documented in the README: `retry()`'s at the top
 * level, `retryBudget()`'s under `budget`. The store options without an entry here
 * (`storeDeadlineMs`, `storeFailureThreshold`, `storeProbeIntervalMs`) default to core's
 * `STORE_DEFAULTS`, shared by every pattern; `budget.onStoreError` is the budget's own choice.
 * The backoffs and `hedge()` keep their defaults next to their factories.
 */
export const DEFAULTS = {
  name: 'retry',
  maxAttempts: 3,
  budget: {
    name: 'retry',
    ratio: 0.2,
    minPerSecond: 10,
    windowMs: 10_000,
    slots: 10,
    flushIntervalMs: 1_000,
    /**
     * Each replica keeps enforcing the budget on its own traffic, so an outage of the store
     * neither stops retries nor lets them storm.
     */
    onStoreError: 'local' as OnStoreError,
  },
} as const;

/** Default of {@link RetryOptions.maxAttempts} (same as `DEFAULTS.maxAttempts`). */
export const DEFAULT_MAX_ATTEMPTS = DEFAULTS.maxAttempts;
/** Default of {@link RetryOptions.name} (same as `DEFAULTS.name`). */
export const DEFAULT_RETRY_NAME = DEFAULTS.name;

/** Validated options, with defaults applied. */
export interface RetrySettings<R> {
  readonly name: string;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly maxElapsedMs: number;
  readonly shouldRetry: ((outcome: AttemptOutcome<R>) => boolean) | undefined;
  readonly retryAfter: (outcome: AttemptOutcome<R>) => number | undefined;
  readonly budget: RetryBudget | undefined;
  readonly deadLetter: ((failure: RetryFailure<R>) => unknown) | undefined;
  readonly clock: Clock;
}

/** Reads `retryAfterMs` off the error: what every Breakwater rejection carries. */
export function retryAfterFromError(outcome: AttemptOutcome<unknown>): number | undefined {
  const error = outcome.error as { retryAfterMs?: unknown } | null | undefined;
  if (typeof error !== 'object' || error === null) return undefined;
  const hint = error.retryAfterMs;
  return typeof hint === 'number' ? hint : undefined;
}

/** Validates `options` and applies defaults. Throws naming the option and the bad value. */
export function resolveRetryOptions<R>(options: RetryOptions<R>): RetrySettings<R> {
  expectObject('options', options);
  const budget = options.budget;
  if (budget !== undefined) {
    expectObject('budget', budget);
    expectFunction('budget.recordCall', budget.recordCall);
    expectFunction('budget.tryAcquire', budget.tryAcquire);
  }
  const clock = options.clock ?? systemClock;
  expectObject('clock', clock);
  expectFunction('clock.now', clock.now);
  expectFunction('clock.sleep', clock.sleep);
  return {
    name:
      options.name === undefined ? DEFAULT_RETRY_NAME : expectNonEmptyString('name', options.name),
    maxAttempts:
      options.maxAttempts === undefined
        ? DEFAULT_MAX_ATTEMPTS
        : expectInteger('maxAttempts', options.maxAttempts),
    backoff:
      options.backoff === undefined
        ? exponential()
        : expectFunction<Backoff>('backoff', options.backoff),
    maxElapsedMs:
      options.maxElapsedMs === undefined
        ? Number.POSITIVE_INFINITY
        : expectPositive('maxElapsedMs', options.maxElapsedMs),
    shouldRetry:
      options.shouldRetry === undefined
        ? undefined
        : expectFunction<(outcome: AttemptOutcome<R>) => boolean>(
            'shouldRetry',
            options.shouldRetry,
          ),
    retryAfter:
      options.retryAfter === undefined
        ? (retryAfterFromError as (outcome: AttemptOutcome<R>) => number | undefined)
        : expectFunction<(outcome: AttemptOutcome<R>) => number | undefined>(
            'retryAfter',
            options.retryAfter,
          ),
    budget,
    deadLetter:
      options.deadLetter === undefined
        ? undefined
        : expectFunction<(failure: RetryFailure<R>) => unknown>('deadLetter', options.deadLetter),
    clock,
  };
}
