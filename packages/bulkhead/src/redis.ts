/**
 * `@breakwater/bulkhead/redis`: the Redis permit store for fleet-wide bulkheads (ioredis `Redis`
 * or `Cluster`, passed in by you).
 *
 * @module @breakwater/bulkhead/redis
 */
export { type RedisStoreOptions, redisStore } from './stores/redis.js';
