/**
 * `@breakwater/rate-limit/redis`: the Redis store. Needs `ioredis` (a peer dependency you install).
 *
 * @module @breakwater/rate-limit/redis
 */
export { type RedisStoreOptions, redisStore } from './stores/redis.js';
