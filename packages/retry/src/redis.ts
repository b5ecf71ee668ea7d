/**
 * `@breakwater/retry/redis`: the Redis retry-budget store, shared by the fleet, and dead letters
 * in a Redis Stream.
 *
 * @module @breakwater/retry/redis
 */

export type {
  DeadLetterQueue,
  ListDeadLettersOptions,
  ReplayAllOptions,
  ReplayAllResult,
} from './dead-letter-queue.js';
export { type RedisBudgetStoreOptions, redisBudgetStore } from './stores/redis.js';
export { type RedisDeadLettersOptions, redisDeadLetters } from './stores/redis-dead-letters.js';
