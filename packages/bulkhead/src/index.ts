export { type AdaptiveOptions, adaptive } from './adaptive/adaptive.js';
export type { AdaptiveAlgorithm, AdaptiveLimit, LimitSample } from './adaptive/limit.js';
export { admits } from './admission.js';
export {
  type Bulkhead,
  type BulkheadContext,
  type BulkheadExecuteOptions,
  type BulkheadRejection,
  bulkhead,
} from './bulkhead.js';
export {
  BulkheadRejectedError,
  type BulkheadRejectedErrorOptions,
  type BulkheadRejectionReason,
  isBulkheadRejectedError,
  isLeaseLostError,
  LeaseLostError,
  type LeaseLostErrorOptions,
} from './errors.js';
export {
  type BulkheadOptions,
  DEFAULTS,
  type OnStoreError,
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
} from './store.js';
export { type MemoryStoreOptions, memoryStore } from './stores/memory.js';
export {
  ATTR_CLASS,
  ATTR_REASON,
  EVENT_LEASE_LOST,
  EVENT_REJECTED,
  EVENT_STORE_STATUS,
  METRIC_ACTIVE,
  METRIC_LEASES_LOST,
  METRIC_LIMIT,
  METRIC_QUEUED,
  METRIC_REJECTED,
  METRIC_STORE_DURATION,
  METRIC_STORE_ERRORS,
  METRIC_WAIT_DURATION,
} from './telemetry.js';
