/**
 * `@breakwater/bulkhead/redis`: the Redis permit store for fleet-wide bulkheads (an ioredis or
 * iovalkey `Redis`/`Cluster`, or a node-redis client or Cluster, passed in by you).
 *
 * @module @breakwater/bulkhead/redis
 */
export { type RedisStoreOptions, redisStore } from './stores/redis.js';
