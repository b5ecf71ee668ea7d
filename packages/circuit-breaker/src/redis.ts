/**
 * `@breakwater/circuit-breaker/redis`: the Redis store. Needs the optional peer `ioredis`.
 */
export { type RedisBreakerStore, type RedisStoreOptions, redisStore } from './stores/redis.js';
