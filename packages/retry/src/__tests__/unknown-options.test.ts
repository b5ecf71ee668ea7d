/**
 * Every factory of the package warns once per unknown option (core's `warnUnknownOptions`, code
 * `BREAKWATER_UNKNOWN_OPTION`), names the replacement of p-retry's and cockatiel's options, and
 * stays silent for every option it knows: each is built below with all of them, so the known-key
 * lists are checked against what the factories accept.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fakeClock, spyOnProcessWarnings } from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { dynamoBudgetStore } from '../dynamodb.js';
import {
  type ConstantBackoffOptions,
  constant,
  type ExponentialBackoffOptions,
  exponential,
  type HedgeOptions,
  hedge,
  type LinearBackoffOptions,
  linear,
  type MemoryDeadLettersOptions,
  memoryBudgetStore,
  memoryDeadLetters,
  type RetryBudgetOptions,
  type RetryOptions,
  retry,
  retryBudget,
} from '../index.js';
import {
  CONSTANT_BACKOFF_OPTIONS,
  DYNAMO_BUDGET_STORE_OPTIONS,
  EXPONENTIAL_BACKOFF_OPTIONS,
  HEDGE_OPTIONS,
  LINEAR_BACKOFF_OPTIONS,
  MEMORY_BUDGET_STORE_OPTIONS,
  MEMORY_DEAD_LETTERS_OPTIONS,
  REDIS_BUDGET_STORE_OPTIONS,
  REDIS_DEAD_LETTERS_OPTIONS,
  RETRY_BUDGET_OPTIONS,
  RETRY_OPTIONS,
} from '../known-options.js';
import { redisBudgetStore, redisDeadLetters } from '../redis.js';
import type { DynamoBudgetStoreOptions } from '../stores/dynamodb.js';
import type { RedisBudgetStoreOptions } from '../stores/redis.js';
import type { RedisDeadLettersOptions } from '../stores/redis-dead-letters.js';

const redis = new Redis({ lazyConnect: true });
const dynamo = new DynamoDBClient({
  region: 'local',
  endpoint: 'http://127.0.0.1:9',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
});
afterAll(() => {
  redis.disconnect();
  dynamo.destroy();
});

const warnings = spyOnProcessWarnings();
const warned = warnings.messages;

const clock = fakeClock();
const budget = retryBudget();

/** Each factory with every option it knows (typed `Required<…>`: none can be left out). */
const everyOption = {
  retry: {
    name: 'r',
    maxAttempts: 4,
    backoff: constant({ delayMs: 1 }),
    maxElapsedMs: 1_000,
    maxHintMs: 100,
    shouldRetry: ({ ok }) => !ok,
    retryAfter: () => undefined,
    budget,
    deadLetter: () => {},
    clock,
  } satisfies Required<RetryOptions>,
  constant: {
    delayMs: 1,
    jitter: 'full',
    random: Math.random,
  } satisfies Required<ConstantBackoffOptions>,
  linear: {
    initialMs: 1,
    stepMs: 1,
    maxMs: 10,
    jitter: 'equal',
    random: Math.random,
  } satisfies Required<LinearBackoffOptions>,
  exponential: {
    initialMs: 1,
    factor: 2,
    maxMs: 10,
    jitter: 'decorrelated',
    random: Math.random,
  } satisfies Required<ExponentialBackoffOptions>,
  retryBudget: {
    name: 'b',
    ratio: 0.5,
    minPerSecond: 1,
    windowMs: 1_000,
    slots: 10,
    store: memoryBudgetStore(),
    flushIntervalMs: 0,
    onStoreError: 'fail-open',
    storeDeadlineMs: 100,
    storeFailureThreshold: 2,
    storeProbeIntervalMs: 100,
    clock,
  } satisfies Required<RetryBudgetOptions>,
  hedge: { delayMs: 1, maxHedges: 2, name: 'h', clock } satisfies Required<HedgeOptions>,
  memoryBudgetStore: { clock },
  redisBudgetStore: { client: redis, prefix: 'bw' } satisfies Required<RedisBudgetStoreOptions>,
  dynamoBudgetStore: {
    client: dynamo,
    tableName: 't',
    prefix: 'bw',
    maxAttempts: 2,
    clock,
  } satisfies Required<DynamoBudgetStoreOptions>,
  redisDeadLetters: {
    client: redis,
    stream: 's',
    prefix: 'bw',
    maxLength: 10,
    codec: { encode: JSON.stringify, decode: JSON.parse },
    claimMs: 1000,
    storeDeadlineMs: 100,
    storeFailureThreshold: 2,
    storeProbeIntervalMs: 100,
  } satisfies Required<RedisDeadLettersOptions>,
  memoryDeadLetters: {
    stream: 's',
    codec: { encode: JSON.stringify, decode: JSON.parse },
    claimMs: 1000,
    maxEntries: 10,
    clock: fakeClock(),
  } satisfies Required<MemoryDeadLettersOptions>,
};

type Factory = (options: never) => unknown;
const factories: Record<keyof typeof everyOption, [Factory, Record<string, true>]> = {
  retry: [retry, RETRY_OPTIONS],
  constant: [constant, CONSTANT_BACKOFF_OPTIONS],
  linear: [linear, LINEAR_BACKOFF_OPTIONS],
  exponential: [exponential, EXPONENTIAL_BACKOFF_OPTIONS],
  retryBudget: [retryBudget, RETRY_BUDGET_OPTIONS],
  hedge: [hedge, HEDGE_OPTIONS],
  memoryBudgetStore: [memoryBudgetStore, MEMORY_BUDGET_STORE_OPTIONS],
  redisBudgetStore: [redisBudgetStore, REDIS_BUDGET_STORE_OPTIONS],
  dynamoBudgetStore: [dynamoBudgetStore, DYNAMO_BUDGET_STORE_OPTIONS],
  redisDeadLetters: [redisDeadLetters, REDIS_DEAD_LETTERS_OPTIONS],
  memoryDeadLetters: [memoryDeadLetters, MEMORY_DEAD_LETTERS_OPTIONS],
};

describe('unknown options', () => {
  it.each(Object.keys(factories) as (keyof typeof everyOption)[])(
    '%s() knows every option it takes and warns for none of them',
    (name) => {
      const [factory, known] = factories[name];
      const options = everyOption[name];
      expect(Object.keys(options).sort()).toEqual(Object.keys(known).sort());
      factory(options as never);
      expect(warned()).toEqual([]);
    },
  );

  it.each(Object.keys(factories) as (keyof typeof everyOption)[])(
    '%s() warns once per unknown option, however often it is called',
    (name) => {
      const [factory] = factories[name];
      for (let i = 0; i < 3; i++) factory({ ...everyOption[name], mystery: true } as never);
      expect(warned()).toEqual([`${name}(): unknown option \`mystery\` (ignored)`]);
      expect(warnings.spy.mock.calls[0]?.[1]).toEqual({
        type: 'BreakwaterWarning',
        code: 'BREAKWATER_UNKNOWN_OPTION',
      });
    },
  );

  it("names what to use instead of p-retry's and cockatiel's options", () => {
    retry({ retries: 3, minTimeout: 100, maxRetryTime: 1_000, unref: true } as RetryOptions);
    exponential({ initialDelay: 128, maxDelay: 30_000, exponent: 2 } as ExponentialBackoffOptions);
    expect(warned()).toEqual([
      "retry(): unknown option `retries` (ignored) — did you mean `maxAttempts`? (p-retry's `retries` counts retries; `maxAttempts` counts attempts: retries + 1)",
      'retry(): unknown option `minTimeout` (ignored) — did you mean `backoff: exponential({ initialMs })`?',
      'retry(): unknown option `maxRetryTime` (ignored) — did you mean `maxElapsedMs`? (it stops before a wait that would pass it)',
      "retry(): unknown option `unref` (ignored) — not needed: waits use the clock and end with the call's signal",
      'exponential(): unknown option `initialDelay` (ignored) — did you mean `initialMs`?',
      'exponential(): unknown option `maxDelay` (ignored) — did you mean `maxMs`?',
      'exponential(): unknown option `exponent` (ignored) — did you mean `factor`?',
    ]);
  });
});
