/**
 * The Lua scripts of the Redis permit store. Each decision is one script, so one round trip and
 * atomic. Time is the server's (`TIME`), never a client's (Principle 3).
 *
 * Keys of one bulkhead share the hash tag `{<name>:}`, so every script touches one Cluster slot:
 * - `…:fence`            counter behind the fencing tokens (never expires, so tokens only grow);
 * - `…:waiting`          present while some caller was refused recently: releases publish a
 *                        wake-up only then, so an unsaturated bulkhead sends no messages;
 * - `…:leases:<class>`   one sorted set per priority class: member = lease id, score = expiry (ms);
 * - `…:blocks:<class>`   one hash per priority class: block lease id → the permits it counts
 *                        (`permitQuota`); a lease without an entry counts one. An entry lives as
 *                        long as its lease is in the sorted set: every count drops the others.
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
 * Counting and granting, shared by the acquire and resize scripts. KEYS: fence, waiting marker,
 * the lease set of each class, then the block sizes of each class (so `n` classes: `2 + 2n` keys).
 * ARGV from 8 on: reserved × n, then max × n (-1 = no cap).
 *
 * `held(i)` drops the expired leases of class i (and the sizes of expired blocks) and counts its
 * permits: one per lease, plus `size - 1` per block lease. `grantable(class, wanted, limit)` is
 * how many more permits, up to `wanted`, the class may take now: the admission rule of
 * `admission.ts` applied permit by permit.
 */
const COUNT = `
local n = (#KEYS - 2) / 2
local function held(i)
  local set = KEYS[i + 2]
  local sizes = KEYS[i + 2 + n]
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
  local count = redis.call('ZCARD', set)
  local blocks = redis.call('HGETALL', sizes)
  for j = 1, #blocks, 2 do
    if redis.call('ZSCORE', set, blocks[j]) then
      count = count + tonumber(blocks[j + 1]) - 1
    else
      redis.call('HDEL', sizes, blocks[j])
    end
  end
  return count
end
local function grantable(class, wanted, limit)
  local reservedTotal = 0
  local sharedInUse = 0
  local own = 0
  for i = 1, n do
    local count = held(i)
    local reserved = tonumber(ARGV[7 + i])
    reservedTotal = reservedTotal + reserved
    if count > reserved then sharedInUse = sharedInUse + count - reserved end
    if i == class then own = count end
  end
  local max = tonumber(ARGV[7 + n + class])
  local reserved = tonumber(ARGV[7 + class])
  local granted = 0
  while granted < wanted do
    if max >= 0 and own >= max then break end
    if own >= reserved then
      if sharedInUse >= limit - reservedTotal then break end
      sharedInUse = sharedInUse + 1
    end
    own = own + 1
    granted = granted + 1
  end
  return granted
end
`;

/**
 * Sets the waiting marker for `ms` (a refusal, or a block granted fewer permits than wanted: the
 * fleet is near its limit) and, when no refusal was recent, publishes `contended` on `channel`, so
 * that replicas holding blocks give back what they do not use now rather than at their renewal.
 */
const CONTEND = `
local function contend(ms, channel)
  local fresh = redis.call('EXISTS', KEYS[2]) == 0
  redis.call('SET', KEYS[2], '1', 'PX', ms)
  if fresh then redis.call('PUBLISH', channel, 'contended') end
end
`;

/**
 * ARGV: class (1-based), limit, ttlMs, leaseId, refusedWaitMs, permits wanted, wake-up channel,
 * then as in {@link COUNT}. Grants one lease counting as many of the wanted permits as are free
 * (at least one). Returns {1, fencingToken, permits} when granted, {0, msUntilEarliestExpiry or
 * -1} when not. A refusal, or a block granted fewer permits than wanted, sets the waiting marker
 * ({@link CONTEND}).
 */
const ACQUIRE_LUA = `${NOW}${KEEP_ALIVE}${COUNT}${CONTEND}
local class = tonumber(ARGV[1])
local ttl = tonumber(ARGV[3])
local wanted = tonumber(ARGV[6])
local granted = grantable(class, wanted, tonumber(ARGV[2]))
if granted < wanted then contend(ARGV[5], ARGV[7]) end
if granted == 0 then
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
if granted > 1 then
  local sizes = KEYS[class + 2 + n]
  redis.call('HSET', sizes, ARGV[4], granted)
  keepAlive(sizes, ttl)
end
return {1, token, granted}
`;

/**
 * Renews a block lease and sets how many permits it counts. ARGV: class (1-based), limit, ttlMs,
 * leaseId, permits wanted, wake-up channel, refusedWaitMs, then as in {@link COUNT}. A smaller
 * count gives the difference back (and wakes waiters, like a release); a larger one takes as many
 * more as the layout allows ({@link CONTEND} when that is fewer than wanted). Returns
 * {count the lease holds now, 1 if the waiting marker is set}; {0, 0} when the lease is gone.
 */
const RESIZE_LUA = `${NOW}${KEEP_ALIVE}${COUNT}${CONTEND}
local class = tonumber(ARGV[1])
local ttl = tonumber(ARGV[3])
local id = ARGV[4]
local wanted = tonumber(ARGV[5])
local set = KEYS[class + 2]
local sizes = KEYS[class + 2 + n]
local expiry = redis.call('ZSCORE', set, id)
if not expiry or tonumber(expiry) <= now then
  redis.call('ZREM', set, id)
  redis.call('HDEL', sizes, id)
  return {0, 0}
end
local current = tonumber(redis.call('HGET', sizes, id) or '1')
local size = wanted
if wanted > current then
  size = current + grantable(class, wanted - current, tonumber(ARGV[2]))
  if size < wanted then contend(ARGV[7], ARGV[6]) end
end
if size > 1 then
  redis.call('HSET', sizes, id, size)
  keepAlive(sizes, ttl)
else
  redis.call('HDEL', sizes, id)
end
redis.call('ZADD', set, 'XX', now + ttl, id)
keepAlive(set, ttl)
local waiting = redis.call('EXISTS', KEYS[2])
if size < current and waiting == 1 then redis.call('PUBLISH', ARGV[6], '1') end
return {size, waiting}
`;

const acquireScripts = new Map<number, RedisScript<[number, number, number?]>>();
const resizeScripts = new Map<number, RedisScript<[number, number]>>();

/** The acquire script for a bulkhead with `classCount` classes (the script's key count). */
export function acquireScript(classCount: number): RedisScript<[number, number, number?]> {
  let script = acquireScripts.get(classCount);
  if (script === undefined) {
    script = defineScript({ name: 'bulkhead.acquire', keys: 2 + 2 * classCount, lua: ACQUIRE_LUA });
    acquireScripts.set(classCount, script);
  }
  return script;
}

/** The resize script (renews a block lease and sets its count) for `classCount` classes. */
export function resizeScript(classCount: number): RedisScript<[number, number]> {
  let script = resizeScripts.get(classCount);
  if (script === undefined) {
    script = defineScript({ name: 'bulkhead.resize', keys: 2 + 2 * classCount, lua: RESIZE_LUA });
    resizeScripts.set(classCount, script);
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
 * KEYS: the lease's class set, the waiting marker, the class's block sizes. ARGV: leaseId,
 * wake-up channel. Drops the lease (and its block size, if it is a block) and, if someone was
 * refused recently, publishes a wake-up; returns 1 if the lease was still there.
 */
export const releaseScript = defineScript<number>({
  name: 'bulkhead.release',
  keys: 3,
  lua: `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[2], '1') end
return removed
`,
});
