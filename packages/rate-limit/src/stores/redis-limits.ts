/**
 * The limits `setLimits(limits, { fleet: true })` publishes, in Redis: one hash per limiter name,
 * `<prefix>:rate-limit:{<name>:}:limits`, with the fields `version` and `limits` (JSON). The hash
 * tag is the limiter's policy-wide key's, so on a Cluster the record lives beside the replica
 * registry. Both operations are one-key scripts, run like every other script of the store
 * (`runScript`: EVALSHA, EVAL after NOSCRIPT), so the limiter's store deadline bounds them.
 *
 * Separate from `redis.ts` (the decisions' batching store): these calls are rare, and share
 * nothing with the decision path but the client.
 */
import {
  defineScript,
  keyBuilder,
  type RedisScript,
  runScript,
  type ScriptClient,
} from '@breakwater/core/redis';
import type { PublishedLimits, RateLimitStore } from '../store.js';

/** The last key part of the published limits (no algorithm has this name). */
export const LIMITS_KEY_PART = 'limits';

/**
 * Takes the next version and stores the limits with it, atomically: concurrent writers get
 * distinct versions, and the hash never holds a version with another writer's limits.
 */
const WRITE_LUA = `
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'limits', ARGV[1])
return version
`;

/** Both fields in one reply (nil, nil when nothing was published). */
const READ_LUA = `return redis.call('HMGET', KEYS[1], 'version', 'limits')`;

let writeScript: RedisScript<number> | undefined;
let readScript: RedisScript<(string | null)[]> | undefined;

/** The operations `redisStore()` adds to its store for published limits. */
export type RedisLimitsRecord = Required<Pick<RateLimitStore, 'readLimits' | 'writeLimits'>>;

/**
 * The published-limits operations of a Redis store with key `prefix`, on `client` (ioredis
 * `Redis` or `Cluster`). An ioredis command cannot be taken back, so the signals are not used:
 * the limiter's deadline bounds the wait.
 */
export function redisLimitsRecord(
  client: ScriptClient,
  prefix: string | undefined,
): RedisLimitsRecord {
  writeScript ??= defineScript<number>({
    name: 'rate-limit.write-limits',
    lua: WRITE_LUA,
    keys: 1,
  });
  readScript ??= defineScript<(string | null)[]>({
    name: 'rate-limit.read-limits',
    lua: READ_LUA,
    keys: 1,
  });
  const write = writeScript;
  const read = readScript;
  const keyOf = (name: string): string =>
    keyBuilder({ prefix, pattern: 'rate-limit', name }).redisKey('', LIMITS_KEY_PART);
  return {
    writeLimits: (name, limits) =>
      runScript(client, write, [keyOf(name)], [limits]).then((version) => Number(version)),
    readLimits: (name) =>
      runScript(client, read, [keyOf(name)]).then((reply): PublishedLimits | undefined => {
        const [version, limits] = reply;
        if (version === null || version === undefined || typeof limits !== 'string') {
          return undefined;
        }
        return { version: Number(version), limits };
      }),
  };
}
