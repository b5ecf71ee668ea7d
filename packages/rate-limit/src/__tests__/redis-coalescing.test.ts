import {
  describeWithRedis,
  describeWithRedisCluster,
  fakeClock,
  redisClusterFixture,
  redisFixture,
} from '@breakwater/testkit';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { compileLimit } from '../algorithms/compile.js';
import { ALGORITHM_NAMES } from '../algorithms/index.js';
import type { AlgorithmName } from '../algorithms/limit.js';
import { type LimitOptions, memoryStore, type RateLimiterOptions, rateLimiter } from '../index.js';
import { redisStore } from '../redis.js';
import type { StoreResult } from '../store.js';
import { flushed, gatedClient, LONG, recording, sized } from './helpers.js';

type Outcome = [allowed: boolean, remaining: number];

/** The decisions of `costs`, one after another, in memory at one fixed time. */
async function sequentially(
  options: Partial<RateLimiterOptions>,
  costs: readonly number[],
): Promise<Outcome[]> {
  const limiter = rateLimiter({
    name: 'reference',
    ...options,
    store: memoryStore(),
    clock: fakeClock(0),
    denyCache: false,
  } as RateLimiterOptions);
  const out: Outcome[] = [];
  for (const cost of costs) {
    const decision = await limiter.limit('k', { cost });
    out.push([decision.allowed, decision.remaining]);
  }
  return out;
}

describeWithRedis('Redis store: concurrent decisions on one key coalesce', () => {
  const redis = redisFixture();

  /** The same decisions all in flight at once against Redis, plus the script calls they took. */
  async function concurrently(
    options: Partial<RateLimiterOptions>,
    costs: readonly number[],
  ): Promise<{ outcomes: Outcome[]; calls: number }> {
    const recorder = recording(redis.client);
    const limiter = rateLimiter({
      name: 'coalesce',
      ...options,
      store: redisStore({ client: recorder.client, prefix: redis.uniquePrefix() }),
      denyCache: false,
    } as RateLimiterOptions);
    const decisions = await Promise.all(costs.map((cost) => limiter.limit('k', { cost })));
    return {
      outcomes: decisions.map((d): Outcome => [d.allowed, d.remaining]),
      calls: recorder.calls.length,
    };
  }

  describe.each(ALGORITHM_NAMES)('%s', (algorithm: AlgorithmName) => {
    it('admits exactly what sequential evaluation admits, in far fewer round trips', async () => {
      const options = sized(algorithm, 60);
      const costs = Array.from({ length: 300 }, () => 1);
      const expected = await sequentially(options, costs);
      const { outcomes, calls } = await concurrently(options, costs);
      expect(outcomes).toEqual(expected);
      expect(outcomes.filter(([allowed]) => allowed)).toHaveLength(60);
      // One call for the first decision, then the queue behind it in batches of at most 256.
      expect(calls).toBeLessThanOrEqual(3);
    });

    it('decides mixed costs in order, each on its own', async () => {
      const options = sized(algorithm, 40);
      const costs = Array.from({ length: 120 }, (_, i) => 1 + ((i * 7) % 5));
      const expected = await sequentially(options, costs);
      const { outcomes } = await concurrently(options, costs);
      expect(outcomes).toEqual(expected);
    });

    it('lets a later, smaller cost through after a denied one in the middle', async () => {
      const options = sized(algorithm, 10);
      // Two calls leave 2 of the capacity; the third (4) is denied, the fourth (2) still fits.
      const costs = [4, 4, 4, 2, 1, 1];
      const expected = await sequentially(options, costs);
      const { outcomes } = await concurrently(options, costs);
      expect(outcomes).toEqual(expected);
      expect(outcomes.map(([allowed]) => allowed)).toEqual([true, true, false, true, false, false]);
      expect(outcomes.map(([, remaining]) => remaining)).toEqual([6, 2, 2, 0, 0, 0]);
    });

    it('keeps several limits all-or-nothing per decision', async () => {
      const limits: LimitOptions[] = [
        sized(algorithm, 15),
        { ...sized(algorithm, 20), intervalMs: 2 * LONG },
      ];
      const options = { limits };
      const costs = Array.from({ length: 60 }, (_, i) => 1 + ((i * 3) % 4));
      const expected = await sequentially(options, costs);
      const { outcomes } = await concurrently(options, costs);
      expect(outcomes).toEqual(expected);
    });
  });

  it('drops a queued caller that aborts, and decides the others as if it never asked', async () => {
    const recorder = recording(redis.client);
    const limiter = rateLimiter({
      name: 'abort',
      ...sized('gcra', 5),
      store: redisStore({ client: recorder.client, prefix: redis.uniquePrefix() }),
      denyCache: false,
    });
    const controller = new AbortController();
    const calls = Array.from({ length: 10 }, (_, i) =>
      limiter.limit('k', i === 3 ? { signal: controller.signal } : undefined),
    );
    const reason = new Error('caller gave up');
    controller.abort(reason);
    const settled = await Promise.allSettled(calls);
    expect(settled[3]).toEqual({ status: 'rejected', reason });
    const allowed = settled.map((s) => s.status === 'fulfilled' && s.value.allowed);
    expect(allowed).toEqual([true, true, true, false, true, true, false, false, false, false]);
    expect(recorder.calls).toHaveLength(2);
    expect((await limiter.peek('k')).remaining).toBe(0);
  });

  it('peeks in the queue are decided in order with the consumes', async () => {
    const limiter = rateLimiter({
      name: 'mixed-ops',
      ...sized('gcra', 3),
      store: redisStore({ client: redis.client, prefix: redis.uniquePrefix() }),
      denyCache: false,
    });
    const [a, b, peeked, c, d] = await Promise.all([
      limiter.limit('k'),
      limiter.limit('k'),
      limiter.peek('k'),
      limiter.limit('k'),
      limiter.limit('k'),
    ]);
    expect([a.allowed, b.allowed, peeked.allowed, c.allowed, d.allowed]).toEqual([
      true,
      true,
      true,
      true,
      false,
    ]);
    expect(peeked.remaining).toBe(1);
  });
});

describeWithRedisCluster('Redis Cluster store: concurrent decisions on one key coalesce', () => {
  const cluster = redisClusterFixture();

  it.each(ALGORITHM_NAMES)(
    '%s: exactly the sequential result, one slot per call',
    async (algorithm) => {
      const options = sized(algorithm, 25);
      const costs = Array.from({ length: 80 }, (_, i) => 1 + (i % 3));
      const expected = await sequentially(options, costs);
      const limiter = rateLimiter({
        name: 'coalesce-cluster',
        ...options,
        store: redisStore({ client: cluster.client, prefix: `${cluster.prefix}:${algorithm}` }),
        denyCache: false,
      });
      const decisions = await Promise.all(costs.map((cost) => limiter.limit('k', { cost })));
      expect(decisions.map((d): Outcome => [d.allowed, d.remaining])).toEqual(expected);
    },
  );
});

describe('Redis store: coalescing without a server', () => {
  function openHandle(client: Redis) {
    return redisStore({ client }).scope({
      name: 'gated',
      layout: 'gcra',
      limits: [compileLimit('gcra', 10, 1000, 0)],
    });
  }

  it('rejects every waiter of a failed call with its error; the queue behind tries again', async () => {
    const { client, calls } = gatedClient();
    const handle = openHandle(client);
    const first = handle.consume('k', 1, 1, 0, undefined) as Promise<StoreResult>;
    const queued = [1, 2, 3, 4].map(
      (cost) => handle.consume('k', cost, cost, 0, undefined) as Promise<StoreResult>,
    );
    await flushed();
    expect(calls).toHaveLength(1);
    // The first call carried the first decision only (emission interval, capacity, one consume
    // of 1, no count): the others queued behind it.
    expect(calls[0]!.args.slice(3)).toEqual([100, 1, 1]);
    const firstError = new Error('connection reset');
    calls[0]!.reject(firstError);
    await expect(first).rejects.toBe(firstError);
    // The four queued decisions went out together, in one call: one key, four consumes.
    expect(calls).toHaveLength(2);
    expect(calls[1]!.args[1]).toBe(1);
    expect(calls[1]!.args.slice(3)).toEqual([100, 1, 'n', 4, 1, 2, 3, 4]);
    const batchError = new Error('READONLY');
    calls[1]!.reject(batchError);
    const settled = await Promise.allSettled(queued);
    expect(settled).toEqual(queued.map(() => ({ status: 'rejected', reason: batchError })));
    // Nothing left in flight: the next decision goes out in the next batch.
    const last = handle.consume('k', 1, 1, 0, undefined) as Promise<StoreResult>;
    await flushed();
    expect(calls).toHaveLength(3);
    const lastError = new Error('done');
    calls[2]!.reject(lastError);
    await expect(last).rejects.toBe(lastError);
  });

  it('hands each waiter its own decision and its own state', async () => {
    const { client, calls } = gatedClient();
    const handle = openHandle(client);
    const first = handle.consume('k', 1, 1, 0, undefined) as Promise<StoreResult>;
    const second = handle.consume('k', 2, 1, 0, undefined) as Promise<StoreResult>;
    const third = handle.peek('k', 5, 0, undefined) as Promise<StoreResult>;
    await flushed();
    expect(calls).toHaveLength(1);
    calls[0]!.resolve('1700000000 250000 1 1700000000350');
    expect(await first).toEqual({
      allowed: true,
      granted: 1,
      now: 1_700_000_000_250,
      state: [1_700_000_000_350],
    });
    expect(calls).toHaveLength(2);
    calls[1]!.resolve('1700000000 500000 2 1700000000450 -1 1700000000450');
    const [b, c] = await Promise.all([second, third]);
    expect(b).toEqual({
      allowed: true,
      granted: 1,
      now: 1_700_000_000_500,
      state: [1_700_000_000_450],
    });
    expect(c).toEqual({
      allowed: true,
      granted: 0,
      now: 1_700_000_000_500,
      state: [1_700_000_000_450],
    });
    expect(b.state).not.toBe(c.state);
  });
});
