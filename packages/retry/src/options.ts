/**
 * Options of {@link retry}, their defaults and their validation (once, at construction).
 */
import {
  type Clock,
  type ExecuteOptions,
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
  expectPositive,
  type OnStoreError,
  systemClock,
  warnUnknownOptions,
} from '@breakwater/core';
import { type Backoff, exponential } from './backoff.js';
import type { RetryBudget } from './budget.js';
import type { AttemptOutcome, RetryFailure } from './events.js';
import { RETRY_OPTIONS, RETRY_RENAMES } from './known-options.js';

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
   * The longest server or policy hint (`retryAfter`, by default an error's `retryAfterMs`) the
   * policy waits out, in milliseconds (≥ 0, or `Infinity` for any). A hint longer than this — an
   * open circuit breaker's whole break, a `Retry-After: 3600` — ends the call at once with the
   * attempt's error (give-up reason `'hint-too-long'`) rather than holding the caller, and so does
   * a hint that would pass `maxElapsedMs`. A hint no longer than the backoff's delay changes
   * nothing.
   * @default the longest delay the backoff itself waits within `maxAttempts`
   *   (`backoff.longestDelayMs(maxAttempts − 1)`: 200 ms for the default backoff and 3 attempts);
   *   for a backoff function without `longestDelayMs`, 1_000 (`DEFAULT_MAX_HINT_MS`)
   */
  maxHintMs?: number;
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
   * least this, up to `maxHintMs`: a longer hint, or one that would pass `maxElapsedMs`, ends the
   * call at once. Use `retryAfterFromHeaders` for HTTP.
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
/**
 * Default of {@link RetryOptions.maxHintMs} with a backoff function that has no `longestDelayMs`
 * (the built-in backoffs have it, and the default is then the longest delay they wait).
 */
export const DEFAULT_MAX_HINT_MS = 1_000;

/** Validated options, with defaults applied. */
export interface RetrySettings<R> {
  readonly name: string;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly maxElapsedMs: number;
  readonly maxHintMs: number;
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
  warnUnknownOptions('retry()', options, { known: RETRY_OPTIONS, renames: RETRY_RENAMES });
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
  const maxAttempts =
    options.maxAttempts === undefined
      ? DEFAULT_MAX_ATTEMPTS
      : expectInteger('maxAttempts', options.maxAttempts);
  const backoff =
    options.backoff === undefined
      ? exponential()
      : expectFunction<Backoff>('backoff', options.backoff);
  return {
    name:
      options.name === undefined ? DEFAULT_RETRY_NAME : expectNonEmptyString('name', options.name),
    maxAttempts,
    backoff,
    maxHintMs:
      options.maxHintMs === undefined
        ? longestBackoffDelay(backoff, maxAttempts)
        : expectHintCap(options.maxHintMs),
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

/** `maxHintMs`: a number ≥ 0, or `Infinity` to wait out any hint. */
function expectHintCap(value: unknown): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  return expectNonNegative('maxHintMs', value);
}

/** The default of `maxHintMs`: the longest delay `backoff` waits within `maxAttempts`. */
function longestBackoffDelay(backoff: Backoff, maxAttempts: number): number {
  const longest = backoff.longestDelayMs;
  if (typeof longest !== 'function') return DEFAULT_MAX_HINT_MS;
  const value = longest(maxAttempts - 1);
  if (typeof value !== 'number' || !(value >= 0)) {
    throw new RangeError(
      `Expected \`backoff.longestDelayMs(${maxAttempts - 1})\` to return a number >= 0, got ${String(value)}`,
    );
  }
  return value;
}
