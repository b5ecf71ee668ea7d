/**
 * The Lua scripts of the Redis permit store. Each decision is one script, so one round trip and
 * atomic. Time is the server's (`TIME`), never a client's (Principle 3).
 *
 * Keys of one bulkhead share the hash tag `{<name>:}`, so every script touches one Cluster slot:
 * - `…:fence`            counter behind the fencing tokens (never expires, so tokens only grow);
 * - `…:waiting`          present while some caller was refused recently: releases publish a
 *                        wake-up only then, so an unsaturated bulkhead sends no messages;
 * - `…:leases:<class>`   one sorted set per priority class: member = lease id, score = expiry (ms).
 */
import { defineScript, type RedisScript } from '@breakwater/core/redis';

/** Milliseconds of server time; every script starts with it. */
const NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/** Keeps a lease set alive at least as long as its newest lease (PTTL is -1 without expiry). */
const KEEP_ALIVE = `
local function keepAlive(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
`;

/**
 * KEYS: fence, waiting marker, then the lease set of each class in layout order.
 * ARGV: class (1-based), limit, ttlMs, leaseId, refusedWaitMs, reserved × n, max × n (-1 = no cap).
 * Returns {1, fencingToken} when granted, {0, msUntilEarliestExpiry or -1} when not.
 */
const ACQUIRE_LUA = `${NOW}${KEEP_ALIVE}
local n = #KEYS - 2
local class = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local reservedTotal = 0
local sharedInUse = 0
local own = 0
for i = 1, n do
  local key = KEYS[i + 2]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local held = redis.call('ZCARD', key)
  local reserved = tonumber(ARGV[5 + i])
  reservedTotal = reservedTotal + reserved
  if held > reserved then sharedInUse = sharedInUse + held - reserved end
  if i == class then own = held end
end
local max = tonumber(ARGV[5 + n + class])
local admit
if max >= 0 and own >= max then
  admit = false
elseif own < tonumber(ARGV[5 + class]) then
  admit = true
else
  admit = sharedInUse < limit - reservedTotal
end
if not admit then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[5])
  -- Only a refusal needs the earliest expiry: when a permit frees at the latest.
  local earliest = -1
  for i = 1, n do
    local first = redis.call('ZRANGE', KEYS[i + 2], 0, 0, 'WITHSCORES')
    if first[2] then
      local expiry = tonumber(first[2])
      if earliest < 0 or expiry < earliest then earliest = expiry end
    end
  end
  if earliest < 0 then return {0, -1} end
  return {0, earliest - now}
end
local token = redis.call('INCR', KEYS[1])
local set = KEYS[class + 2]
redis.call('ZADD', set, now + ttl, ARGV[4])
keepAlive(set, ttl)
return {1, token}
`;

const acquireScripts = new Map<number, RedisScript<[number, number]>>();

/** The acquire script for a bulkhead with `classCount` classes (the script's key count). */
export function acquireScript(classCount: number): RedisScript<[number, number]> {
  let script = acquireScripts.get(classCount);
  if (script === undefined) {
    script = defineScript({ name: 'bulkhead.acquire', keys: classCount + 2, lua: ACQUIRE_LUA });
    acquireScripts.set(classCount, script);
  }
  return script;
}

/**
 * KEYS: the lease's class set. ARGV: leaseId, ttlMs.
 * Returns 1 when the live lease was extended, 0 when it is gone (expired or released).
 */
export const renewScript = defineScript<number>({
  name: 'bulkhead.renew',
  keys: 1,
  lua: `${NOW}${KEEP_ALIVE}
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry then return 0 end
if tonumber(expiry) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[1])
keepAlive(KEYS[1], ttl)
return 1
`,
});

/**
 * KEYS: the lease's class set, the waiting marker. ARGV: leaseId, wake-up channel.
 * Drops the lease and, if someone was refused recently, publishes a wake-up; returns 1 if the
 * lease was still there.
 */
export const releaseScript = defineScript<number>({
  name: 'bulkhead.release',
  keys: 2,
  lua: `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[2], '1') end
return removed
`,
});
