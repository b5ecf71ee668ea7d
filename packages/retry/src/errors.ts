/**
 * The errors this package adds to Breakwater's family. Guards test the brand, not `instanceof`, so
 * they work across duplicated copies of the package (see `@breakwater/core`'s errors).
 */
import {
  BreakwaterError,
  type BreakwaterErrorOptions,
  ExecutionRejectedError,
  type ExecutionRejectedErrorOptions,
  hasErrorKind,
} from '@breakwater/core';

/**
 * Wrap an error in this to stop retrying at once: `throw new NonRetryableError(error)`. The retry
 * policy gives up on the first attempt that throws it and rejects with the wrapped error (its
 * `cause`), so callers see what actually went wrong rather than the wrapper.
 */
export class NonRetryableError extends BreakwaterError {
  /**
   * @param cause The error the caller should receive. If omitted, the wrapper itself is rejected.
   * @param message Defaults to the wrapped error's message.
   */
  constructor(cause?: unknown, message?: string) {
    const options: BreakwaterErrorOptions = cause === undefined ? {} : { cause };
    super(message ?? (cause instanceof Error ? cause.message : 'Not retryable'), options);
    this.brand('NonRetryableError');
  }
}

/** Is `value` a {@link NonRetryableError}? */
export const isNonRetryableError = (value: unknown): value is NonRetryableError =>
  hasErrorKind(value, 'NonRetryableError');

/** Options of {@link RetryBudgetExhaustedError}. */
export interface RetryBudgetExhaustedErrorOptions extends ExecutionRejectedErrorOptions {
  /**
   * Retries the budget had left when it refused, as last known: below 1, except when
   * `onStoreError: 'fail-closed'` refused for a failed store (then the store's last report).
   */
  available: number;
}

/**
 * The retry budget refused a retry. It never is the rejection itself: the call rejects with its own
 * last error (which callers know how to handle) and this error is attached to it as `cause` when
 * that error has none, and is always passed to `onGiveUp` and `deadLetter`. When the budget's
 * store failed (or is degraded) and `onStoreError` refused in its place, its own `cause` is that
 * `StoreError`.
 */
export class RetryBudgetExhaustedError extends ExecutionRejectedError {
  /** Retries the budget had left when it refused, as last known. */
  readonly available: number;

  constructor(message: string, options: RetryBudgetExhaustedErrorOptions) {
    super(message, options);
    this.brand('RetryBudgetExhaustedError');
    this.available = options.available;
  }
}

/** Is `value` a {@link RetryBudgetExhaustedError}? */
export const isRetryBudgetExhaustedError = (value: unknown): value is RetryBudgetExhaustedError =>
  hasErrorKind(value, 'RetryBudgetExhaustedError');

/** Hedging aborted this attempt because another one won; the reason of the loser's signal. */
export class HedgeLostError extends BreakwaterError {
  /** The `hedge` number of the attempt that won (0 = the primary). */
  readonly winner: number;

  constructor(winner: number) {
    super(winner === 0 ? 'The primary attempt finished first' : `Hedge #${winner} finished first`);
    this.brand('HedgeLostError');
    this.winner = winner;
  }
}

/** Is `value` a {@link HedgeLostError}? */
export const isHedgeLostError = (value: unknown): value is HedgeLostError =>
  hasErrorKind(value, 'HedgeLostError');

/**
 * A dead-letter queue operation named a stream the queue never held (no entry was ever appended
 * to it): usually a typo, which must not pass for an empty stream.
 */
export class UnknownDeadLetterStreamError extends BreakwaterError {
  /** The stream asked for. */
  readonly stream: string;

  /** @param stream The stream asked for. */
  constructor(stream: string) {
    super(`Unknown dead-letter stream ${JSON.stringify(stream)}: no entry was ever appended to it`);
    this.brand('UnknownDeadLetterStreamError');
    this.stream = stream;
  }
}

/** Is `value` an {@link UnknownDeadLetterStreamError}? */
export const isUnknownDeadLetterStreamError = (
  value: unknown,
): value is UnknownDeadLetterStreamError => hasErrorKind(value, 'UnknownDeadLetterStreamError');

/**
 * A dead-letter codec threw encoding or decoding a value; `cause` is what it threw. At `append`,
 * nothing was written.
 */
export class DeadLetterCodecError extends BreakwaterError {
  /** Which value: the call's `input` or its `result`. */
  readonly field: 'input' | 'result';
  /** `'encode'` (at `append`) or `'decode'` (reading an entry back). */
  readonly direction: 'encode' | 'decode';

  /**
   * @param field Which value failed.
   * @param direction Encoding or decoding.
   * @param cause What the codec threw.
   */
  constructor(field: 'input' | 'result', direction: 'encode' | 'decode', cause: unknown) {
    super(
      `The dead-letter codec could not ${direction} \`${field}\`: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
    this.brand('DeadLetterCodecError');
    this.field = field;
    this.direction = direction;
  }
}

/** Is `value` a {@link DeadLetterCodecError}? */
export const isDeadLetterCodecError = (value: unknown): value is DeadLetterCodecError =>
  hasErrorKind(value, 'DeadLetterCodecError');
