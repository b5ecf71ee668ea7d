/**
 * `@breakwater/circuit-breaker/redis`: the Redis store. Takes your own client: ioredis,
 * iovalkey or node-redis (`redis`), single node or Cluster.
 *
 * @module @breakwater/circuit-breaker/redis
 */
export { type RedisBreakerStore, type RedisStoreOptions, redisStore } from './stores/redis.js';
