/**
 * The Lua scripts of the Redis dead-letter queue. Every key of one script is a key of one stream
 * (`{<stream>:}` hash tag), so each runs on Redis Cluster as is. Per stream:
 *
 * - `…:dead-letters`            the Redis Stream of entries (XADD order)
 * - `…:dead-letter-replays`     a hash: `<id>` → failed replays, `<id>:error` → last error (JSON)
 * - `…:dead-letter-claim:<id>`  the replay claim of one entry: a token with a `PX` lease
 */
import { defineScript } from '@breakwater/core/redis';

/** Removes entry ARGV[1]'s replay record (KEYS[2]). */
const FORGET = `local function forget(id) redis.call('HDEL', KEYS[2], id, id .. ':error') end`;

/** Drops the oldest entries beyond ARGV keep (KEYS[1] stream, KEYS[2] replays). */
const TRIM = `local function trim(keep)
  local n = redis.call('XLEN', KEYS[1]) - keep
  if n <= 0 then return 0 end
  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', n)
  for _, e in ipairs(old) do redis.call('XDEL', KEYS[1], e[1]); forget(e[1]) end
  return #old
end`;

/** XADD, then the exact trim to ARGV[1] entries when ARGV[1] > 0. ARGV[2..]: field, value, … */
export const appendScript = defineScript<string>({
  name: 'retry.dead-letters.append',
  keys: 2,
  lua: `${FORGET}
${TRIM}
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
local keep = tonumber(ARGV[1])
if keep > 0 then trim(keep) end
return id`,
});

/** Entries from ARGV[1] to ARGV[2] (XRANGE bounds), at most ARGV[3], with their replay record. */
export const pageScript = defineScript<[string, string[], string, string][]>({
  name: 'retry.dead-letters.page',
  keys: 2,
  lua: `local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
local out = {}
for i, x in ipairs(e) do
  local r = redis.call('HMGET', KEYS[2], x[1], x[1] .. ':error')
  out[i] = {x[1], x[2], r[1] or '0', r[2] or ''}
end
return out`,
});

/**
 * Claims entry ARGV[1] with token ARGV[2] for ARGV[3] ms (KEYS[3] the claim key): nil when the
 * entry is gone, 0 when another holds it, else the entry as `pageScript` gives it.
 */
export const claimScript = defineScript<0 | null | [string, string[], string, string]>({
  name: 'retry.dead-letters.claim',
  keys: 3,
  lua: `local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #e == 0 then return nil end
if not redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then return 0 end
local r = redis.call('HMGET', KEYS[2], ARGV[1], ARGV[1] .. ':error')
return {e[1][1], e[1][2], r[1] or '0', r[2] or ''}`,
});

/** Removes entry ARGV[1] if token ARGV[2] still holds its claim. */
export const completeScript = defineScript<number>({
  name: 'retry.dead-letters.complete',
  keys: 3,
  lua: `${FORGET}
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 0 end
redis.call('XDEL', KEYS[1], ARGV[1])
forget(ARGV[1])
redis.call('DEL', KEYS[3])
return 1`,
});

/** Releases token ARGV[2]'s claim on ARGV[1], counting a failed replay with error ARGV[3]. */
export const releaseScript = defineScript<number>({
  name: 'retry.dead-letters.release',
  keys: 3,
  lua: `if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 0 end
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  redis.call('HSET', KEYS[2], ARGV[1] .. ':error', ARGV[3])
end
redis.call('DEL', KEYS[3])
return 1`,
});

/** Removes entry ARGV[1] and its replay record; returns whether it existed. */
export const removeScript = defineScript<number>({
  name: 'retry.dead-letters.remove',
  keys: 2,
  lua: `${FORGET}
local n = redis.call('XDEL', KEYS[1], ARGV[1])
forget(ARGV[1])
return n`,
});

/** Keeps the newest ARGV[1] entries; returns how many it dropped. */
export const trimScript = defineScript<number>({
  name: 'retry.dead-letters.trim',
  keys: 2,
  lua: `${FORGET}
${TRIM}
return trim(tonumber(ARGV[1]))`,
});
