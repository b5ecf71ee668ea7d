import { keyBuilder } from '@breakwater/core/redis';
import {
  describeWithRedis,
  describeWithRedisCluster,
  redisClusterFixture,
  redisFixture,
} from '@breakwater/testkit';
import type { Cluster, Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { rateLimiter } from '../index.js';
import { redisStore } from '../redis.js';

/** So long that the milliseconds a test takes on the server clock never change a decision. */
const LONG = 1e12;

/**
 * The single-limit GCRA layout (`redis-gcra-script.ts`): a plain string key with the TAT, and
 * keys written in the hash layout of earlier versions still read.
 */
function layoutTests(fixture: () => { client: Redis | Cluster; prefix: string }) {
  const keysOf = (prefix: string, name: string) =>
    keyBuilder({ prefix, pattern: 'rate-limit', name });

  it('keeps the TAT in a string key with a TTL, and decides exactly', async () => {
    const { client, prefix } = fixture();
    const limiter = rateLimiter({
      name: 'string',
      limit: 5,
      intervalMs: LONG,
      burst: 2,
      store: redisStore({ client, prefix }),
      denyCache: false,
    });
    const allowed: boolean[] = [];
    for (let i = 0; i < 4; i++) allowed.push((await limiter.limit('k')).allowed);
    expect(allowed).toEqual([true, true, true, false]);
    const key = keysOf(prefix, 'string').redisKey('k', 'tat');
    expect(await client.type(key)).toBe('string');
    const tat = Number(await client.get(key));
    expect(tat).toBeGreaterThan(Date.now() + 2 * (LONG / 5) * 0.99);
    expect(await client.pttl(key)).toBeGreaterThan(0);
    // Nothing in the old layout is written.
    expect(await client.exists(keysOf(prefix, 'string').redisKey('k', 'gcra'))).toBe(0);
    // Peeks and refunds (reservation returns) go through the same script and layout.
    expect((await limiter.peek('k')).remaining).toBe(0);
  });

  it('reads a key written in the hash layout of earlier versions, and reset deletes it', async () => {
    const { client, prefix } = fixture();
    const keys = keysOf(prefix, 'legacy');
    const legacy = keys.redisKey('k', 'gcra');
    const interval = 60_000;
    // Written by an earlier version: two of the three units of capacity (burst 2) in use.
    const [seconds] = (await client.time()) as [number | string, number | string];
    const now = Number(seconds) * 1000;
    await client.hset(legacy, `${interval}.0`, String(now + 2 * interval + 5_000));
    await client.pexpire(legacy, 3 * interval);
    const limiter = rateLimiter({
      name: 'legacy',
      limit: 1,
      intervalMs: interval,
      burst: 2,
      store: redisStore({ client, prefix }),
      denyCache: false,
    });
    expect((await limiter.peek('k')).remaining).toBe(0);
    expect((await limiter.limit('k')).allowed).toBe(false);
    // Reset forgets both layouts: a full allowance again.
    await limiter.reset('k');
    expect(await client.exists(legacy)).toBe(0);
    expect((await limiter.peek('k')).remaining).toBe(3);
    for (let i = 0; i < 3; i++) expect((await limiter.limit('k')).allowed).toBe(true);
    expect((await limiter.limit('k')).allowed).toBe(false);
  });

  it('continues from the old state on the first decision after an upgrade', async () => {
    const { client, prefix } = fixture();
    const keys = keysOf(prefix, 'upgrade');
    const interval = 60_000;
    const [seconds] = (await client.time()) as [number | string, number | string];
    // One unit of three in use.
    await client.hset(
      keys.redisKey('k', 'gcra'),
      `${interval}.0`,
      String(Number(seconds) * 1000 + interval + 5_000),
    );
    await client.pexpire(keys.redisKey('k', 'gcra'), 3 * interval);
    const limiter = rateLimiter({
      name: 'upgrade',
      limit: 1,
      intervalMs: interval,
      burst: 2,
      store: redisStore({ client, prefix }),
      denyCache: false,
    });
    const decisions = await Promise.all([
      limiter.limit('k'),
      limiter.limit('k'),
      limiter.limit('k'),
    ]);
    expect(decisions.map((d) => d.allowed)).toEqual([true, false, false]);
    // From now on the string key holds the state.
    expect(await client.type(keys.redisKey('k', 'tat'))).toBe('string');
  });
}

describeWithRedis('Redis store: single-limit GCRA layout', () => {
  const redis = redisFixture();
  layoutTests(() => ({ client: redis.client, prefix: redis.uniquePrefix() }));
});

describeWithRedisCluster('Redis Cluster store: single-limit GCRA layout', () => {
  const cluster = redisClusterFixture();
  layoutTests(() => ({ client: cluster.client, prefix: cluster.uniquePrefix() }));
});
