/**
 * The error a compare-and-swap gives up with. It lives with the DynamoDB helper that throws it;
 * its guard tests the error brand, so callers need not import this module to recognise it.
 */
import { hasErrorKind, StoreError, type StoreErrorOptions } from '../errors.js';

/** Options of {@link StoreConflictError}. */
export interface StoreConflictErrorOptions extends StoreErrorOptions {
  /** The table (or key space) whose item kept changing. */
  tableName: string;
  /** How many conditional writes were attempted before giving up. */
  attempts: number;
}

/**
 * An optimistic update lost the race on every attempt: other writers kept changing the item
 * between our read and our conditional write. Like every {@link StoreError}, policies treat it as
 * a store failure, never as a failure of the protected call.
 */
export class StoreConflictError extends StoreError {
  /** The table whose item kept changing. */
  readonly tableName: string;
  /** How many conditional writes were attempted. */
  readonly attempts: number;

  constructor(message: string, options: StoreConflictErrorOptions) {
    super(message, options);
    this.brand('StoreConflictError');
    this.tableName = options.tableName;
    this.attempts = options.attempts;
  }
}

/** Is `value` a {@link StoreConflictError}? Works across duplicated package copies. */
export const isStoreConflictError = (value: unknown): value is StoreConflictError =>
  hasErrorKind(value, 'StoreConflictError');
