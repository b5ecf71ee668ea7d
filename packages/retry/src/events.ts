/**
 * What the retry policy tells its options (`shouldRetry`, `retryAfter`, `deadLetter`) and its hook
 * subscribers about a call.
 */
import type { RetryBudgetExhaustedError } from './errors.js';

/** The outcome of one attempt, as `shouldRetry` and `retryAfter` see it. */
export type AttemptOutcome<R = unknown> =
  | {
      /** The attempt threw or rejected. */
      readonly ok: false;
      /** What it threw. */
      readonly error: unknown;
      readonly result?: undefined;
      /** The attempt's number: 1 for the first call, 2 for the first retry, … */
      readonly attempt: number;
      /** Milliseconds since the call started, by the policy's clock. */
      readonly elapsedMs: number;
    }
  | {
      /** The attempt returned a result. */
      readonly ok: true;
      readonly error?: undefined;
      /** What it returned. */
      readonly result: R;
      /** The attempt's number: 1 for the first call, 2 for the first retry, … */
      readonly attempt: number;
      /** Milliseconds since the call started, by the policy's clock. */
      readonly elapsedMs: number;
    };

/** Why a retry policy stopped retrying a failed call. */
export type GiveUpReason =
  /** `maxAttempts` attempts were made. */
  | 'max-attempts'
  /** Waiting for the next attempt would have exceeded `maxElapsedMs`. */
  | 'max-elapsed'
  /**
   * The attempt's hint (`retryAfter`: an open breaker's `retryAfterMs`, a `Retry-After`) asked for
   * a longer wait than `maxHintMs`, or one past `maxElapsedMs`: the caller gets the error at once.
   */
  | 'hint-too-long'
  /** `shouldRetry` said no, or the error was a `NonRetryableError`. */
  | 'not-retryable'
  /** The retry budget refused the retry. */
  | 'budget-exhausted';

/** Everything needed to replay a call the policy gave up on; what `deadLetter` receives. */
export interface RetryFailure<R = unknown> {
  /** The policy's name. */
  readonly policyName: string;
  /** Why the policy stopped. */
  readonly reason: GiveUpReason;
  /** How many attempts were made. */
  readonly attempts: number;
  /** Milliseconds from the start of the call to the give-up. */
  readonly elapsedMs: number;
  /** When the call started, in epoch milliseconds by the policy's clock. */
  readonly startedAt: number;
  /** The last attempt's error (unwrapped from a `NonRetryableError`); `undefined` for a result. */
  readonly error: unknown;
  /** The last attempt's result when results were being retried (`error` is then `undefined`). */
  readonly result: R | undefined;
  /** Whether the last attempt returned a result rather than an error. */
  readonly ok: boolean;
  /** What the caller passed as `input` to `execute`, to replay the call with. */
  readonly input: unknown;
  /** The budget's refusal, when `reason` is `'budget-exhausted'`. */
  readonly budgetError: RetryBudgetExhaustedError | undefined;
}

/** Emitted by `onRetry` before the policy waits for the next attempt. */
export interface RetryEvent<R = unknown> {
  /** The policy's name. */
  readonly policyName: string;
  /** The attempt that failed (1 = the first call). */
  readonly attempt: number;
  /** The delay before the next attempt, in milliseconds (backoff or server hint, whichever is longer). */
  readonly delayMs: number;
  /** Milliseconds since the call started. */
  readonly elapsedMs: number;
  /** Whether the failed attempt returned a result (retried by `shouldRetry`) rather than an error. */
  readonly ok: boolean;
  /** The failed attempt's error. */
  readonly error: unknown;
  /** The failed attempt's result, when it returned one. */
  readonly result: R | undefined;
}

/** Emitted by `onGiveUp` once the policy stopped, after `deadLetter` finished. */
export interface GiveUpEvent<R = unknown> extends RetryFailure<R> {
  /** What `deadLetter` threw, if it did (the call still rejects with its own error). */
  readonly deadLetterError: unknown;
}

/** Emitted by `onSuccess` when a call's result is accepted. */
export interface SuccessEvent<R = unknown> {
  /** The policy's name. */
  readonly policyName: string;
  /** How many attempts it took (1 = no retry). */
  readonly attempts: number;
  /** Milliseconds since the call started. */
  readonly elapsedMs: number;
  /** The accepted result. */
  readonly result: R;
}
