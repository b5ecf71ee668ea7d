/**
 * Every factory of the package warns once per unknown option (core's `warnUnknownOptions`, code
 * `BREAKWATER_UNKNOWN_OPTION`), in the breaker's nested option bags too, names what replaces
 * opossum's and cockatiel's options, and stays silent for every option it knows: each factory is
 * built below with all of them, so the known-key lists are checked against what it accepts.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fakeClock, spyOnProcessWarnings } from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { type CircuitBreaker, circuitBreaker, observedBreaker } from '../circuit-breaker.js';
import { dynamoStore } from '../dynamodb.js';
import {
  type CircuitBreakerOptions,
  type HalfOpenOptions,
  memoryStore,
  type OpenQuorumOptions,
  type SlowCallOptions,
  type WindowOptions,
} from '../index.js';
import {
  CIRCUIT_BREAKER_OPTIONS,
  COUNT_WINDOW_OPTIONS,
  DYNAMO_STORE_OPTIONS,
  HALF_OPEN_OPTIONS,
  OPEN_QUORUM_OPTIONS,
  REDIS_STORE_OPTIONS,
  SLOW_CALL_OPTIONS,
  TIME_WINDOW_OPTIONS,
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
const breakers: CircuitBreaker<unknown>[] = [];
afterAll(async () => {
  await Promise.all(breakers.map((b) => b.close()));
  redis.disconnect();
  dynamo.destroy();
});

const warnings = spyOnProcessWarnings();
const warned = warnings.messages;

function build(options: CircuitBreakerOptions<unknown>): void {
  breakers.push(circuitBreaker<unknown>(options));
}

const clock = fakeClock();
const countWindow = { kind: 'count', size: 20 } satisfies Required<
  Extract<WindowOptions, { kind: 'count' }>
>;
const timeWindow = { kind: 'time', durationMs: 10_000, buckets: 5 } satisfies Required<
  Extract<WindowOptions, { kind: 'time' }>
>;
const slowCall = { durationMs: 100, ratio: 0.5 } satisfies Required<SlowCallOptions>;
const halfOpen = {
  maxCalls: 2,
  successThreshold: 2,
  maxDurationMs: 5_000,
  probeLeaseMs: 1_000,
} satisfies Required<HalfOpenOptions>;
const openQuorum = { replicas: 2, windowMs: 5_000 } satisfies Required<OpenQuorumOptions>;

/** `circuitBreaker()` with every option, nested ones included (none can be left out). */
const everyBreakerOption = {
  name: 'every-option',
  store: memoryStore(),
  failureRatio: 0.5,
  minimumThroughput: 10,
  slowCall,
  consecutiveFailures: 3,
  window: timeWindow,
  breakDurationMs: 1_000,
  halfOpen,
  shouldHandle: ({ kind }) => kind === 'error',
  timeoutMs: 1_000,
  fallback: { value: 'fallback' },
  syncIntervalMs: 0,
  consistency: 'eventual',
  openQuorum,
  onStoreError: 'local',
  storeDeadlineMs: 100,
  storeFailureThreshold: 2,
  storeProbeIntervalMs: 100,
  initialState: circuitBreaker().toJSON(),
  clock,
  durationSampleEvery: 8,
} satisfies Required<CircuitBreakerOptions<unknown>>;

const everyStoreOption = {
  redisStore: {
    client: redis,
    prefix: 'bw',
    subscriber: false,
  } satisfies Required<RedisStoreOptions>,
  dynamoStore: {
    client: dynamo,
    tableName: 't',
    prefix: 'bw',
    maxAttempts: 2,
  } satisfies Required<DynamoStoreOptions>,
};

type StoreFactory = (options: never) => unknown;
const stores: Record<keyof typeof everyStoreOption, [StoreFactory, Record<string, true>]> = {
  redisStore: [redisStore, REDIS_STORE_OPTIONS],
  dynamoStore: [dynamoStore, DYNAMO_STORE_OPTIONS],
};

describe('unknown options', () => {
  it('circuitBreaker() knows every option it takes, nested ones included, and warns for none', () => {
    expect(Object.keys(everyBreakerOption).sort()).toEqual(
      Object.keys(CIRCUIT_BREAKER_OPTIONS).sort(),
    );
    expect(Object.keys(timeWindow).sort()).toEqual(Object.keys(TIME_WINDOW_OPTIONS).sort());
    expect(Object.keys(countWindow).sort()).toEqual(Object.keys(COUNT_WINDOW_OPTIONS).sort());
    expect(Object.keys(slowCall).sort()).toEqual(Object.keys(SLOW_CALL_OPTIONS).sort());
    expect(Object.keys(halfOpen).sort()).toEqual(Object.keys(HALF_OPEN_OPTIONS).sort());
    expect(Object.keys(openQuorum).sort()).toEqual(Object.keys(OPEN_QUORUM_OPTIONS).sort());
    build(everyBreakerOption);
    build({ ...everyBreakerOption, window: countWindow });
    expect(warned()).toEqual([]);
  });

  it.each(Object.keys(stores) as (keyof typeof everyStoreOption)[])(
    '%s() knows every option it takes and warns for none of them',
    (name) => {
      const [factory, known] = stores[name];
      const options = everyStoreOption[name];
      expect(Object.keys(options).sort()).toEqual(Object.keys(known).sort());
      factory(options as never);
      expect(warned()).toEqual([]);
    },
  );

  it.each(Object.keys(stores) as (keyof typeof everyStoreOption)[])(
    '%s() warns once per unknown option, however often it is called',
    (name) => {
      const [factory] = stores[name];
      for (let i = 0; i < 3; i++) factory({ ...everyStoreOption[name], mystery: true } as never);
      expect(warned()).toEqual([
        `${name}() (@breakwater/circuit-breaker): unknown option \`mystery\` (ignored)`,
      ]);
      expect(warnings.spy.mock.calls[0]?.[1]).toEqual({
        type: 'BreakwaterWarning',
        code: 'BREAKWATER_UNKNOWN_OPTION',
      });
    },
  );

  it('circuitBreaker() warns once per misspelt or foreign option, however often it is called', () => {
    for (let i = 0; i < 3; i++) {
      build({ name: 'b', failureRate: 0.5, resetTimeout: 30_000 } as CircuitBreakerOptions);
    }
    expect(warned()).toEqual([
      'circuitBreaker(): unknown option `failureRate` (ignored)',
      'circuitBreaker(): unknown option `resetTimeout` (ignored) — did you mean `breakDurationMs`?',
    ]);
    for (const [, options] of warnings.spy.mock.calls) {
      expect(options).toEqual({ type: 'BreakwaterWarning', code: 'BREAKWATER_UNKNOWN_OPTION' });
    }
  });

  it("names what to use instead of opossum's and cockatiel's options", () => {
    build({
      timeout: 3_000,
      errorThresholdPercentage: 50,
      volumeThreshold: 5,
      rollingCountTimeout: 10_000,
      capacity: 10,
      halfOpenAfter: 10_000,
      halfOpenSampling: { calls: 1, threshold: 0.5 },
    } as CircuitBreakerOptions);
    expect(warned()).toEqual([
      "circuitBreaker(): unknown option `timeout` (ignored) — did you mean `timeoutMs`? (opossum's `timeout` is on by default (10 s); `timeoutMs` is off unless set)",
      'circuitBreaker(): unknown option `errorThresholdPercentage` (ignored) — did you mean `failureRatio`? (a ratio in (0, 1], not a percentage: 50 becomes 0.5)',
      'circuitBreaker(): unknown option `volumeThreshold` (ignored) — did you mean `minimumThroughput`? (at least 1: no ratio opens the breaker before the window holds that many calls)',
      "circuitBreaker(): unknown option `rollingCountTimeout` (ignored) — did you mean `window: { kind: 'time', durationMs }`?",
      'circuitBreaker(): unknown option `capacity` (ignored) — a concurrency cap is `bulkhead({ maxConcurrent })` from `@breakwater/bulkhead`, composed with `pipeline()`',
      'circuitBreaker(): unknown option `halfOpenAfter` (ignored) — did you mean `breakDurationMs`? (milliseconds, or `({ consecutiveOpens }) => ms` for a backoff)',
      'circuitBreaker(): unknown option `halfOpenSampling` (ignored) — did you mean `halfOpen: { maxCalls, successThreshold }`? (any failed probe re-opens the breaker)',
    ]);
  });

  it('warns about unknown options of the nested bags, with their path, once each', () => {
    for (let i = 0; i < 2; i++) {
      build({
        window: { kind: 'count', size: 20, buckets: 4 },
        slowCall: { durationMs: 100, ratio: 0.5, threshold: 1 },
        halfOpen: { maxCall: 2 },
        openQuorum: { replicas: 1, window: 1_000 },
      } as unknown as CircuitBreakerOptions);
      build({ window: { kind: 'time', durationMs: 1_000, size: 10 } } as CircuitBreakerOptions);
    }
    expect(warned()).toEqual([
      "circuitBreaker(): unknown option `window.buckets` (ignored) — a count window has no buckets: use `{ kind: 'time', buckets }`",
      'circuitBreaker(): unknown option `slowCall.threshold` (ignored)',
      'circuitBreaker(): unknown option `halfOpen.maxCall` (ignored)',
      'circuitBreaker(): unknown option `openQuorum.window` (ignored)',
      "circuitBreaker(): unknown option `window.size` (ignored) — a time window has no size: use `{ kind: 'count', size }`",
    ]);
  });

  it('names shareState() for the options of the breaker the opossum bridge builds', async () => {
    const observed = observedBreaker({ name: 'bridged', resetTimeout: 1 } as CircuitBreakerOptions);
    await observed.close();
    expect(warned()).toEqual([
      'shareState(): unknown option `resetTimeout` (ignored) — did you mean `breakDurationMs`?',
    ]);
  });
});
