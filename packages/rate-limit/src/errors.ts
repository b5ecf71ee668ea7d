import { ExecutionRejectedError, hasErrorKind } from '@breakwater/core';
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
