/**
 * `@breakwater/core`: the `Policy` shape, `pipeline()`, `timeout()`, `fallback()`, `chaos()`,
 * typed errors and their guards, clocks, abort helpers, option validation, telemetry helpers and
 * the store call path every Breakwater pattern shares.
 *
 * @module @breakwater/core
 */
export {
  abortableSignal,
  childAbortController,
  neverAbortedSignal,
  raceAbort,
  raceLazyAbort,
  raceLazyAbortThen,
} from './abort.js';
export { followsAbort, markFollowsAbort } from './abort-marks.js';
export {
  ATTR_CHAOS_KIND,
  CHAOS_OPTIONS,
  type ChaosCommonOptions,
  type ChaosFaultOptions,
  type ChaosKind,
  type ChaosLatencyOptions,
  type ChaosOptions,
  type ChaosOutcomeOptions,
  type ChaosPolicy,
  chaos,
  DEFAULT_INJECTION_RATE,
} from './chaos.js';
export { type Clock, coarseNow, systemClock } from './clock.js';
export {
  isStoreConflictError,
  StoreConflictError,
  type StoreConflictErrorOptions,
} from './dynamodb/store-conflict-error.js';
export {
  BreakwaterError,
  type BreakwaterErrorOptions,
  ExecutionRejectedError,
  type ExecutionRejectedErrorOptions,
  hasErrorKind,
  isBreakwaterError,
  isExecutionRejectedError,
  isStoreError,
  isStoreTimeoutError,
  isTimeoutError,
  StoreError,
  type StoreErrorOptions,
  StoreTimeoutError,
  TimeoutError,
  type TimeoutErrorOptions,
} from './errors.js';
export {
  type FallbackCommonOptions,
  type FallbackContext,
  type FallbackOptions,
  type FallbackPolicy,
  fallback,
} from './fallback.js';
export {
  type HealthHandlerOptions,
  type HealthHttpResponse,
  type HealthReport,
  type HealthReporting,
  type HealthSource,
  type HealthStatus,
  health,
  healthHandler,
  healthResponse,
  POLICY_HEALTH,
  type PolicyHealth,
  type PolicyHealthFacts,
  policyHealth,
} from './health.js';
export {
  DEFAULT_KEY_PREFIX,
  HASHED_KEY_MARKER,
  type KeyBuilder,
  type KeyBuilderOptions,
  keyBuilder,
  MAX_USER_KEY_BYTES,
  normalizeUserKey,
} from './keys.js';
export {
  LazyAbortController,
  LazyExecutionContext,
  lazyAbortSourceOf,
  lazyContext,
} from './lazy-abort.js';
export { LazyInstruments, SDK_CHECK_INTERVAL } from './lazy-instruments.js';
export {
  type Disposer,
  LISTENER_ERROR_CODE,
  Listeners,
  reportListenerError,
} from './listeners.js';
export {
  CONTEXT_FIELDS,
  type ContextFields,
  type ContextOf,
  type ExecuteOptions,
  type ExecutionContext,
  type ExtraResultOf,
  NO_CONTEXT_FIELDS,
  type OptionsOf,
  type Pipeline,
  type PipelineContext,
  type PipelineOptions,
  type Policy,
  pipeline,
} from './policy.js';
export type { ReplicaBackend } from './registry/backend.js';
export { memoryReplicaBackend } from './registry/memory.js';
export {
  DEFAULT_REPLICA_RENEW_INTERVAL_MS,
  DEFAULT_REPLICA_TTL_MS,
  ReplicaRegistry,
  type ReplicaRegistryOptions,
  type ReplicaTiming,
  resolveReplicaTiming,
} from './registry/replica-registry.js';
export {
  DEFAULT_SETTLE_DEADLINE_MS,
  DEFAULT_SETTLE_RESERVE_MS,
  type InvocationContextLike,
  isSettleable,
  isSettleError,
  SERVERLESS_OPTIONS,
  SETTLE_ERROR_CODE,
  type ServerlessOptions,
  type SettleAllOptions,
  type Settleable,
  SettleError,
  type SettleFailure,
  type SettleTarget,
  serverless,
  settleAll,
} from './serverless.js';
export {
  StoreCalls,
  type StoreCallsOptions,
  type StoreInvoke,
  StoreOp,
  type StoreOpOptions,
  toStoreError,
} from './store/calls.js';
export { type DeadlineEntry, DeadlineQueue } from './store/deadline-queue.js';
export {
  chooseFallback,
  type StoreFallback,
  type StoreFallbacks,
} from './store/fallbacks.js';
export {
  expectDeadline,
  MAX_STORE_DEADLINE_MS,
  ON_STORE_ERROR_MODES,
  type OnStoreError,
  resolveStoreOptions,
  STORE_DEFAULTS,
  type StoreDefaults,
  type StoreOptions,
  type StoreSettings,
} from './store/options.js';
export type { StoreStatus, StoreStatusChange, StoreStatusListener } from './store/status.js';
export {
  ATTR_STORE_OPERATION,
  ATTR_STORE_OUTCOME,
  ATTR_STORE_STATUS,
  metricSegment,
  type StoreOutcome,
  storeMetricNames,
} from './store/telemetry.js';
export {
  ATTR_POLICY_NAME,
  ATTR_STORE,
  DURATION_BUCKETS_SECONDS,
  getTelemetry,
  isNoopMeter,
  type Telemetry,
  type TelemetryScope,
  WAIT_BUCKETS_SECONDS,
} from './telemetry.js';
export {
  type TimeoutOptions,
  type TimeoutPolicy,
  type TimeoutStrategy,
  timeout,
} from './timeout.js';
export {
  BREAKWATER_WARNING_TYPE,
  type KnownOptions,
  type OptionRename,
  type OptionRenames,
  UNKNOWN_OPTION_WARNING_CODE,
  type UnknownOptionsCheck,
  warnUnknownOptions,
} from './unknown-options.js';
export {
  describeValue,
  expectedFunctionError,
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
  expectOneOf,
  expectPositive,
  expectRatio,
  expectUnitInterval,
} from './validate.js';
