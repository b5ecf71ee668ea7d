/** The store status every store-backed policy reports, in one shape. */
import type { StoreError } from '../errors.js';

/** Whether a policy's store answers (`'healthy'`) or the policy answers its fallback (`'degraded'`). */
export type StoreStatus = 'healthy' | 'degraded';

/** A change of a policy's store status, as `onStoreStatusChange` listeners receive it. */
export interface StoreStatusChange {
  /** The policy's name. */
  readonly policy: string;
  /** The pattern: `'circuit-breaker'`, `'rate-limit'`, `'bulkhead'`, `'retry'`, `'cache'`, `'write-behind'`. */
  readonly pattern: string;
  /** The store kind: `'redis'`, `'dynamodb'`, … */
  readonly store: string;
  /** The new status. */
  readonly status: StoreStatus;
  /** The failure that degraded the store; only on `'degraded'`. */
  readonly error?: StoreError | undefined;
}

/** A subscriber to store status changes. */
export type StoreStatusListener = (change: StoreStatusChange) => void;
