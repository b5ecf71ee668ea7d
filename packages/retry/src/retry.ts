/**
 * The retry policy's public surface: the {@link RetryPolicy} interface and the {@link retry}
 * factory. The policy itself lives in retrying/: the policy class (retry-policy.ts), the context
 * each attempt receives (attempt-context.ts) and the error a caller receives when it gives up
 * (caller-error.ts).
 */
import type { Disposer, ExecutionContext, Policy } from '@breakwater/core';
import type { GiveUpEvent, RetryEvent, SuccessEvent } from './events.js';
import { type RetryExecuteOptions, type RetryOptions, resolveRetryOptions } from './options.js';
import { Retry } from './retrying/retry-policy.js';

/** What a retry policy hands to the function it runs. */
export interface RetryContext extends ExecutionContext {
  /** The attempt's number: 1 for the first call, 2 for the first retry, … */
  readonly attempt: number;
}

/**
 * A policy that retries failed calls; see {@link retry}. It is a core `Policy<RetryContext>` (so it
 * composes in `pipeline`) whose `execute` also accepts {@link RetryExecuteOptions}.
 */
export type RetryPolicy<R = unknown> = Policy<RetryContext> & RetryPolicyMembers<R>;

/**
 * What a {@link RetryPolicy} adds to a core `Policy`. (Kept apart from `Policy` so that a retry
 * policy still satisfies `pipeline`'s `Policy<never, unknown>` through its `Policy` half.)
 */
export interface RetryPolicyMembers<R = unknown> {
  /** The policy's name. */
  readonly name: string;
  /** Attempts in total, the first one included. */
  readonly maxAttempts: number;
  /**
   * Runs `fn`, retrying it under the policy's rules. Resolves with the first accepted result (or,
   * when results are retried and the policy gives up, with the last one). Rejects with the last
   * error when the policy gives up, with `signal.reason` as soon as the caller's signal aborts
   * (also during a backoff wait), and with what `shouldRetry`, `retryAfter` or the backoff threw
   * if one of them throws.
   */
  execute<T>(
    fn: (ctx: RetryContext) => T | PromiseLike<T>,
    options?: RetryExecuteOptions,
  ): Promise<T>;
  /** Subscribes to retries (called before each backoff wait). Returns a disposer. */
  onRetry(listener: (event: RetryEvent<R>) => void): Disposer;
  /** Subscribes to give-ups (called after `deadLetter`, before the call rejects). Returns a disposer. */
  onGiveUp(listener: (event: GiveUpEvent<R>) => void): Disposer;
  /** Subscribes to accepted results. Returns a disposer. */
  onSuccess(listener: (event: SuccessEvent<R>) => void): Disposer;
  /**
   * Part of the lifecycle every Breakwater policy shares. A retry policy opens no connection and
   * keeps no timer between calls, so there is nothing to release: it resolves at once, and calls
   * in flight finish as they would. The budget and the dead-letter queue you passed are yours to
   * close.
   */
  close(): Promise<void>;
  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Retries failed calls with backoff, within limits that keep retries from becoming the outage:
 * `maxAttempts`, `maxElapsedMs`, the caller's signal, `shouldRetry`, `NonRetryableError` and an
 * optional retry budget shared by the fleet. Honours server hints (`retryAfterMs`, `Retry-After`).
 *
 * `fn` receives `{ signal, attempt }`; the signal is the caller's (retries never abort an attempt
 * themselves), so pass it on.
 *
 * @example
 * const r = retry({ maxAttempts: 5, backoff: exponential({ initialMs: 100, maxMs: 10_000 }) });
 * const user = await r.execute(({ signal }) => fetchUser(id, { signal }), { signal });
 */
export function retry<R = unknown>(options: RetryOptions<R> = {}): RetryPolicy<R> {
  return new Retry(resolveRetryOptions(options));
}
