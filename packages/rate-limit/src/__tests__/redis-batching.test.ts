import { keySlot } from '@breakwater/core/redis';
import {
  describeWithRedis,
  describeWithRedisCluster,
  fakeClock,
  redisClusterFixture,
  redisFixture,
} from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import { compileLimit } from '../algorithms/compile.js';
import { ALGORITHM_NAMES } from '../algorithms/index.js';
import type { AlgorithmName } from '../algorithms/limit.js';
import { type LimitOptions, memoryStore, type RateLimiterOptions, rateLimiter } from '../index.js';
import { redisStore } from '../redis.js';
import type { StoreResult } from '../store.js';
import { BATCH_KEYS } from '../stores/redis.js';
import { flushed, gatedClient, LONG, recording, sized } from './helpers.js';

type Outcome = [key: string, allowed: boolean, remaining: number];

/** Calls `[key, cost]` one after another, in memory at one fixed time. */
async function sequentially(
  options: Partial<RateLimiterOptions>,
  calls: readonly (readonly [string, number])[],
): Promise<Outcome[]> {
  const limiter = rateLimiter({
    name: 'reference',
    ...options,
    store: memoryStore(),
    clock: fakeClock(0),
    denyCache: false,
  } as RateLimiterOptions);
  const out: Outcome[] = [];
  for (const [key, cost] of calls) {
    const decision = await limiter.limit(key, { cost });
    out.push([key, decision.allowed, decision.remaining]);
  }
  return out;
}

/** Keys `k0`… each called `perKey` times, interleaved, with varying costs. */
function interleaved(keys: number, perKey: number): [string, number][] {
  const calls: [string, number][] = [];
  for (let round = 0; round < perKey; round++) {
    for (let k = 0; k < keys; k++) calls.push([`k${k}`, 1 + ((round + k) % 3)]);
  }
  return calls;
}

describeWithRedis(
  'Redis store: decisions of one tick on different keys share a script call',
  () => {
    const redis = redisFixture();

    async function concurrently(
      options: Partial<RateLimiterOptions>,
      calls: readonly (readonly [string, number])[],
    ): Promise<{ outcomes: Outcome[]; keysPerCall: string[][] }> {
      const recorder = recording(redis.client);
      const limiter = rateLimiter({
        name: 'batch',
        ...options,
        store: redisStore({ client: recorder.client, prefix: redis.uniquePrefix() }),
        denyCache: false,
      } as RateLimiterOptions);
      const decisions = await Promise.all(calls.map(([key, cost]) => limiter.limit(key, { cost })));
      return {
        outcomes: decisions.map((d, i): Outcome => [calls[i]![0], d.allowed, d.remaining]),
        keysPerCall: recorder.calls,
      };
    }

    describe.each(ALGORITHM_NAMES)('%s', (algorithm: AlgorithmName) => {
      it('decides every key on its own state, exactly as one after another', async () => {
        const options = sized(algorithm, 7);
        const calls = interleaved(10, 6);
        const expected = await sequentially(options, calls);
        const { outcomes, keysPerCall } = await concurrently(options, calls);
        expect(outcomes).toEqual(expected);
        // The first call of each key in one script call, then each key's queue in the next one.
        expect(keysPerCall).toHaveLength(2);
        expect(new Set(keysPerCall[0]).size).toBe(10);
        expect(keysPerCall[1]).toHaveLength(10);
      });

      it('keeps several limits all-or-nothing on every key of a batch', async () => {
        const limits: LimitOptions[] = [
          sized(algorithm, 6),
          { ...sized(algorithm, 9), intervalMs: 2 * LONG },
        ];
        const calls = interleaved(5, 8);
        const expected = await sequentially({ limits }, calls);
        const { outcomes } = await concurrently({ limits }, calls);
        expect(outcomes).toEqual(expected);
      });
    });

    it(`sends a batch as soon as it holds ${BATCH_KEYS} keys`, async () => {
      const keys = 2 * BATCH_KEYS + 3;
      const calls = interleaved(keys, 1);
      const expected = await sequentially(sized('gcra', 3), calls);
      const { outcomes, keysPerCall } = await concurrently(sized('gcra', 3), calls);
      expect(outcomes).toEqual(expected);
      expect(keysPerCall.map((k) => k.length)).toEqual([BATCH_KEYS, BATCH_KEYS, 3]);
    });

    it('decides peeks, consumes and resets of different keys in one tick', async () => {
      const limiter = rateLimiter({
        name: 'mixed-keys',
        ...sized('gcra', 2),
        store: redisStore({ client: redis.client, prefix: redis.uniquePrefix() }),
        denyCache: false,
      });
      await Promise.all([limiter.limit('a'), limiter.limit('b', { cost: 2 })]);
      const [a, b, peekA, peekB] = await Promise.all([
        limiter.limit('a'),
        limiter.limit('b'),
        limiter.peek('a'),
        limiter.peek('b'),
      ]);
      expect([a.allowed, b.allowed, peekA.allowed, peekB.allowed]).toEqual([
        true,
        false,
        false,
        false,
      ]);
      await limiter.reset('b');
      expect((await limiter.peek('b')).remaining).toBe(2);
      expect((await limiter.peek('a')).remaining).toBe(0);
    });
  },
);

describeWithRedisCluster('Redis Cluster store: one batch per slot', () => {
  const cluster = redisClusterFixture();

  it.each(ALGORITHM_NAMES)(
    '%s: exact on every key, each call within one slot',
    async (algorithm) => {
      const options = sized(algorithm, 5);
      const calls = interleaved(40, 4);
      const expected = await sequentially(options, calls);
      const recorder = recording(cluster.client);
      const limiter = rateLimiter({
        name: 'batch-cluster',
        ...options,
        store: redisStore({ client: recorder.client, prefix: `${cluster.prefix}:b:${algorithm}` }),
        denyCache: false,
      });
      const decisions = await Promise.all(calls.map(([key, cost]) => limiter.limit(key, { cost })));
      expect(decisions.map((d, i): Outcome => [calls[i]![0], d.allowed, d.remaining])).toEqual(
        expected,
      );
      for (const keys of recorder.calls) {
        expect(new Set(keys.map((key) => keySlot(key))).size).toBe(1);
      }
      // Keys that share a slot shared a call: fewer calls than keys × rounds.
      expect(recorder.calls.length).toBeLessThanOrEqual(calls.length);
    },
  );
});

describe('Redis store: batching without a server', () => {
  it('answers each key of a call its own decision; a failed call fails all of its keys', async () => {
    const { client, calls } = gatedClient();
    const handle = redisStore({ client }).scope({
      name: 'gated',
      layout: 'gcra',
      limits: [compileLimit('gcra', 10, 1000, 0)],
    });
    const a = handle.consume('a', 1, 1, 0, undefined) as Promise<StoreResult>;
    const b = handle.consume('b', 3, 1, 0, undefined) as Promise<StoreResult>;
    const c = handle.peek('c', 2, 0, undefined) as Promise<StoreResult>;
    await flushed();
    expect(calls).toHaveLength(1);
    // Three keys; the limit's emission interval (1000 / 10) and capacity, then per key its one
    // operation, without a count (the single-GCRA script's layout).
    expect(calls[0]!.args[1]).toBe(3);
    expect(calls[0]!.args.slice(5)).toEqual([100, 1, 1, 'm', 3, 1, 'p', 2]);
    calls[0]!.resolve('1700000000 250000 1 100 2 200 -1 300');
    expect(await a).toEqual({ allowed: true, granted: 1, now: 1_700_000_000_250, state: [100] });
    expect(await b).toEqual({ allowed: true, granted: 1, now: 1_700_000_000_250, state: [200] });
    expect(await c).toEqual({ allowed: true, granted: 0, now: 1_700_000_000_250, state: [300] });

    const d = handle.consume('a', 1, 1, 0, undefined) as Promise<StoreResult>;
    const e = handle.consume('b', 1, 1, 0, undefined) as Promise<StoreResult>;
    await flushed();
    expect(calls).toHaveLength(2);
    const failure = new Error('READONLY');
    calls[1]!.reject(failure);
    expect(await Promise.allSettled([d, e])).toEqual([
      { status: 'rejected', reason: failure },
      { status: 'rejected', reason: failure },
    ]);
  });
});
