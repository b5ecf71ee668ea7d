/**
 * The AWS SDK v3 identifies service errors by `name` (its exception classes differ between SDK
 * copies, so `instanceof` is unreliable when the user's client comes from another copy).
 */

/** Whether `error` is an AWS service error with the given exception name. */
export function isAwsError(error: unknown, name: string): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === name;
}
