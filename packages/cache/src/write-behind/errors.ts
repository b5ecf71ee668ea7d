import {
  ExecutionRejectedError,
  type ExecutionRejectedErrorOptions,
  hasErrorKind,
  StoreError,
  type StoreErrorOptions,
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

/** Options of {@link WriteBehindReplicationError}. */
export interface WriteBehindReplicationErrorOptions extends Omit<StoreErrorOptions, 'cause'> {
  /** The write-behind's name. */
  policyName: string;
  /** Replicas that confirmed the append within `waitTimeoutMs` (what `WAIT` answered). */
  confirmedReplicas: number;
  /** Replicas that had to confirm it (`waitReplicas`). */
  requiredReplicas: number;
  /** How long `WAIT` waited for them, in milliseconds. */
  waitTimeoutMs: number;
}

/**
 * A queue with `durability: 'wait'` appended a write on the Redis primary, but fewer replicas
 * than `waitReplicas` confirmed it within `waitTimeoutMs`, so the write is not acknowledged: a
 * failover now could lose it. It is a store failure (a {@link StoreError}: it counts toward
 * degrading the queue, and `write()` takes the value back out of the cache), not a refusal.
 *
 * The entry is in the primary's stream, though: if the primary survives (or the replicas catch
 * up), it is persisted later like any other. Delivery is at least once — retry the write if it
 * must land, and let versions order the retry.
 */
export class WriteBehindReplicationError extends StoreError {
  /** The write-behind's name. */
  readonly policyName: string;
  /** Replicas that confirmed the append in time. */
  readonly confirmedReplicas: number;
  /** Replicas that had to confirm it. */
  readonly requiredReplicas: number;
  /** How long `WAIT` waited, in milliseconds. */
  readonly waitTimeoutMs: number;

  constructor(options: WriteBehindReplicationErrorOptions) {
    super(
      `Write-behind "${options.policyName}" did not acknowledge a write: WAIT confirmed ${options.confirmedReplicas} of ${options.requiredReplicas} replica(s) within ${options.waitTimeoutMs} ms (durability: 'wait'); the entry may still be persisted later`,
      { store: options.store, operation: options.operation },
    );
    this.brand('WriteBehindReplicationError');
    this.policyName = options.policyName;
    this.confirmedReplicas = options.confirmedReplicas;
    this.requiredReplicas = options.requiredReplicas;
    this.waitTimeoutMs = options.waitTimeoutMs;
  }
}

/** Is `value` a {@link WriteBehindReplicationError}? Works across duplicated package copies. */
export const isWriteBehindReplicationError = (
  value: unknown,
): value is WriteBehindReplicationError => hasErrorKind(value, 'WriteBehindReplicationError');

/** How an error reads in a dead letter (and why a listed dead letter did not decode). */
export const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);
