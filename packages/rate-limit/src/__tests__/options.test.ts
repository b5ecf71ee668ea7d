import { STORE_DEFAULTS } from '@breakwater/core';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, rateLimiter } from '../index.js';
import { redisStore } from '../redis.js';

const base = { name: 'v', limit: 10, intervalMs: 1000 };

describe('option validation', () => {
  it.each([
    [{ ...base, limit: -1 }, RangeError, 'Expected `limit` to be a finite number > 0, got -1'],
    [{ ...base, limit: 0 }, RangeError, 'Expected `limit` to be a finite number > 0, got 0'],
    [
      { ...base, limit: Number.POSITIVE_INFINITY },
      RangeError,
      'Expected `limit` to be a finite number > 0, got Infinity',
    ],
    [
      { ...base, intervalMs: Number.NaN },
      RangeError,
      'Expected `intervalMs` to be a finite number > 0, got NaN',
    ],
    [
      { ...base, intervalMs: '1s' },
      TypeError,
      'Expected `intervalMs` to be a finite number > 0, got "1s"',
    ],
    [{ ...base, burst: -1 }, RangeError, 'Expected `burst` to be a finite number >= 0, got -1'],
    [{ ...base, name: '' }, TypeError, 'Expected `name` to be a non-empty string, got ""'],
    [
      { ...base, algorithm: 'leaky' },
      TypeError,
      "Expected `algorithm` to be one of 'gcra' | 'token-bucket' | 'sliding-window' | 'fixed-window', got \"leaky\"",
    ],
    [
      {
        name: 'v',
        limits: [
          { limit: 1, intervalMs: 1000 },
          { limit: 5, intervalMs: -2 },
        ],
      },
      RangeError,
      'Expected `limits[1].intervalMs` to be a finite number > 0, got -2',
    ],
    [
      { ...base, limits: [{ limit: 1, intervalMs: 1 }] },
      TypeError,
      'Expected either `limit` + `intervalMs` or `limits`, got both',
    ],
    [{ name: 'v', limits: [] }, TypeError, 'Expected `limits` to be a non-empty array'],
    [
      { ...base, onStoreError: 'ignore' },
      TypeError,
      "Expected `onStoreError` to be one of 'fail-open' | 'fail-closed' | 'local', got \"ignore\"",
    ],
    [{ ...base, localShare: 1.5 }, RangeError, 'Expected `localShare` in (0, 1], got 1.5'],
    [{ ...base, localShare: 0 }, RangeError, 'Expected `localShare` in (0, 1], got 0'],
    [
      { ...base, replicaRenewIntervalMs: 0 },
      RangeError,
      'Expected `replicaRenewIntervalMs` to be a finite number > 0, got 0',
    ],
    [
      { ...base, replicaTtlMs: -5 },
      RangeError,
      'Expected `replicaTtlMs` to be a finite number > 0, got -5',
    ],
    [
      { ...base, replicaRenewIntervalMs: 2000, replicaTtlMs: 1500 },
      RangeError,
      'Expected `replicaTtlMs` to be longer than `replicaRenewIntervalMs` (2000), got 1500',
    ],
    [
      { ...base, replicaTtlMs: 5000 },
      RangeError,
      'Expected `replicaTtlMs` to be longer than `replicaRenewIntervalMs` (5000), got 5000',
    ],
    [
      { ...base, storeDeadlineMs: 0 },
      RangeError,
      'Expected `storeDeadlineMs` to be a finite number > 0, got 0',
    ],
    [
      { ...base, storeDeadlineMs: 2 ** 31 },
      RangeError,
      'Expected `storeDeadlineMs` to be at most 2147483647, got 2147483648',
    ],
    [
      { ...base, storeFailureThreshold: 0 },
      RangeError,
      'Expected `storeFailureThreshold` to be an integer >= 1, got 0',
    ],
    [
      { ...base, storeProbeIntervalMs: Number.NaN },
      RangeError,
      'Expected `storeProbeIntervalMs` to be a finite number > 0, got NaN',
    ],
    [
      { ...base, store: { kind: 'old', open: () => ({}) } },
      TypeError,
      'Expected `store` to be a rate-limit store (memoryStore(), redisStore(), dynamoStore())',
    ],
    [
      { ...base, denyCache: { maxKeys: 0 } },
      RangeError,
      'Expected `denyCache.maxKeys` to be an integer >= 1, got 0',
    ],
    [
      { ...base, reserve: { batch: 1.5 } },
      RangeError,
      'Expected `reserve.batch` to be an integer >= 1, got 1.5',
    ],
    [
      { ...base, reserve: { batch: 5 } },
      RangeError,
      'Expected `reserve.batch` to be at most 1 (the most the limits admit at once; raise `burst`), got 5',
    ],
    [
      { ...base, blockDurationMs: -1 },
      RangeError,
      'Expected `blockDurationMs` to be a finite number >= 0, got -1',
    ],
    [
      { ...base, blockDurationMs: 2e12 },
      RangeError,
      'Expected `blockDurationMs` to be at most 1000000000000 (about 31 years), got 2000000000000',
    ],
    [
      { ...base, blockDurationMs: '60' },
      TypeError,
      'Expected `blockDurationMs` to be a finite number >= 0, got "60"',
    ],
  ])('rejects %j', (options, type, message) => {
    expect(() => rateLimiter(options as never)).toThrow(type);
    expect(() => rateLimiter(options as never)).toThrow(message);
  });

  it('takes the store defaults every pattern shares, and limits locally by the fleet', () => {
    expect(DEFAULTS).toMatchObject({
      onStoreError: 'local',
      replicaRenewIntervalMs: 5000,
      replicaTtlMs: 15_000,
      storeDeadlineMs: STORE_DEFAULTS.deadlineMs,
      storeFailureThreshold: STORE_DEFAULTS.failureThreshold,
      storeProbeIntervalMs: STORE_DEFAULTS.probeIntervalMs,
    });
  });

  it('rejects bad per-call input with named errors', async () => {
    const limiter = rateLimiter({ ...base, burst: 4 });
    await expect(limiter.limit('')).rejects.toThrow(
      'Expected `key` to be a non-empty string, got ""',
    );
    await expect(limiter.limit(42 as never)).rejects.toThrow(TypeError);
    await expect(limiter.limit('k', { cost: 0 })).rejects.toThrow(
      'Expected `cost` to be a finite number > 0, got 0',
    );
    await expect(limiter.limit('k', { cost: -1 })).rejects.toThrow(RangeError);
    await expect(limiter.limit('k', { cost: 6 })).rejects.toThrow(
      'Expected `cost` to be at most 5 (the most the limits can ever admit at once), got 6',
    );
    await expect(limiter.acquire('k', { maxWaitMs: -1 })).rejects.toThrow(
      'Expected `maxWaitMs` to be a finite number >= 0, got -1',
    );
    await expect(limiter.peek('')).rejects.toThrow(TypeError);
    await expect(limiter.reset('')).rejects.toThrow(TypeError);
    await expect(limiter.penalty('k', -2)).rejects.toThrow(
      'Expected `points` to be a finite number > 0, got -2',
    );
    await expect(limiter.reward('k', 'x' as never)).rejects.toThrow(TypeError);
    await expect(limiter.execute(() => 1, { key: '' })).rejects.toThrow(TypeError);
  });

  it('setLimits() validates like rateLimiter() and keeps costs within the new limits', async () => {
    const limiter = rateLimiter({ name: 'set', limit: 10, intervalMs: 1000, burst: 4 });
    expect(() => limiter.setLimits({ limit: { perReplica: 2 }, intervalMs: 1000 })).toThrow(
      /without `\{ perReplica \}`: rate limiter "set" counts no fleet/,
    );
    expect(() => limiter.setLimits(null as never)).toThrow(TypeError);
    expect(() =>
      limiter.setLimits({ limit: 1, intervalMs: 10, algorithm: 'leaky' as never }),
    ).toThrow(/`algorithm`/);
    limiter.setLimits({ limit: 1, intervalMs: 1000, burst: 1 });
    // The largest cost follows: 2 fits (burst + 1), 3 never could.
    await expect(limiter.limit('k', { cost: 2 })).resolves.toMatchObject({ allowed: true });
    await expect(limiter.limit('k', { cost: 3 })).rejects.toThrow('at most 2');
    const reserving = rateLimiter({
      name: 'set-reserve',
      limit: 10,
      intervalMs: 1000,
      burst: 4,
      reserve: { batch: 4 },
    });
    expect(() => reserving.setLimits({ limit: 1, intervalMs: 1000 })).toThrow(
      'Expected `limits` to admit at least `reserve.batch` (4) at once, got limits admitting 1',
    );
    expect(reserving.limits[0]!.limit).toBe(10);
    await reserving.close();
  });

  it('window algorithms admit limit + burst at once, so that is the largest cost', async () => {
    const limiter = rateLimiter({ ...base, burst: 2, algorithm: 'fixed-window' });
    await expect(limiter.limit('k', { cost: 12 })).resolves.toMatchObject({
      allowed: true,
      remaining: 0,
    });
    await expect(limiter.limit('k', { cost: 13 })).rejects.toThrow('at most 12');
  });

  it('hashes nothing away: a 10 kB key is accepted', async () => {
    const limiter = rateLimiter(base);
    await expect(limiter.limit('x'.repeat(10_000))).resolves.toMatchObject({ allowed: true });
  });
});

describe('redisStore() options', () => {
  it('refuses a client no accepted library built, naming `client` and listing the libraries', () => {
    const accepted =
      /^Expected `client` to be an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis client from `createClient\(\)` or `createCluster\(\)`, got /;
    for (const [client, shown] of [
      [{}, '{}'],
      ['redis://127.0.0.1:6379', '"redis://127.0.0.1:6379"'],
    ] as const) {
      const make = () => redisStore({ client: client as never });
      expect(make).toThrow(TypeError);
      expect(make).toThrow(accepted);
      expect(make).toThrow(`, got ${shown}`);
    }
  });
});
