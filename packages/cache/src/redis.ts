/**
 * `@breakwater/cache/redis`: the Redis L2 store and the Redis write-behind queue (single node or
 * Cluster; an ioredis, iovalkey or node-redis client). A separate entry point so that users of the
 * memory store never load Redis store code.
 *
 * @module @breakwater/cache/redis
 */
export { type RedisStoreOptions, redisStore } from './stores/redis.js';
export {
  type RedisWriteBehindDurability,
  type RedisWriteBehindQueueOptions,
  redisWriteBehindQueue,
} from './write-behind/redis-queue.js';
