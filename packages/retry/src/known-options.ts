/**
 * The options every factory of the package reads, and what to use instead of the options of the
 * libraries it replaces (p-retry, cockatiel; see the README's migration tables). A factory given an
 * option it does not read warns once (core's `warnUnknownOptions`, code
 * `BREAKWATER_UNKNOWN_OPTION`). Each list is checked against its options type by tsc
 * (`satisfies KnownOptions<…>`), so it cannot drift from the type.
 */
import type { KnownOptions, OptionRenames } from '@breakwater/core';
import type {
  ConstantBackoffOptions,
  ExponentialBackoffOptions,
  LinearBackoffOptions,
} from './backoff.js';
import type { RetryBudgetOptions } from './budget-options.js';
import type { HedgeOptions } from './hedge.js';
import type { RetryOptions } from './options.js';
import type { DynamoBudgetStoreOptions } from './stores/dynamodb.js';
import type { DynamoDeadLettersOptions } from './stores/dynamodb-dead-letters.js';
import type { MemoryBudgetStoreOptions } from './stores/memory.js';
import type { MemoryDeadLettersOptions } from './stores/memory-dead-letters.js';
import type { RedisBudgetStoreOptions } from './stores/redis.js';
import type { RedisDeadLettersOptions } from './stores/redis-dead-letters.js';

/** The options of `retry()`. */
export const RETRY_OPTIONS = {
  name: true,
  maxAttempts: true,
  backoff: true,
  maxElapsedMs: true,
  maxHintMs: true,
  shouldRetry: true,
  retryAfter: true,
  budget: true,
  deadLetter: true,
  clock: true,
} as const satisfies KnownOptions<RetryOptions>;

/** p-retry's and cockatiel's options of a retry, and what `retry()` takes instead. */
export const RETRY_RENAMES: OptionRenames = {
  retries: {
    use: 'maxAttempts',
    note: "p-retry's `retries` counts retries; `maxAttempts` counts attempts: retries + 1",
  },
  factor: 'backoff: exponential({ factor })',
  minTimeout: 'backoff: exponential({ initialMs })',
  maxTimeout: 'backoff: exponential({ maxMs })',
  randomize: "backoff: exponential({ jitter: 'full' })",
  maxRetryTime: {
    use: 'maxElapsedMs',
    note: 'it stops before a wait that would pass it',
  },
  signal: 'execute(fn, { signal })',
  onFailedAttempt: 'policy.onRetry(listener)',
  shouldConsumeRetry: {
    note: 'no equivalent: every retry counts; a `budget` bounds them',
  },
  unref: { note: "not needed: waits use the clock and end with the call's signal" },
};

/** The options of `constant()`. */
export const CONSTANT_BACKOFF_OPTIONS = {
  delayMs: true,
  jitter: true,
  random: true,
} as const satisfies KnownOptions<ConstantBackoffOptions>;

/** The options of `linear()`. */
export const LINEAR_BACKOFF_OPTIONS = {
  initialMs: true,
  stepMs: true,
  maxMs: true,
  jitter: true,
  random: true,
} as const satisfies KnownOptions<LinearBackoffOptions>;

/** The options of `exponential()`. */
export const EXPONENTIAL_BACKOFF_OPTIONS = {
  initialMs: true,
  factor: true,
  maxMs: true,
  jitter: true,
  random: true,
} as const satisfies KnownOptions<ExponentialBackoffOptions>;

/** cockatiel's and p-retry's backoff options, and what the backoffs take instead. */
export const BACKOFF_RENAMES: OptionRenames = {
  initialDelay: 'initialMs',
  maxDelay: 'maxMs',
  exponent: 'factor',
  generator: 'jitter',
  minTimeout: 'initialMs',
  maxTimeout: 'maxMs',
  randomize: "jitter: 'full'",
};

/** The options of `retryBudget()`. */
export const RETRY_BUDGET_OPTIONS = {
  name: true,
  ratio: true,
  minPerSecond: true,
  windowMs: true,
  slots: true,
  store: true,
  flushIntervalMs: true,
  onStoreError: true,
  storeDeadlineMs: true,
  storeFailureThreshold: true,
  storeProbeIntervalMs: true,
  clock: true,
} as const satisfies KnownOptions<RetryBudgetOptions>;

/** The options of `hedge()`. */
export const HEDGE_OPTIONS = {
  delayMs: true,
  maxHedges: true,
  name: true,
  clock: true,
} as const satisfies KnownOptions<HedgeOptions>;

/** The options of `memoryBudgetStore()`. */
export const MEMORY_BUDGET_STORE_OPTIONS = {
  clock: true,
} as const satisfies KnownOptions<MemoryBudgetStoreOptions>;

/** The options of `redisBudgetStore()`. */
export const REDIS_BUDGET_STORE_OPTIONS = {
  client: true,
  prefix: true,
} as const satisfies KnownOptions<RedisBudgetStoreOptions>;

/** The options of `dynamoBudgetStore()`. */
export const DYNAMO_BUDGET_STORE_OPTIONS = {
  client: true,
  tableName: true,
  prefix: true,
  maxAttempts: true,
  clock: true,
} as const satisfies KnownOptions<DynamoBudgetStoreOptions>;

/** The options of `redisDeadLetters()`. */
export const REDIS_DEAD_LETTERS_OPTIONS = {
  client: true,
  stream: true,
  prefix: true,
  maxLength: true,
  codec: true,
  claimMs: true,
  storeDeadlineMs: true,
  storeFailureThreshold: true,
  storeProbeIntervalMs: true,
} as const satisfies KnownOptions<RedisDeadLettersOptions>;

/** The options of `memoryDeadLetters()`. */
export const MEMORY_DEAD_LETTERS_OPTIONS = {
  stream: true,
  codec: true,
  claimMs: true,
  maxEntries: true,
  clock: true,
} as const satisfies KnownOptions<MemoryDeadLettersOptions>;

/** The options of `dynamoDeadLetters()`. */
export const DYNAMO_DEAD_LETTERS_OPTIONS = {
  client: true,
  tableName: true,
  prefix: true,
  stream: true,
  codec: true,
  claimMs: true,
  retentionMs: true,
  clock: true,
  storeDeadlineMs: true,
  storeFailureThreshold: true,
  storeProbeIntervalMs: true,
} as const satisfies KnownOptions<DynamoDeadLettersOptions>;
