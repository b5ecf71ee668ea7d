/**
 * `@breakwater/core/redis`: the Redis plumbing Breakwater's stores share — a Lua script runner for
 * ioredis `Redis` and `Cluster` clients, Cluster slot checks, and the key builder. The only module
 * of core that refers to ioredis, and for types only: users pass their own client.
 *
 * @module @breakwater/core/redis
 */
export {
  DEFAULT_KEY_PREFIX,
  type KeyBuilder,
  type KeyBuilderOptions,
  keyBuilder,
  MAX_USER_KEY_BYTES,
  normalizeUserKey,
} from './keys.js';
export {
  isRedisCluster,
  type RedisArgument,
  type RedisClient,
  type ScriptClient,
} from './redis/client.js';
export { CLUSTER_SLOTS, hashTagBytes, keySlot } from './redis/key-slot.js';
export { redisProbe } from './redis/probe.js';
export {
  type ChannelListener,
  expectSubscriber,
  PubSubRouter,
  type PubSubRouterOptions,
  settleWithin,
} from './redis/pubsub.js';
export {
  defineScript,
  isNoScriptError,
  type RedisScript,
  runScript,
  type ScriptDefinition,
} from './redis/script.js';
export { redisReplicaBackend } from './registry/redis.js';
