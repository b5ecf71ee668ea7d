// `limit: { perReplica }`: limits that follow the fleet's size N, as the replica registry counts it.
import { memoryReplicaBackend } from '@breakwater/core';
import {
  describeWithDynamo,
  describeWithRedis,
  dynamoFixture,
  installOtel,
  redisFixture,
} from '@breakwater/testkit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import {
  type LimitOptions,
  METRIC_LIMIT,
  METRIC_REPLICAS,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimitStore,
  rateLimiter,
} from '../index.js';
import { redisStore } from '../redis.js';
import { LONG, scriptedStore } from './helpers.js';

const opened: RateLimiter[] = [];
/** A limiter closed after the test. */
function limiter(options: RateLimiterOptions): RateLimiter {
  const made = rateLimiter(options);
  opened.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((made) => made.close()));
});

/** Fast heartbeats, so that a count changes within tens of milliseconds. */
const FAST = { replicaRenewIntervalMs: 20, replicaTtlMs: 2000 } as const;

describe('limit: { perReplica } — options', () => {
  it.each([
    [{ perReplica: 0 }, RangeError, 'Expected `limit.perReplica` to be a finite number > 0, got 0'],
    [{ perReplica: -5 }, RangeError, 'got -5'],
    [{ perReplica: Number.NaN }, RangeError, 'got NaN'],
    [{ perReplica: Number.POSITIVE_INFINITY }, RangeError, 'got Infinity'],
    [{ perReplica: '20' }, TypeError, 'Expected `limit.perReplica` to be a finite number > 0'],
    [{}, TypeError, 'Expected `limit` to be a finite number > 0 or { perReplica: number }'],
  ])('refuses limit: %o at construction, naming the option', (limit, type, message) => {
    const build = () =>
      rateLimiter({ name: 'bad', limit: limit as LimitOptions['limit'], intervalMs: 1000 });
    expect(build).toThrow(type);
    expect(build).toThrow(message);
  });

  it('names the entry of `limits` whose perReplica is bad', () => {
    expect(() =>
      rateLimiter({
        name: 'bad',
        limits: [
          { limit: 10, intervalMs: 1000 },
          { limit: { perReplica: -1 }, intervalMs: 60_000 },
        ],
      }),
    ).toThrow('Expected `limits[1].limit.perReplica` to be a finite number > 0, got -1');
  });

  it('with the memory store (one process, no registry) is perReplica × 1', async () => {
    const alone = limiter({ name: 'alone', limit: { perReplica: 3 }, intervalMs: LONG, burst: 2 });
    expect(alone.limits).toEqual([
      { limit: 3, intervalMs: LONG, burst: 2, algorithm: 'gcra', perReplica: 3 },
    ]);
    expect(alone.replicas).toBeUndefined();
    let allowed = 0;
    for (let i = 0; i < 10; i++) if ((await alone.limit('k')).allowed) allowed++;
    expect(allowed).toBe(3);
  });
});

describe('limit: { perReplica } — the fleet', () => {
  it('counts the fleet whatever onStoreError, and the limit (and burst) follow N', async () => {
    const store = scriptedStore({ replicas: memoryReplicaBackend() });
    const base = { name: 'follows', limit: { perReplica: 20 }, burst: 5, intervalMs: 1000, store };
    const fleet = [
      limiter({ ...base, ...FAST, onStoreError: 'fail-open' }),
      limiter({ ...base, ...FAST, onStoreError: 'fail-closed' }),
      limiter({ ...base, ...FAST, localShare: 0.5 }),
    ];
    await vi.waitFor(() =>
      expect(fleet.map((member) => member.replicas?.count)).toEqual([3, 3, 3]),
    );
    for (const member of fleet) {
      expect(member.limits).toEqual([
        { limit: 60, intervalMs: 1000, burst: 15, algorithm: 'gcra', perReplica: 20 },
      ]);
    }
    expect(fleet[0]!.replicas!.localShare).toBeUndefined();
    expect(fleet[2]!.replicas!.localShare).toBe(0.5);
    // A leaving replica: the others follow down to 2 × 20.
    await fleet[2]!.close();
    await vi.waitFor(() => expect(fleet[0]!.limits[0]!.limit).toBe(40));
    expect(fleet[1]!.limits[0]).toMatchObject({ limit: 40, burst: 10 });
  });

  it("under 'local', each replica enforces exactly its perReplica limit while the store is down", async () => {
    const store = scriptedStore({ replicas: memoryReplicaBackend() });
    const fleet = Array.from({ length: 4 }, () =>
      limiter({
        name: 'local-per-replica',
        limit: { perReplica: 25 },
        burst: 24,
        // Nothing refills while the test runs, however slowly.
        intervalMs: LONG,
        store,
        ...FAST,
      }),
    );
    await vi.waitFor(() =>
      expect(fleet.map((member) => member.replicas?.count)).toEqual([4, 4, 4, 4]),
    );
    expect(fleet[0]!.limits[0]!.limit).toBe(100);
    expect(fleet[0]!.replicas!.localShare).toBe(0.25);
    store.failure = new Error('ECONNREFUSED');
    let allowed = 0;
    for (const member of fleet) {
      for (let i = 0; i < 50; i++) {
        const decision = await member.limit('k');
        expect(decision.source).toBe('degraded');
        if (decision.allowed) allowed++;
      }
    }
    // 25 (burst 24 + 1) per replica: the fleet's 100, not 4 × 100.
    expect(allowed).toBe(100);
  });

  it('reports the limit in force and the fleet size as gauges', async () => {
    const otel = installOtel();
    try {
      const store = scriptedStore({ replicas: memoryReplicaBackend() });
      const base = {
        name: 'gauges',
        limits: [
          { limit: { perReplica: 10 }, intervalMs: 1000 },
          { limit: 500, intervalMs: 60_000 },
        ],
        store,
        ...FAST,
      };
      const a = limiter(base);
      limiter(base);
      await vi.waitFor(() => expect(a.replicas?.count).toBe(2));
      const limit = await otel.metric(METRIC_LIMIT);
      expect(limit?.kind).toBe('gauge');
      expect(limit?.unit).toBe('{cost}');
      const mine = limit!.points.filter(
        (point) => point.attributes['breakwater.policy.name'] === 'gauges',
      );
      expect(
        mine.map((point) => [point.attributes['breakwater.rate_limit.limit_index'], point.value]),
      ).toEqual([
        [0, 20],
        [1, 500],
      ]);
      const replicas = await otel.metric(METRIC_REPLICAS);
      expect(replicas?.unit).toBe('{replica}');
      expect(replicas!.points.map((point) => point.value)).toEqual([2]);
    } finally {
      await otel.uninstall();
    }
  });
});

/**
 * What a key's state does when N changes, against a real store whose handles share the keys'
 * state: a fixed window keeps its count, and the new limit applies to the rest of the window.
 */
function keepsKeysConsistent(makeStore: () => RateLimitStore): void {
  const shapes: [string, Partial<RateLimiterOptions>][] = [
    [
      'one fixed-window limit',
      { limit: { perReplica: 10 }, intervalMs: LONG, algorithm: 'fixed-window' },
    ],
    [
      'limits: a perReplica window beside a fixed bucket',
      {
        limits: [
          { limit: { perReplica: 10 }, intervalMs: LONG, algorithm: 'fixed-window' },
          // Another interval: a key's state fields are named by interval.
          { limit: 1000, intervalMs: LONG / 2, burst: 999, algorithm: 'token-bucket' },
        ],
      },
    ],
  ];
  it.each(shapes)('%s: a key keeps its count through a join and a leave', async (_, shape) => {
    const store = makeStore();
    const options = { name: 'consistent', store, ...FAST, ...shape } as RateLimiterOptions;
    const a = limiter(options);
    await vi.waitFor(() => expect(a.replicas?.ageMs).toBeDefined());
    const admitted = async (count: number) => {
      let allowed = 0;
      for (let i = 0; i < count; i++) if ((await a.limit('key')).allowed) allowed++;
      return allowed;
    };
    expect(await admitted(15)).toBe(10);
    // The last call took the last unit: the deny cache now refuses locally until the window ends.
    expect((await a.limit('key')).source).toBe('local-cache');

    const b = limiter(options);
    await vi.waitFor(() => expect(a.limits[0]!.limit).toBe(20));
    // The count of 10 is kept: 10 more fit the window's new 20, not 20 (and the cached denial,
    // decided under the old limit, is gone).
    expect(await admitted(15)).toBe(10);

    await b.close();
    await vi.waitFor(() => expect(a.limits[0]!.limit).toBe(10));
    // 20 used against a limit of 10 again: refused, not an error, until the window ends.
    const decision = await a.limit('key');
    expect(decision).toMatchObject({ allowed: false, limit: 10, source: 'store' });
  });
}

describeWithRedis('limit: { perReplica } on Redis', () => {
  const redis = redisFixture();
  keepsKeysConsistent(() => redisStore({ client: redis.client, prefix: redis.uniquePrefix() }));
});

describeWithDynamo('limit: { perReplica } on DynamoDB', () => {
  const dynamo = dynamoFixture();
  keepsKeysConsistent(() =>
    dynamoStore({
      client: dynamo.client,
      tableName: dynamo.tableName,
      prefix: dynamo.uniquePrefix(),
    }),
  );
});
