/**
 * `@breakwater/rate-limit`: fleet-wide rate limits (GCRA, token bucket, sliding and fixed window) in at
 * most one store round trip per decision. The memory store is built in; the Redis and DynamoDB
 * stores are separate entry points.
 *
 * @module @breakwater/rate-limit
 */
export type { StoreStatus, StoreStatusChange } from '@breakwater/core';
export type { AlgorithmName } from './algorithms/limit.js';
export type { DecisionSource, RateLimitDecision } from './decision.js';
export {
  isLimitSourceError,
  isRateLimitedError,
  LimitSourceError,
  type LimitSourceErrorOptions,
  RateLimitedError,
  type RateLimitedErrorOptions,
} from './errors.js';
export { type HeaderPolicy, type RateLimitHeaders, rateLimitHeaders } from './headers.js';
export {
  DEFAULTS,
  type LimitOptions,
  type LimitsFunction,
  type LimitValue,
  type OnStoreError,
  type PerReplicaLimit,
  type PlanCacheOptions,
  type PlanLimits,
  type RateLimiterOptions,
  type ReserveOptions,
  type SetLimitsOptions,
} from './options.js';
export {
  type AcquireOptions,
  type LimitCallOptions,
  type LimitDefinition,
  type RateLimitExecuteOptions,
  type RateLimiter,
  type ReplicaCount,
  rateLimiter,
} from './rate-limiter.js';
export type {
  LimiterShape,
  MaybePromise,
  PublishedLimits,
  RateLimitStore,
  StoreHandle,
  StoreResult,
} from './store.js';
export { DEFAULT_MEMORY_MAX_KEYS, type MemoryStoreOptions, memoryStore } from './stores/memory.js';
export {
  ATTR_DECISION,
  ATTR_LIMIT_INDEX,
  ATTR_OUTCOME,
  ATTR_SOURCE,
  EVENT_DENIED,
  EVENT_STORE_STATUS,
  METRIC_DECISIONS,
  METRIC_LIMIT,
  METRIC_REPLICAS,
  METRIC_STORE_DURATION,
  METRIC_STORE_ERRORS,
  METRIC_WAIT_DURATION,
} from './telemetry.js';
