/**
 * `@breakwater/rate-limit/redis`: the Redis store. Needs `ioredis` (a peer dependency you install).
 */
export { type RedisStoreOptions, redisStore } from './stores/redis.js';
