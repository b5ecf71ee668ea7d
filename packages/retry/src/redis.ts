/**
 * `@breakwater/retry/redis`: the Redis retry-budget store, shared by the fleet, and dead letters
 * in a Redis Stream.
 */
export { type RedisBudgetStoreOptions, redisBudgetStore } from './stores/redis.js';
export {
  type ListDeadLettersOptions,
  type RedisDeadLetters,
  type RedisDeadLettersOptions,
  type ReplayAllOptions,
  type ReplayAllResult,
  redisDeadLetters,
} from './stores/redis-dead-letters.js';
