/**
 * Every factory of the package warns once per unknown option (core's `warnUnknownOptions`, code
 * `BREAKWATER_UNKNOWN_OPTION`), in the limiter's nested option bags too (each entry of `limits`
 * by its index), names what replaces rate-limiter-flexible's and bottleneck's options, and stays
 * silent for every option it knows: each factory is built below with all of them, so the
 * known-key lists are checked against what it accepts.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fakeClock, spyOnProcessWarnings } from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import {
  type LimitOptions,
  type MemoryStoreOptions,
  memoryStore,
  type PerReplicaLimit,
  type PlanCacheOptions,
  type RateLimiter,
  type RateLimiterOptions,
  type ReserveOptions,
  rateLimiter,
} from '../index.js';
import {
  DENY_CACHE_OPTIONS,
  DYNAMO_STORE_OPTIONS,
  LIMIT_OPTIONS,
  MEMORY_STORE_OPTIONS,
  PER_REPLICA_OPTIONS,
  PLAN_CACHE_OPTIONS,
  RATE_LIMITER_OPTIONS,
  REDIS_STORE_OPTIONS,
  RESERVE_OPTIONS,
} from '../known-options.js';
import { redisStore } from '../redis.js';
import type { DynamoStoreOptions } from '../stores/dynamodb.js';
import type { RedisStoreOptions } from '../stores/redis.js';

const redis = new Redis({ lazyConnect: true });
const dynamo = new DynamoDBClient({
  region: 'local',
  endpoint: 'http://127.0.0.1:9',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
});
const limiters: RateLimiter[] = [];
afterAll(async () => {
  await Promise.all(limiters.map((limiter) => limiter.close()));
  redis.disconnect();
  dynamo.destroy();
});

const warnings = spyOnProcessWarnings();
const warned = warnings.messages;

function build(options: RateLimiterOptions): void {
  limiters.push(rateLimiter(options));
}

const clock = fakeClock();
const limit = {
  limit: 100,
  intervalMs: 1_000,
  burst: 10,
  algorithm: 'fixed-window',
} satisfies Required<LimitOptions>;
const denyCache = { maxKeys: 100 };
const reserve = { batch: 5, holdMs: 100 } satisfies Required<ReserveOptions>;

/** What both forms of `rateLimiter()` options share; each form adds its limits. */
const common = {
  name: 'every-option',
  algorithm: 'gcra',
  store: memoryStore(),
  onStoreError: 'local',
  localShare: 0.5,
  replicaRenewIntervalMs: 1000,
  replicaTtlMs: 3000,
  storeDeadlineMs: 100,
  storeFailureThreshold: 2,
  storeProbeIntervalMs: 100,
  denyCache,
  reserve,
  blockDurationMs: 0,
  clock,
  limitsSyncIntervalMs: 0,
} satisfies RateLimiterOptions;
/** The single-limit form: `limit`, `intervalMs` and `burst`. */
const singleLimit = { ...common, limit: 100, intervalMs: 1_000, burst: 10 };
/** The several-limits form: `limits` (which excludes the single-limit options). */
const severalLimits = {
  ...common,
  limits: [limit, { limit: 1_000, intervalMs: 60_000, burst: 10 }],
};

const planCache = { maxKeys: 10, ttlMs: 1000 } satisfies Required<PlanCacheOptions>;
/** The plans form: a `limits` function (which excludes `reserve`) and its `planCache`. */
const { reserve: _reserve, ...commonWithoutReserve } = common;
const plans = { ...commonWithoutReserve, limits: () => limit, planCache };

/** Each store factory with every option it knows (typed `Required<…>`: none can be left out). */
const everyStoreOption = {
  memoryStore: { maxKeys: 10 } satisfies Required<MemoryStoreOptions>,
  redisStore: { client: redis, prefix: 'bw' } satisfies Required<RedisStoreOptions>,
  dynamoStore: {
    client: dynamo,
    tableName: 't',
    prefix: 'bw',
    maxAttempts: 2,
    cacheKeys: 10,
  } satisfies Required<DynamoStoreOptions>,
};

type StoreFactory = (options: never) => unknown;
const stores: Record<keyof typeof everyStoreOption, [StoreFactory, Record<string, true>]> = {
  memoryStore: [memoryStore, MEMORY_STORE_OPTIONS],
  redisStore: [redisStore, REDIS_STORE_OPTIONS],
  dynamoStore: [dynamoStore, DYNAMO_STORE_OPTIONS],
};
const storeNames = Object.keys(stores) as (keyof typeof everyStoreOption)[];

describe('unknown options', () => {
  it('rateLimiter() knows every option it takes, nested ones included, and warns for none', () => {
    const given = new Set([
      ...Object.keys(singleLimit),
      ...Object.keys(severalLimits),
      ...Object.keys(plans),
    ]);
    expect([...given].sort()).toEqual(Object.keys(RATE_LIMITER_OPTIONS).sort());
    expect(Object.keys(limit).sort()).toEqual(Object.keys(LIMIT_OPTIONS).sort());
    expect(Object.keys(denyCache).sort()).toEqual(Object.keys(DENY_CACHE_OPTIONS).sort());
    expect(Object.keys(reserve).sort()).toEqual(Object.keys(RESERVE_OPTIONS).sort());
    expect(Object.keys(planCache).sort()).toEqual(Object.keys(PLAN_CACHE_OPTIONS).sort());
    build(singleLimit);
    build(severalLimits);
    build(plans);
    build({ ...singleLimit, denyCache: false });
    expect(warned()).toEqual([]);
  });

  it.each(storeNames)('%s() knows every option it takes and warns for none of them', (name) => {
    const [factory, known] = stores[name];
    const options = everyStoreOption[name];
    expect(Object.keys(options).sort()).toEqual(Object.keys(known).sort());
    factory(options as never);
    expect(warned()).toEqual([]);
  });

  it.each(storeNames)('%s() warns once per unknown option, however often it is called', (name) => {
    const [factory] = stores[name];
    for (let i = 0; i < 3; i++) factory({ ...everyStoreOption[name], mystery: true } as never);
    expect(warned()).toEqual([
      `${name}() (@breakwater/rate-limit): unknown option \`mystery\` (ignored)`,
    ]);
    expect(warnings.spy.mock.calls[0]?.[1]).toEqual({
      type: 'BreakwaterWarning',
      code: 'BREAKWATER_UNKNOWN_OPTION',
    });
  });

  it('rateLimiter() warns once per misspelt or foreign option, however often it is called', () => {
    for (let i = 0; i < 3; i++) {
      build({
        name: 'l',
        limit: 10,
        intervalMs: 1_000,
        intervalMS: 1_000,
        blockDuration: 60,
      } as RateLimiterOptions);
    }
    expect(warned()).toEqual([
      'rateLimiter(): unknown option `intervalMS` (ignored)',
      "rateLimiter(): unknown option `blockDuration` (ignored) — did you mean `blockDurationMs`? (rate-limiter-flexible's `blockDuration` is in seconds, `blockDurationMs` in milliseconds: 60 becomes 60_000)",
    ]);
    for (const [, options] of warnings.spy.mock.calls) {
      expect(options).toEqual({ type: 'BreakwaterWarning', code: 'BREAKWATER_UNKNOWN_OPTION' });
    }
  });

  it("names what to use instead of rate-limiter-flexible's and bottleneck's options", () => {
    build({
      name: 'migrated',
      limit: 10,
      intervalMs: 1_000,
      points: 10,
      duration: 60,
      keyPrefix: 'app',
      minTime: 10,
      maxConcurrent: 5,
    } as RateLimiterOptions);
    redisStore({ client: redis, keyPrefix: 'app' } as RedisStoreOptions);
    expect(warned()).toEqual([
      'rateLimiter(): unknown option `points` (ignored) — did you mean `limit`?',
      "rateLimiter(): unknown option `duration` (ignored) — did you mean `intervalMs`? (rate-limiter-flexible's `duration` is in seconds, `intervalMs` in milliseconds: 60 becomes 60_000)",
      'rateLimiter(): unknown option `keyPrefix` (ignored) — did you mean `store: redisStore({ client, prefix })`? (the key prefix is an option of the store)',
      'rateLimiter(): unknown option `minTime` (ignored) — did you mean `limit: 1, intervalMs`? (`minTime: 10` is `limit: 1, intervalMs: 10` (GCRA with `burst: 0`))',
      'rateLimiter(): unknown option `maxConcurrent` (ignored) — a concurrency cap is a bulkhead: `bulkhead({ maxConcurrent })` from `@breakwater/bulkhead`, composed with `pipeline()`',
      'redisStore() (@breakwater/rate-limit): unknown option `keyPrefix` (ignored) — did you mean `prefix`?',
    ]);
  });

  it('warns about unknown options of the nested bags, with their path, once each', () => {
    for (let i = 0; i < 2; i++) {
      build({
        name: 'nested',
        limits: [
          { limit: 10, intervalMs: 1_000, burst: 5, points: 10 },
          { limit: 100, intervalMs: 60_000, burst: 5, duration: 60 },
        ],
        denyCache: { maxKeys: 10, size: 10 },
        reserve: { batch: 2, hold: 100 },
      } as unknown as RateLimiterOptions);
    }
    expect(warned()).toEqual([
      'rateLimiter(): unknown option `limits[0].points` (ignored) — did you mean `limit`?',
      "rateLimiter(): unknown option `limits[1].duration` (ignored) — did you mean `intervalMs`? (rate-limiter-flexible's `duration` is in seconds, `intervalMs` in milliseconds: 60 becomes 60_000)",
      'rateLimiter(): unknown option `denyCache.size` (ignored)',
      'rateLimiter(): unknown option `reserve.hold` (ignored)',
    ]);
  });
  it('knows `{ perReplica }` limits and warns about what else they hold, with their path', () => {
    const perReplica = { perReplica: 5 } satisfies Required<PerReplicaLimit>;
    expect(Object.keys(perReplica)).toEqual(Object.keys(PER_REPLICA_OPTIONS));
    build({ name: 'per-replica', limit: perReplica, intervalMs: 1_000 });
    expect(warned()).toEqual([]);
    build({
      name: 'per-replica-typos',
      limit: { perReplica: 5, perInstance: 3 },
      intervalMs: 1_000,
    } as unknown as RateLimiterOptions);
    build({
      name: 'per-replica-typos',
      limits: [{ limit: { perReplica: 5, replicas: 3 }, intervalMs: 1_000 }],
    } as unknown as RateLimiterOptions);
    expect(warned()).toEqual([
      'rateLimiter(): unknown option `limit.perInstance` (ignored)',
      'rateLimiter(): unknown option `limits[0].limit.replicas` (ignored)',
    ]);
  });
});
