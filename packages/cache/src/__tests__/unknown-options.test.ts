/**
 * Every factory of the package warns once per unknown option (core's `warnUnknownOptions`, code
 * `BREAKWATER_UNKNOWN_OPTION`), in the cache's nested option bags too, names what replaces
 * bentocache's and cache-manager's options, and stays silent for every option it knows: each
 * factory is built below with all of them, so the known-key lists are checked against what it
 * accepts.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fakeClock, spyOnProcessWarnings } from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { dynamoStore, dynamoWriteBehindQueue } from '../dynamodb.js';
import {
  type Cache,
  type CacheOptions,
  cache,
  defaultCodec,
  type L1Options,
  type LeaseOptions,
  type MemoryStoreOptions,
  type MemoryWriteBehindQueueOptions,
  memoryStore,
  memoryWriteBehindQueue,
  type WrapOptions,
  type WriteBehind,
  type WriteBehindOptions,
  writeBehind,
} from '../index.js';
import {
  CACHE_OPTIONS,
  DYNAMO_STORE_OPTIONS,
  DYNAMO_WRITE_BEHIND_QUEUE_OPTIONS,
  L1_OPTIONS,
  LEASE_OPTIONS,
  MEMORY_STORE_OPTIONS,
  MEMORY_WRITE_BEHIND_QUEUE_OPTIONS,
  REDIS_STORE_OPTIONS,
  REDIS_WRITE_BEHIND_QUEUE_OPTIONS,
  WRAP_OPTIONS,
  WRITE_BEHIND_OPTIONS,
} from '../known-options.js';
import { redisStore, redisWriteBehindQueue } from '../redis.js';
import type { DynamoStoreOptions } from '../stores/dynamodb.js';
import type { RedisStoreOptions } from '../stores/redis.js';
import type { DynamoWriteBehindQueueOptions } from '../write-behind/dynamodb-queue.js';
import type { RedisWriteBehindQueueOptions } from '../write-behind/redis-queue.js';

const redis = new Redis({ lazyConnect: true });
const dynamo = new DynamoDBClient({
  region: 'local',
  endpoint: 'http://127.0.0.1:9',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
});
const opened: (Cache | WriteBehind<unknown>)[] = [];
afterAll(async () => {
  await Promise.all(opened.map((each) => each.close()));
  redis.disconnect();
  dynamo.destroy();
});

const warnings = spyOnProcessWarnings();
const warned = warnings.messages;

function open<T extends Cache | WriteBehind<unknown>>(made: T): T {
  opened.push(made);
  return made;
}

const clock = fakeClock();
const l1 = {
  maxEntries: 100,
  maxBytes: 1_000_000,
  maxStaleMs: 1_000,
} satisfies Required<L1Options>;
const lease = { ttlMs: 1_000 } satisfies Required<LeaseOptions>;

/** `cache()` with every option, nested ones included (none can be left out). */
const everyCacheOption = {
  name: 'every-option',
  store: memoryStore(),
  l1,
  ttlMs: 60_000,
  jitter: 0.1,
  staleMs: 1_000,
  graceMs: 1_000,
  graceBackoffMs: 100,
  beta: 1,
  negativeTtlMs: 100,
  softTimeoutMs: 100,
  hardTimeoutMs: 1_000,
  codec: defaultCodec,
  storeDeadlineMs: 100,
  onStoreError: 'local',
  storeFailureThreshold: 2,
  storeProbeIntervalMs: 100,
  lease,
  clock,
  random: Math.random,
} satisfies Required<CacheOptions>;

/** `cache.wrap()` with every option, `signal` included (the type leaves it out; calls use it). */
const everyWrapOption = {
  key: (id: string) => id,
  tags: ['t'],
  signal: new AbortController().signal,
  ttlMs: 1_000,
  staleMs: 100,
  graceMs: 100,
  negativeTtlMs: 100,
  softTimeoutMs: 100,
  hardTimeoutMs: 1_000,
} satisfies Required<WrapOptions<[string]>> & { signal: AbortSignal };

const persist = async () => {};

/** Each store and queue factory, and `writeBehind()`, with every option it knows. */
const everyOption = {
  memoryStore: { maxEntries: 10, clock } satisfies Required<MemoryStoreOptions>,
  redisStore: {
    client: redis,
    subscriber: false,
    prefix: 'bw',
  } satisfies Required<RedisStoreOptions>,
  dynamoStore: {
    client: dynamo,
    tableName: 't',
    prefix: 'bw',
    clock,
  } satisfies Required<DynamoStoreOptions>,
  memoryWriteBehindQueue: { clock } satisfies Required<MemoryWriteBehindQueueOptions>,
  redisWriteBehindQueue: {
    client: redis,
    prefix: 'bw',
    group: 'g',
    idleConsumerMs: 60_000,
    durability: 'wait',
    waitReplicas: 1,
    waitTimeoutMs: 100,
  } satisfies Required<RedisWriteBehindQueueOptions>,
  dynamoWriteBehindQueue: {
    client: dynamo,
    tableName: 't',
    prefix: 'bw',
    clock,
    maxConflictAttempts: 2,
    versionRetentionMs: 60_000,
  } satisfies Required<DynamoWriteBehindQueueOptions>,
  writeBehind: {
    name: 'every-option',
    persist,
    queue: memoryWriteBehindQueue(),
    cache: open(cache({ name: 'written-through', store: memoryStore() })),
    codec: defaultCodec,
    batchSize: 10,
    flushIntervalMs: 100,
    maxAttempts: 2,
    retryDelayMs: 10,
    maxRetryDelayMs: 100,
    maxPending: 100,
    onBacklog: 'wait',
    maxWaitMs: 100,
    claimIdleMs: 1_000,
    persistTimeoutMs: 1_000,
    storeDeadlineMs: 100,
    storeFailureThreshold: 2,
    storeProbeIntervalMs: 100,
    pinTtlMs: 1_000,
    deadLetter: 'stream',
    flusher: false,
    consumer: 'c',
    clock,
    random: Math.random,
  } satisfies Required<WriteBehindOptions<unknown>>,
};

type Factory = (options: never) => unknown;
const factories: Record<keyof typeof everyOption, [Factory, Record<string, true>, string]> = {
  memoryStore: [memoryStore, MEMORY_STORE_OPTIONS, 'memoryStore() (@breakwater/cache)'],
  redisStore: [redisStore, REDIS_STORE_OPTIONS, 'redisStore() (@breakwater/cache)'],
  dynamoStore: [dynamoStore, DYNAMO_STORE_OPTIONS, 'dynamoStore() (@breakwater/cache)'],
  memoryWriteBehindQueue: [
    memoryWriteBehindQueue,
    MEMORY_WRITE_BEHIND_QUEUE_OPTIONS,
    'memoryWriteBehindQueue()',
  ],
  redisWriteBehindQueue: [
    redisWriteBehindQueue,
    REDIS_WRITE_BEHIND_QUEUE_OPTIONS,
    'redisWriteBehindQueue()',
  ],
  dynamoWriteBehindQueue: [
    dynamoWriteBehindQueue,
    DYNAMO_WRITE_BEHIND_QUEUE_OPTIONS,
    'dynamoWriteBehindQueue()',
  ],
  writeBehind: [
    (options: WriteBehindOptions<unknown>) => open(writeBehind(options)),
    WRITE_BEHIND_OPTIONS,
    'writeBehind()',
  ],
};
const names = Object.keys(factories) as (keyof typeof everyOption)[];

describe('unknown options', () => {
  it('cache() and cache.wrap() know every option they take, nested ones included, and warn for none', () => {
    expect(Object.keys(everyCacheOption).sort()).toEqual(Object.keys(CACHE_OPTIONS).sort());
    expect(Object.keys(l1).sort()).toEqual(Object.keys(L1_OPTIONS).sort());
    expect(Object.keys(lease).sort()).toEqual(Object.keys(LEASE_OPTIONS).sort());
    expect(Object.keys(everyWrapOption).sort()).toEqual(Object.keys(WRAP_OPTIONS).sort());
    const c = open(cache(everyCacheOption));
    c.wrap((id: string) => id, everyWrapOption);
    open(cache({ name: 'no-l1-no-lease', store: memoryStore(), l1: false, lease: false }));
    expect(warned()).toEqual([]);
  });

  it.each(names)('%s() knows every option it takes and warns for none of them', (name) => {
    const [factory, known] = factories[name];
    const options = everyOption[name];
    expect(Object.keys(options).sort()).toEqual(Object.keys(known).sort());
    factory(options as never);
    expect(warned()).toEqual([]);
  });

  it.each(names)('%s() warns once per unknown option, however often it is called', (name) => {
    const [factory, , label] = factories[name];
    for (let i = 0; i < 3; i++) factory({ ...everyOption[name], mystery: true } as never);
    expect(warned()).toEqual([`${label}: unknown option \`mystery\` (ignored)`]);
    expect(warnings.spy.mock.calls[0]?.[1]).toEqual({
      type: 'BreakwaterWarning',
      code: 'BREAKWATER_UNKNOWN_OPTION',
    });
  });

  it('cache() warns once per misspelt or foreign option, nested ones with their path', () => {
    for (let i = 0; i < 3; i++) {
      const c = open(
        cache({
          name: 'c',
          ttlMS: 1_000,
          ttl: '1h',
          l1: { maxEntries: 10, maxItems: 10 },
          lease: { ttl: 1_000 },
        } as unknown as CacheOptions),
      );
      c.wrap((id: string) => id, { key: (id) => id, ttl: '1h' } as WrapOptions<[string]>);
    }
    expect(warned()).toEqual([
      'cache(): unknown option `ttlMS` (ignored)',
      "cache(): unknown option `ttl` (ignored) — did you mean `ttlMs`? (a number of milliseconds, never a string: bentocache's `'1h'` is `ttlMs: 3_600_000`; without `ttlMs` entries never expire)",
      'cache(): unknown option `l1.maxItems` (ignored) — did you mean `maxEntries`?',
      'cache(): unknown option `lease.ttl` (ignored)',
      "cache.wrap(): unknown option `ttl` (ignored) — did you mean `ttlMs`? (a number of milliseconds, never a string: bentocache's `'1h'` is `ttlMs: 3_600_000`; without `ttlMs` entries never expire)",
    ]);
    for (const [, options] of warnings.spy.mock.calls) {
      expect(options).toEqual({ type: 'BreakwaterWarning', code: 'BREAKWATER_UNKNOWN_OPTION' });
    }
  });

  it("names what to use instead of bentocache's and cache-manager's options", () => {
    open(
      cache({
        name: 'migrated',
        grace: '6h',
        timeout: 50,
        suppressL2Errors: true,
        serializer: {},
        refreshThreshold: 1_000,
      } as unknown as CacheOptions),
    );
    redisStore({ client: redis, subscriber: false, connection: redis } as RedisStoreOptions);
    expect(warned()).toEqual([
      'cache(): unknown option `grace` (ignored) — did you mean `graceMs`? (a number of milliseconds)',
      "cache(): unknown option `timeout` (ignored) — did you mean `softTimeoutMs`? (bentocache's soft `timeout`, in milliseconds; `timeout: 0` with `grace` is `staleMs`)",
      "cache(): unknown option `suppressL2Errors` (ignored) — did you mean `onStoreError`? (`'local'` by default, with `storeDeadlineMs`, `storeFailureThreshold` and `storeProbeIntervalMs`)",
      'cache(): unknown option `serializer` (ignored) — did you mean `codec`? (the default codec already handles Date, BigInt, Map and Set)',
      'cache(): unknown option `refreshThreshold` (ignored) — did you mean `staleMs`? (a background refresh after expiry; XFetch (`beta`) refreshes hot keys before it)',
      'redisStore() (@breakwater/cache): unknown option `connection` (ignored) — did you mean `client`? (your ioredis, iovalkey or node-redis client; the store opens the connection of its invalidation bus itself)',
    ]);
  });

  it('still refuses the retired `storeBreaker` rather than warning that it is ignored', () => {
    expect(() => cache({ name: 'retired', storeBreaker: {} } as unknown as CacheOptions)).toThrow(
      /Expected no `storeBreaker`/,
    );
    expect(warned()).toEqual([]);
  });
});
