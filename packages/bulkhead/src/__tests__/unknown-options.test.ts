/**
 * Every factory of the package warns once per unknown option (core's `warnUnknownOptions`, code
 * `BREAKWATER_UNKNOWN_OPTION`), in the bulkhead's nested option bags too (each entry of `classes`
 * by its name, `perKey`), names what replaces p-limit's and bottleneck's options, and stays silent
 * for every option it knows: each factory is built below with all of them.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fakeClock, spyOnProcessWarnings } from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import {
  type AdaptiveOptions,
  adaptive,
  type Bulkhead,
  bulkhead,
  type MemoryStoreOptions,
  memoryStore,
  type PerKeyOptions,
  type PriorityClassOptions,
} from '../index.js';
import {
  ADAPTIVE_OPTIONS,
  BULKHEAD_OPTIONS,
  DYNAMO_STORE_OPTIONS,
  MEMORY_STORE_OPTIONS,
  PER_KEY_OPTIONS,
  PRIORITY_CLASS_OPTIONS,
  REDIS_STORE_OPTIONS,
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
const built: Bulkhead[] = [];
afterAll(async () => {
  await Promise.all(built.map((b) => b.close()));
  redis.disconnect();
  dynamo.destroy();
});

const warnings = spyOnProcessWarnings();
const warned = warnings.messages;
const clock = fakeClock();

describe('unknown options', () => {
  it('bulkhead() knows every option it reads, in every nested bag', () => {
    const critical: Required<PriorityClassOptions> = {
      reserved: 1,
      max: 3,
      maxQueue: 2,
      maxWaitMs: 100,
    };
    const perKey: Required<PerKeyOptions> = { maxConcurrent: 2, maxQueue: 3 };
    const options = {
      name: 'all',
      maxConcurrent: 4,
      maxQueue: 1,
      maxWaitMs: 10,
      order: 'fifo',
      classes: { critical, background: {} },
      defaultPriority: 'background',
      perKey,
      store: memoryStore({ clock }),
      permitQuota: 2,
      leaseTtlMs: 1_000,
      renewIntervalMs: 100,
      wakeupPollMs: 100,
      onStoreError: 'local',
      localMaxConcurrent: 2,
      replicaRenewIntervalMs: 100,
      replicaTtlMs: 300,
      storeDeadlineMs: 100,
      storeFailureThreshold: 2,
      storeProbeIntervalMs: 100,
      clock,
    } as const;
    expect([...Object.keys(options), 'limit'].sort()).toEqual(Object.keys(BULKHEAD_OPTIONS).sort());
    expect(Object.keys(critical).sort()).toEqual(Object.keys(PRIORITY_CLASS_OPTIONS).sort());
    expect(Object.keys(perKey).sort()).toEqual(Object.keys(PER_KEY_OPTIONS).sort());
    built.push(bulkhead(options));
    // `limit` is the other half of the options type.
    built.push(bulkhead({ name: 'adaptive', limit: adaptive() }));
    expect(warned()).toEqual([]);
  });

  it('warns once per unknown option, naming what p-limit and bottleneck users mean', () => {
    const options = {
      name: 'foreign',
      maxConcurrent: 2,
      concurrency: 4,
      highWater: 10,
      classes: { critical: { reserved: 1, weight: 3 }, background: {} },
      perKey: { maxConcurrent: 1, max: 2 },
    };
    built.push(bulkhead(options));
    built.push(bulkhead(options));
    expect(warned()).toEqual([
      'bulkhead(): unknown option `concurrency` (ignored) — did you mean `maxConcurrent`?',
      'bulkhead(): unknown option `highWater` (ignored) — did you mean `maxQueue`? (a call beyond it is refused with `queue-full`)',
      'bulkhead(): unknown option `classes.critical.weight` (ignored)',
      'bulkhead(): unknown option `perKey.max` (ignored)',
    ]);
    expect(warnings.spy.mock.calls[0]?.[1]).toEqual({
      type: 'BreakwaterWarning',
      code: 'BREAKWATER_UNKNOWN_OPTION',
    });
  });

  it('adaptive() and the stores know their options, and warn about others', () => {
    const adaptiveOptions: Required<AdaptiveOptions> = {
      algorithm: 'aimd',
      min: 1,
      max: 10,
      initial: 5,
      backoffRatio: 0.9,
      latencyThresholdMs: 100,
      tolerance: 1.5,
      smoothing: 0.2,
      shortWindow: 10,
      longWindow: 500,
    };
    expect(Object.keys(adaptiveOptions).sort()).toEqual(Object.keys(ADAPTIVE_OPTIONS).sort());
    adaptive(adaptiveOptions);
    const memory: Required<MemoryStoreOptions> = { clock };
    expect(Object.keys(memory)).toEqual(Object.keys(MEMORY_STORE_OPTIONS));
    memoryStore(memory);
    const redisOptions: Required<RedisStoreOptions> = {
      client: redis,
      subscriber: false,
      prefix: 'p',
    };
    expect(Object.keys(redisOptions).sort()).toEqual(Object.keys(REDIS_STORE_OPTIONS).sort());
    void redisStore(redisOptions).close();
    const dynamoOptions: Required<DynamoStoreOptions> = {
      client: dynamo,
      tableName: 't',
      prefix: 'p',
      pollIntervalMs: 100,
      maxAttempts: 3,
      clock,
    };
    expect(Object.keys(dynamoOptions).sort()).toEqual(Object.keys(DYNAMO_STORE_OPTIONS).sort());
    void dynamoStore(dynamoOptions).close();
    expect(warned()).toEqual([]);

    adaptive({ minLimit: 2 } as AdaptiveOptions);
    memoryStore({ ttl: 5 } as MemoryStoreOptions);
    void redisStore({
      client: redis,
      subscriber: false,
      keyPrefix: 'x',
    } as RedisStoreOptions).close();
    void dynamoStore({ client: dynamo, tableName: 't', table: 't' } as DynamoStoreOptions).close();
    expect(warned()).toEqual([
      'adaptive(): unknown option `minLimit` (ignored)',
      'memoryStore(): unknown option `ttl` (ignored)',
      'redisStore(): unknown option `keyPrefix` (ignored) — did you mean `prefix`?',
      'dynamoStore(): unknown option `table` (ignored)',
    ]);
  });
});
