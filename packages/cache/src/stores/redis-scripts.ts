/**
 * Lua scripts of the Redis store. All keys of one script share the cache key's hash tag (one
 * Cluster slot). A record is stored as `<version>\n<record>`, so a plain GET is an L2 hit and the
 * scripts read the version with a GETRANGE of the first bytes.
 *
 * Versions are `max(previous + 1, TIME in µs)`: they grow with every write and keep growing after
 * the key was deleted or expired (µs since 1970 fit a Lua double exactly, < 2^53). They travel as
 * decimal strings, formatted with `%.0f` (Lua's default `tostring` would print 1.7e+15).
 */
import { defineScript } from '@breakwater/core/redis';

const NEXT_VERSION = `
local function current_version(key)
  local head = redis.call('GETRANGE', key, 0, 31)
  if head == '' then return 0 end
  return tonumber(string.match(head, '^(%d+)\\n')) or 0
end
local function next_version(previous)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  return math.max(previous + 1, now)
end
`;

/**
 * KEYS: record, lease. ARGV: record, ttlMs ('' = none), expectVersion ('' = any), leaseToken
 * ('' = none), channel, origin, user key. Returns `{written (0|1), version}`. With a leaseToken,
 * writes only while the lease is still held by it (and releases it): a holder paused past its
 * lease writes nothing, even once the next holder's record expired (version 0 again). Without
 * one (a `set`), a write that lands ends whatever lease the key has: the running load's value
 * would be older.
 */
export const SET_SCRIPT = defineScript<[number, string]>({
  name: 'cache.set',
  keys: 2,
  lua: `${NEXT_VERSION}
local previous = current_version(KEYS[1])
if ARGV[4] ~= '' then
  if redis.call('GET', KEYS[2]) ~= ARGV[4] then return {0, string.format('%.0f', previous)} end
  redis.call('DEL', KEYS[2])
end
if ARGV[3] ~= '' and tonumber(ARGV[3]) ~= previous then
  return {0, string.format('%.0f', previous)}
end
if ARGV[4] == '' then redis.call('DEL', KEYS[2]) end
local version = string.format('%.0f', next_version(previous))
if ARGV[2] == '' then
  redis.call('SET', KEYS[1], version .. '\\n' .. ARGV[1])
else
  redis.call('SET', KEYS[1], version .. '\\n' .. ARGV[1], 'PX', ARGV[2])
end
redis.call('PUBLISH', ARGV[5], cjson.encode({o = ARGV[6], k = {ARGV[7]}, v = {version}}))
return {1, version}
`,
});

/**
 * KEYS: record, lease. ARGV: channel, origin, user key. Returns the delete's version. Ends the
 * key's lease with the record: a load running now may have read what the delete invalidates, so
 * its write (under that lease) must not land.
 */
export const DELETE_SCRIPT = defineScript<string>({
  name: 'cache.delete',
  keys: 2,
  lua: `${NEXT_VERSION}
local version = string.format('%.0f', next_version(current_version(KEYS[1])))
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[1], cjson.encode({o = ARGV[2], k = {ARGV[3]}, v = {version}}))
return version
`,
});

/**
 * KEYS: record, lease. ARGV: token, ttlMs, seenVersion. Returns `{'acquired'}`,
 * `{'held', pttl}` or `{'changed', record-or-''}`.
 */
export const ACQUIRE_LEASE_SCRIPT = defineScript<[string, (string | number)?]>({
  name: 'cache.acquire_lease',
  keys: 2,
  lua: `
local current = redis.call('GET', KEYS[1])
local version = 0
if current then version = tonumber(string.match(current, '^(%d+)\\n')) or 0 end
if version ~= tonumber(ARGV[3]) then return {'changed', current or ''} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'acquired'} end
return {'held', redis.call('PTTL', KEYS[2])}
`,
});

/** KEYS: lease. ARGV: token. Returns 1 if released. */
export const RELEASE_LEASE_SCRIPT = defineScript<number>({
  name: 'cache.release_lease',
  keys: 1,
  lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
});

/** KEYS: lease. ARGV: token, ttlMs. Returns 1 if extended. */
export const EXTEND_LEASE_SCRIPT = defineScript<number>({
  name: 'cache.extend_lease',
  keys: 1,
  lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`,
});
