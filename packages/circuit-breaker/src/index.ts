/**
 * `@breakwater/circuit-breaker`: a circuit breaker whose state a whole fleet of replicas can share, with
 * fleet-wide half-open probes. The memory store is built in; the Redis, DynamoDB and opossum pieces
 * are separate entry points.
 *
 * @module @breakwater/circuit-breaker
 */
export {
  type CircuitBreaker,
  type CircuitBreakerStats,
  circuitBreaker,
} from './circuit-breaker.js';
export {
  BrokenCircuitError,
  type BrokenCircuitErrorOptions,
  IsolatedCircuitError,
  isBrokenCircuitError,
  isIsolatedCircuitError,
} from './errors.js';
export type { FailureEvent, RejectedEvent, StateChangeEvent, SuccessEvent } from './events.js';
export {
  type BreakDuration,
  type BreakDurationContext,
  type BreakerFallback,
  type BreakerFallbackContext,
  type CallOutcome,
  type CircuitBreakerOptions,
  DEFAULTS,
  type HalfOpenOptions,
  type OnStoreError,
  type OpenQuorumOptions,
  type SlowCallOptions,
  type WindowOptions,
} from './options.js';
export { type CircuitBreakerSnapshot, SNAPSHOT_FORMAT } from './snapshot.js';
export {
  BREAKER_STATES,
  type BreakerCommand,
  type BreakerRules,
  type BreakerScope,
  type BreakerSeed,
  type BreakerState,
  type BreakerStore,
  type BreakerView,
  type BreakerViewListener,
  type MaybePromise,
  type OutcomeBatch,
  type ProbeAnswer,
  type ProbeDecision,
  type ProbeResult,
} from './store.js';
export type { StoreStatus, StoreStatusChange, StoreStatusEvent } from './store-status.js';
export { type MemoryBreakerStore, memoryStore } from './stores/memory.js';
export {
  ATTR_FROM,
  ATTR_OPERATION,
  ATTR_OUTCOME,
  ATTR_STATE,
  ATTR_STORE_OUTCOME,
  ATTR_TO,
  EVENT_REJECTED,
  EVENT_STORE_STATUS,
  EVENT_TRANSITION,
  METRIC_CALL_DURATION,
  METRIC_CALLS,
  METRIC_STATE,
  METRIC_STORE_DURATION,
  METRIC_STORE_ERRORS,
  METRIC_TRANSITIONS,
} from './telemetry.js';
