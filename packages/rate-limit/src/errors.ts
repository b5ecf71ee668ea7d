import { BreakwaterError, ExecutionRejectedError, hasErrorKind } from '@breakwater/core';
import type { RateLimitDecision } from './decision.js';

/** Options of {@link RateLimitedError}. */
export interface RateLimitedErrorOptions {
  /** Name of the limiter that refused the call. */
  policyName: string;
  /** The decision that refused it. */
  decision: RateLimitDecision;
  /** What caused the refusal besides the limit itself (a store error under `'fail-closed'`). */
  cause?: unknown;
}

/**
 * A rate limiter refused the call: the key is over its limit (or the store failed and the limiter
 * fails closed). `retryAfterMs` says when the same call would be admitted.
 */
export class RateLimitedError extends ExecutionRejectedError {
  /** The decision that refused the call. */
  readonly decision: RateLimitDecision;

  constructor(message: string, options: RateLimitedErrorOptions) {
    super(message, {
      policyName: options.policyName,
      retryAfterMs: options.decision.retryAfterMs,
      cause: options.cause,
    });
    this.brand('RateLimitedError');
    this.decision = options.decision;
  }
}

/** Is `value` a {@link RateLimitedError}? Works across duplicated package copies. */
export const isRateLimitedError = (value: unknown): value is RateLimitedError =>
  hasErrorKind(value, 'RateLimitedError');

/** Options of {@link LimitSourceError}. */
export interface LimitSourceErrorOptions {
  /** Name of the limiter whose `limits` function failed. */
  policyName: string;
  /** The user key the limits were asked for. */
  key: string;
  /** What went wrong: the function's own error, or the validation error of its result. */
  cause?: unknown;
}

/** The longest user key a {@link LimitSourceError} message quotes in full. */
const QUOTED_KEY_CHARS = 200;

/**
 * The `limits` function of a rate limiter (its plan per key) threw, rejected, or returned limits
 * that are not valid: the call was denied without asking the store. `key` names the key, `cause`
 * holds the function's error or the validation error naming the bad field. Not a store error: the
 * store was never asked.
 */
export class LimitSourceError extends BreakwaterError {
  /** Name of the limiter. */
  readonly policyName: string;
  /** The user key the limits were asked for. */
  readonly key: string;

  constructor(message: string, options: LimitSourceErrorOptions) {
    super(message, { cause: options.cause });
    this.brand('LimitSourceError');
    this.policyName = options.policyName;
    this.key = options.key;
  }

  /** The error for `key` of limiter `policyName`, whose `limits` function failed with `cause`. */
  static of(policyName: string, key: string, cause: unknown): LimitSourceError {
    const quoted = key.length > QUOTED_KEY_CHARS ? `${key.slice(0, QUOTED_KEY_CHARS)}…` : key;
    const reason = cause instanceof Error ? cause.message : String(cause);
    return new LimitSourceError(
      `Rate limit "${policyName}": the \`limits\` function gave no valid limits for key ${JSON.stringify(quoted)}: ${reason}`,
      { policyName, key, cause },
    );
  }
}

/** Is `value` a {@link LimitSourceError}? Works across duplicated package copies. */
export const isLimitSourceError = (value: unknown): value is LimitSourceError =>
  hasErrorKind(value, 'LimitSourceError');
