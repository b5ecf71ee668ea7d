import { STORE_DEFAULTS } from '@breakwater/core';
import { describe, expect, it } from 'vitest';
import { circuitBreaker } from '../circuit-breaker.js';
import { DEFAULTS, resolveOptions } from '../options.js';
import { redisStore } from '../stores/redis.js';

describe('option validation', () => {
  it.each([
    [{ failureRatio: 1.5 }, 'RangeError: Expected `failureRatio` in (0, 1], got 1.5'],
    [{ failureRatio: 0 }, 'RangeError: Expected `failureRatio` in (0, 1], got 0'],
    [
      { minimumThroughput: 0 },
      'RangeError: Expected `minimumThroughput` to be an integer >= 1, got 0',
    ],
    [
      { breakDurationMs: -5 },
      'RangeError: Expected `breakDurationMs` to be a finite number > 0, got -5',
    ],
    [
      { breakDurationMs: () => 0 },
      'RangeError: Expected `breakDurationMs({ consecutiveOpens: 1 })` to be a finite number > 0, got 0',
    ],
    [{ timeoutMs: 0 }, 'RangeError: Expected `timeoutMs` to be a finite number > 0, got 0'],
    [
      { slowCall: { durationMs: 100, ratio: 2 } },
      'RangeError: Expected `slowCall.ratio` in (0, 1], got 2',
    ],
    [
      { slowCall: { durationMs: 0, ratio: 0.5 } },
      'RangeError: Expected `slowCall.durationMs` to be a finite number > 0, got 0',
    ],
    [
      { consecutiveFailures: 1.5 },
      'RangeError: Expected `consecutiveFailures` to be an integer >= 1, got 1.5',
    ],
    [
      { minimumThroughput: 10, window: { kind: 'count', size: 5 } },
      'RangeError: Expected `window.size` to be >= `minimumThroughput` (10), got 5',
    ],
    [
      { window: { kind: 'sliding' } },
      "TypeError: Expected `window.kind` to be one of 'count' | 'time', got \"sliding\"",
    ],
    [
      { window: { kind: 'time', durationMs: -1 } },
      'RangeError: Expected `window.durationMs` to be a finite number > 0, got -1',
    ],
    [
      { halfOpen: { maxCalls: 0 } },
      'RangeError: Expected `halfOpen.maxCalls` to be an integer >= 1, got 0',
    ],
    [
      { halfOpen: { maxDurationMs: Number.NaN } },
      'RangeError: Expected `halfOpen.maxDurationMs` to be a finite number > 0, got NaN',
    ],
    [
      { openQuorum: { replicas: 0 } },
      'RangeError: Expected `openQuorum.replicas` to be an integer >= 1, got 0',
    ],
    [
      { syncIntervalMs: -1 },
      'RangeError: Expected `syncIntervalMs` to be a finite number >= 0, got -1',
    ],
    [
      { consistency: 'eventually' },
      "TypeError: Expected `consistency` to be one of 'eventual' | 'strict', got \"eventually\"",
    ],
    [
      { onStoreError: 'ignore' },
      "TypeError: Expected `onStoreError` to be one of 'fail-open' | 'fail-closed' | 'local', got \"ignore\"",
    ],
    [
      { storeDeadlineMs: 0 },
      'RangeError: Expected `storeDeadlineMs` to be a finite number > 0, got 0',
    ],
    [
      { storeDeadlineMs: 3_000_000_000 },
      'RangeError: Expected `storeDeadlineMs` to be at most 2147483647, got 3000000000',
    ],
    [
      { storeFailureThreshold: 0 },
      'RangeError: Expected `storeFailureThreshold` to be an integer >= 1, got 0',
    ],
    [
      { storeFailureThreshold: 1.5 },
      'RangeError: Expected `storeFailureThreshold` to be an integer >= 1, got 1.5',
    ],
    [
      { storeProbeIntervalMs: Number.POSITIVE_INFINITY },
      'RangeError: Expected `storeProbeIntervalMs` to be a finite number > 0, got Infinity',
    ],
    [
      { store: { get: () => 1 } },
      'TypeError: Expected `store` to be a circuit-breaker store (memoryStore(), redisStore() or dynamoStore()), got {}',
    ],
    [{ name: '' }, 'TypeError: Expected `name` to be a non-empty string, got ""'],
    [{ shouldHandle: 'all' }, 'TypeError: Expected `shouldHandle` to be a function, got "all"'],
    [{ fallback: 'x' }, 'TypeError: Expected `fallback` to be an object, got "x"'],
    [
      { durationSampleEvery: -1 },
      'RangeError: Expected `durationSampleEvery` to be an integer >= 0, got -1',
    ],
    [
      { durationSampleEvery: 2.5 },
      'RangeError: Expected `durationSampleEvery` to be an integer >= 0, got 2.5',
    ],
  ])('%j throws %s', (options, message) => {
    expect(() => circuitBreaker(options as never)).toThrow(
      message.slice(message.indexOf(': ') + 2),
    );
    try {
      circuitBreaker(options as never);
    } catch (error) {
      expect(`${(error as Error).name}: ${(error as Error).message}`).toBe(message);
    }
  });

  it('applies the documented defaults', () => {
    const resolved = resolveOptions(undefined);
    expect(resolved.name).toBe('circuit-breaker');
    expect(resolved.store.kind).toBe('memory');
    expect(resolved.syncIntervalMs).toBe(0);
    expect(resolved.onStoreError).toBe('local');
    expect(resolved.durationSampleEvery).toBe(64);
    // The store settings every pattern shares (core's STORE_DEFAULTS), onStoreError the breaker's.
    expect(resolved.storeSettings).toEqual({
      onStoreError: 'local',
      deadlineMs: 500,
      failureThreshold: 3,
      probeIntervalMs: 1000,
    });
    expect(DEFAULTS).toMatchObject({
      onStoreError: 'local',
      storeDeadlineMs: STORE_DEFAULTS.deadlineMs,
      storeFailureThreshold: STORE_DEFAULTS.failureThreshold,
      storeProbeIntervalMs: STORE_DEFAULTS.probeIntervalMs,
    });
    expect(resolved.rules).toMatchObject({
      windowKind: 'time',
      windowSize: 10,
      bucketMs: 1000,
      minimumThroughput: 10,
      failureRatio: 0.5,
      slowCallRatio: 0,
      consecutiveFailures: 0,
      breakDurationsMs: [10_000],
      halfOpenMaxCalls: 1,
      halfOpenSuccessThreshold: 1,
      halfOpenMaxDurationMs: 60_000,
      probeLeaseMs: 30_000,
      quorumReplicas: 1,
      quorumWindowMs: 10_000,
    });
  });

  it('a probe lease defaults to the call timeout when that is shorter', () => {
    expect(resolveOptions({ timeoutMs: 2000 }).rules.probeLeaseMs).toBe(2000);
  });

  it('samples a break-duration function for 16 consecutive openings', () => {
    const rules = resolveOptions({
      breakDurationMs: ({ consecutiveOpens }) => consecutiveOpens * 100,
    }).rules;
    expect(rules.breakDurationsMs).toHaveLength(16);
    expect(rules.breakDurationsMs[15]).toBe(1600);
  });
});

describe('redisStore() options', () => {
  it.each([
    [{}, '{}'],
    ['redis://localhost:6379', '"redis://localhost:6379"'],
  ])('a `client` of %j is refused, naming the option and the accepted clients', (client, shown) => {
    expect(() => redisStore({ client: client as never })).toThrow(
      new TypeError(
        'Expected `client` to be an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis ' +
          `client from \`createClient()\` or \`createCluster()\`, got ${shown}`,
      ),
    );
  });
});
