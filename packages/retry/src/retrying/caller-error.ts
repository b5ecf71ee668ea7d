/**
 * The error a caller of a retry policy receives when the policy gives up: the last attempt's
 * error, unwrapped from a `NonRetryableError`, with a budget refusal recorded as its `cause`.
 */
import { isNonRetryableError, type RetryBudgetExhaustedError } from '../errors.js';

/** The error a caller should see: what a `NonRetryableError` wraps, if it wraps anything. */
export function unwrap(error: unknown): unknown {
  if (isNonRetryableError(error) && error.cause !== undefined) return error.cause;
  return error;
}

/**
 * Records the budget's refusal as the `cause` of the error the caller receives, without replacing
 * an existing cause or touching frozen errors: the caller keeps the error type it handles.
 */
export function attachCause(error: unknown, cause: RetryBudgetExhaustedError): void {
  if (typeof error !== 'object' || error === null || !Object.isExtensible(error)) return;
  if (Object.hasOwn(error, 'cause')) return;
  Object.defineProperty(error, 'cause', { value: cause, configurable: true, writable: true });
}
