/**
 * `@breakwater/bulkhead`: concurrency limits with priority classes, per-key caps, fleet-wide permits
 * held as leases, and an adaptive limit. The memory store is built in; the Redis and DynamoDB
 * stores are separate entry points.
 *
 * @module @breakwater/bulkhead
 */
export { type AdaptiveOptions, adaptive } from './adaptive/adaptive.js';
export type { AdaptiveAlgorithm, AdaptiveLimit, LimitSample } from './adaptive/limit.js';
export { admits } from './admission.js';
export {
  type Bulkhead,
  type BulkheadContext,
  type BulkheadExecuteOptions,
  type BulkheadRejection,
  bulkhead,
  type ReplicaCount,
} from './bulkhead.js';
export {
  BulkheadRejectedError,
  type BulkheadRejectedErrorOptions,
  type BulkheadRejectionReason,
  isBulkheadRejectedError,
  isLeaseLostError,
  isPerKeyCapError,
  LeaseLostError,
  type LeaseLostErrorOptions,
  PerKeyCapError,
  type PerKeyCapErrorOptions,
} from './errors.js';
export {
  type AdaptiveConcurrencyOptions,
  type BulkheadBaseOptions,
  type BulkheadOptions,
  DEFAULTS,
  type FixedConcurrencyOptions,
  type OnStoreError,
  type PerKeyCap,
  type PerKeyOptions,
  type PriorityClassOptions,
  type QueueOrder,
} from './options.js';
export type {
  AcquireRequest,
  AcquireResult,
  Lease,
  PermitLayout,
  PermitScope,
  PermitScopeOptions,
  PermitStore,
  ResizeRequest,
  ResizeResult,
} from './store.js';
export { type MemoryStoreOptions, memoryStore } from './stores/memory.js';
export {
  ATTR_CLASS,
  ATTR_REASON,
  EVENT_DEGRADED,
  EVENT_LEASE_LOST,
  EVENT_REJECTED,
  EVENT_STORE_STATUS,
  METRIC_ACTIVE,
  METRIC_DEGRADED,
  METRIC_LEASES_LOST,
  METRIC_LIMIT,
  METRIC_QUEUED,
  METRIC_REJECTED,
  METRIC_STORE_DURATION,
  METRIC_STORE_ERRORS,
  METRIC_WAIT_DURATION,
} from './telemetry.js';
