/**
 * `@breakwater/core/redis`: the Redis plumbing Breakwater's stores share — the one client adapter
 * (ioredis, iovalkey and node-redis, single node or Cluster), a Lua script runner, the pub/sub
 * router, Cluster slot checks, and the key builder. Refers to the client libraries for types only:
 * users pass their own client.
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
  isRedisConnection,
  type RedisConnection,
  type RedisLibrary,
  redisConnection,
  redisLibraryOf,
  type ScriptClient,
  type SubscriberConnection,
  type SubscriberEvents,
} from './redis/adapter.js';
export {
  type IoredisClient,
  isRedisCluster,
  type NodeRedisClient,
  type NodeRedisCluster,
  type RedisArgument,
  type RedisClient,
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
