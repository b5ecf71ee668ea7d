/**
 * The Redis retry-budget store: one hash per budget, one Lua script per operation, one round trip.
 *
 * Key: `<prefix>:retry:{<name>:}:budget` (a single key, so it works on Redis Cluster as is).
 * Fields: `c:<slot>` (calls) and `r:<slot>` (retries) per slot of the window, where
 * `slot = floor(server time in ms / slotMs)`. The script reads the time with `TIME` on the server
 * (Principle 3), so replicas with skewed clocks still agree on the window. Slots that left the
 * window are deleted by the next operation, and the key expires one window after the last one.
 */
import { expectObject, warnUnknownOptions } from '@breakwater/core';
import {
  DEFAULT_KEY_PREFIX,
  defineScript,
  keyBuilder,
  type RedisClient,
  redisConnection,
  redisProbe,
} from '@breakwater/core/redis';
import { REDIS_BUDGET_STORE_OPTIONS } from '../known-options.js';
import type {
  BudgetRequest,
  BudgetResult,
  BudgetScope,
  BudgetScopeOptions,
  RetryBudgetStore,
} from '../store.js';

/** Options of {@link redisBudgetStore}. */
export interface RedisBudgetStoreOptions {
  /**
   * Your Redis client: an ioredis or iovalkey `Redis` or `Cluster`, or a connected node-redis
   * client from `createClient()` or `createCluster()`. The store never connects or closes it.
   */
  client: RedisClient;
  /**
   * First segment of every key; use one per tenant or environment.
   * @default 'bw'
   */
  prefix?: string;
}

const RECORD_LUA = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local add = tonumber(ARGV[1])
local ratio = tonumber(ARGV[3])
local reserve = tonumber(ARGV[4])
local windowMs = tonumber(ARGV[5])
local slotMs = tonumber(ARGV[6])
local slot = math.floor(now / slotMs)
local oldest = slot - math.ceil(windowMs / slotMs) + 1
local calls, retries = 0, 0
local stale = {}
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local field = fields[i]
  local fieldSlot = tonumber(string.sub(field, 3))
  if fieldSlot == nil or fieldSlot < oldest then
    stale[#stale + 1] = field
  elseif string.sub(field, 1, 1) == 'c' then
    calls = calls + tonumber(fields[i + 1])
  else
    retries = retries + tonumber(fields[i + 1])
  end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
if add > 0 then
  redis.call('HINCRBY', KEYS[1], 'c:' .. slot, add)
  calls = calls + add
end
local available = ratio * calls + reserve - retries
local granted = 0
if ARGV[2] == '1' and available >= 1 then
  redis.call('HINCRBY', KEYS[1], 'r:' .. slot, 1)
  available = available - 1
  granted = 1
end
redis.call('PEXPIRE', KEYS[1], math.ceil(windowMs + slotMs))
-- A Lua number becomes an integer reply; a string keeps the fraction.
return { granted, tostring(available) }
`;

const recordScript = defineScript<[number, string]>({
  name: 'retry.budget.record',
  lua: RECORD_LUA,
  keys: 1,
});

/**
 * A {@link RetryBudgetStore} in Redis, shared by every replica that uses the same budget name and
 * prefix. Each operation is one EVALSHA on one key; the scope's probe runs a trivial script on
 * that same key, so a Cluster asks the node that owns the budget.
 *
 * @example
 * import { redisBudgetStore } from '@breakwater/retry/redis';
 * const budget = retryBudget({ store: redisBudgetStore({ client: redis }) });
 */
export function redisBudgetStore(options: RedisBudgetStoreOptions): RetryBudgetStore {
  expectObject('options', options);
  warnUnknownOptions('redisBudgetStore()', options, { known: REDIS_BUDGET_STORE_OPTIONS });
  // Every command of the store goes through the one adapter, whichever library built the client.
  const connection = redisConnection(options.client, 'client');
  const prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
  // Built once here, so a bad prefix fails at construction rather than on the first retry.
  keyBuilder({ prefix, pattern: 'retry', name: 'retry' });
  // The client is the user's: there is nothing of ours to release.
  const close = (): Promise<void> => Promise.resolve();
  return {
    kind: 'redis',
    scope({ name, spec }: BudgetScopeOptions): BudgetScope {
      expectObject('spec', spec);
      const key = keyBuilder({ prefix, pattern: 'retry', name }).redisKey('', 'budget');
      const keys = [key] as const;
      return {
        async record(request: BudgetRequest): Promise<BudgetResult> {
          const [granted, available] = await recordScript.run(connection, keys, [
            request.calls,
            request.withdraw ? 1 : 0,
            spec.ratio,
            spec.reserve,
            spec.windowMs,
            spec.slotMs,
          ]);
          return { granted: granted === 1, available: Number(available) };
        },
        probe: redisProbe(connection, key),
      };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
