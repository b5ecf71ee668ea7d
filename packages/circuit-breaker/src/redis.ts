/**
 * `@breakwater/circuit-breaker/redis`: the Redis store. Needs the optional peer `ioredis`.
 *
 * @module @breakwater/circuit-breaker/redis
 */
export { type RedisBreakerStore, type RedisStoreOptions, redisStore } from './stores/redis.js';
