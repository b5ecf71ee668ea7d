import {
  ExecutionRejectedError,
  type ExecutionRejectedErrorOptions,
  hasErrorKind,
} from '@breakwater/core';

/** Options of {@link WriteBehindBacklogError}. */
export interface WriteBehindBacklogErrorOptions extends ExecutionRejectedErrorOptions {
  /** The `maxPending` bound that was reached. */
  maxPending: number;
}

/**
 * A write-behind queue already holds `maxPending` entries that are not persisted yet, so the write
 * was refused (nothing was written). The database is slower than the writes, or down: back off,
 * shed load, or raise `maxPending` if the backlog is expected.
 */
export class WriteBehindBacklogError extends ExecutionRejectedError {
  /** The `maxPending` bound that was reached. */
  readonly maxPending: number;

  constructor(options: WriteBehindBacklogErrorOptions) {
    super(
      `Write-behind "${options.policyName}" refused a write: ${options.maxPending} writes are already waiting to be persisted (maxPending)`,
      options,
    );
    this.brand('WriteBehindBacklogError');
    this.maxPending = options.maxPending;
  }
}

/** Is `value` a {@link WriteBehindBacklogError}? Works across duplicated package copies. */
export const isWriteBehindBacklogError = (value: unknown): value is WriteBehindBacklogError =>
  hasErrorKind(value, 'WriteBehindBacklogError');

/** How an error reads in a dead letter (and why a listed dead letter did not decode). */
export const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);
