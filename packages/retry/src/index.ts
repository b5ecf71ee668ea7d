/**
 * `@breakwater/retry`: retries with backoff and jitter, retry budgets that stop retry storms, dead
 * letters and hedging. The memory budget store and the memory dead-letter queue are built in; the Redis and DynamoDB stores are
 * separate entry points.
 *
 * @module @breakwater/retry
 */
export type {
  Disposer,
  OnStoreError,
  StoreStatus,
  StoreStatusChange,
  StoreStatusListener,
} from '@breakwater/core';
export {
  type Backoff,
  type BackoffCommonOptions,
  type ConstantBackoffOptions,
  constant,
  DEFAULT_EXPONENTIAL_FACTOR,
  DEFAULT_EXPONENTIAL_INITIAL_MS,
  DEFAULT_EXPONENTIAL_MAX_MS,
  DEFAULT_LINEAR_MAX_MS,
  type ExponentialBackoffOptions,
  exponential,
  type LinearBackoffOptions,
  linear,
} from './backoff.js';
export type { RetryBudget, RetryBudgetDecision } from './budget.js';
export {
  DEFAULT_BUDGET_FLUSH_INTERVAL_MS,
  DEFAULT_BUDGET_MIN_PER_SECOND,
  DEFAULT_BUDGET_RATIO,
  DEFAULT_BUDGET_SLOTS,
  DEFAULT_BUDGET_WINDOW_MS,
  type RetryBudgetOptions,
} from './budget-options.js';
export {
  type DeadLetterCodec,
  type DeadLetterEntry,
  jsonCodec,
  type SerializedError,
  serializeError,
} from './dead-letter-entry.js';
export type {
  DeadLetterQueue,
  DeadLetterQueueOptions,
  ListDeadLettersOptions,
  ReplayAllOptions,
  ReplayAllResult,
  TrimDeadLettersOptions,
} from './dead-letter-queue.js';
export {
  DeadLetterCodecError,
  HedgeLostError,
  isDeadLetterCodecError,
  isHedgeLostError,
  isNonRetryableError,
  isRetryBudgetExhaustedError,
  isUnknownDeadLetterStreamError,
  NonRetryableError,
  RetryBudgetExhaustedError,
  type RetryBudgetExhaustedErrorOptions,
  UnknownDeadLetterStreamError,
} from './errors.js';
export type {
  AttemptOutcome,
  GiveUpEvent,
  GiveUpReason,
  RetryEvent,
  RetryFailure,
  SuccessEvent,
} from './events.js';
export {
  DEFAULT_MAX_HEDGES,
  type HedgeContext,
  type HedgeOptions,
  type HedgePolicy,
  hedge,
} from './hedge.js';
export {
  EXPONENTIAL_JITTER_MODES,
  type ExponentialJitter,
  JITTER_MODES,
  type Jitter,
  type RandomSource,
} from './jitter.js';
export {
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_MAX_HINT_MS,
  DEFAULT_RETRY_NAME,
  DEFAULTS,
  type RetryExecuteOptions,
  type RetryOptions,
} from './options.js';
export { type RetryContext, type RetryPolicy, type RetryPolicyMembers, retry } from './retry.js';
export {
  type HeadersLike,
  type HeadersRecord,
  type RetryAfterOptions,
  retryAfterFromHeaders,
} from './retry-after.js';
export { retryBudget, type WindowedRetryBudget } from './retry-budget.js';
export type {
  BudgetRequest,
  BudgetResult,
  BudgetScope,
  BudgetScopeOptions,
  BudgetSpec,
  RetryBudgetStore,
} from './store.js';
export { type MemoryBudgetStoreOptions, memoryBudgetStore } from './stores/memory.js';
export {
  type MemoryDeadLettersOptions,
  memoryDeadLetters,
} from './stores/memory-dead-letters.js';
export {
  ATTR_ATTEMPT,
  ATTR_DEAD_LETTER_OUTCOME,
  ATTR_DELAY_MS,
  ATTR_OUTCOME,
  ATTR_REASON,
  EVENT_GIVE_UP,
  EVENT_HEDGE,
  EVENT_RETRY,
  EVENT_STORE_STATUS,
  METRIC_ATTEMPTS,
  METRIC_BUDGET_AVAILABLE,
  METRIC_DEAD_LETTERS,
  METRIC_DELAY,
  METRIC_HEDGE_WINS,
  METRIC_HEDGES,
  METRIC_STORE_DURATION,
  METRIC_STORE_ERRORS,
} from './telemetry.js';
