/**
 * `@breakwater/cache/redis`: the Redis L2 store (single node or Cluster). A separate entry point
 * so that users of the memory store never load ioredis types or code.
 *
 * @module @breakwater/cache/redis
 */
export { type RedisStoreOptions, redisStore } from './stores/redis.js';
export {
  type RedisWriteBehindDurability,
  type RedisWriteBehindQueueOptions,
  redisWriteBehindQueue,
} from './write-behind/redis-queue.js';
