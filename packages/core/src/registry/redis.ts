/**
 * The Redis replica backend: one sorted set per policy, member = replica id, score = the time the
 * replica's heartbeat runs out (the server's `TIME`, so skewed replica clocks still agree). One
 * script call per heartbeat prunes, renews and counts; the set's own TTL follows its last member,
 * so an abandoned fleet leaves nothing behind. The key is given by the store, in the policy's hash
 * slot, so a Cluster routes the heartbeat to the node whose outage matters.
 */
import type { ScriptClient } from '../redis/adapter.js';
import { defineScript } from '../redis/script.js';
import type { ReplicaBackend } from './backend.js';

const REGISTRY_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[2] == 'join' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - now))
end
return redis.call('ZCARD', KEYS[1])
`;

const REGISTRY_SCRIPT = defineScript<number>({
  name: 'replica-registry',
  lua: REGISTRY_LUA,
  keys: 1,
});

/**
 * Creates a {@link ReplicaBackend} on a Redis sorted set.
 * @param client A Redis client of any accepted library, or its connection (yours; never closed
 *   here).
 * @param key The set's key, e.g. `<prefix>:rate-limit:{<name>:}:replicas`: in the policy's slot.
 */
export function redisReplicaBackend(client: ScriptClient, key: string): ReplicaBackend {
  const keys = [key];
  return {
    heartbeat(replicaId, ttlMs) {
      return REGISTRY_SCRIPT.run(client, keys, [replicaId, 'join', Math.ceil(ttlMs)]).then(Number);
    },
    leave(replicaId) {
      return REGISTRY_SCRIPT.run(client, keys, [replicaId, 'leave', 0]).then(() => undefined);
    },
  };
}
