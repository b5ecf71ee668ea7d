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
import { LONG } from './helpers.js';

/** The single-limit GCRA layout (`redis-gcra-script.ts`): a plain string key with the TAT. */
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
    // Nothing in the general (hash) layout is written.
    expect(await client.exists(keysOf(prefix, 'string').redisKey('k', 'gcra'))).toBe(0);
    // Peeks and refunds (reservation returns) go through the same script and layout.
    expect((await limiter.peek('k')).remaining).toBe(0);
  });

  it('moves the TAT by exactly the emission interval the client computes', async () => {
    const { client, prefix } = fixture();
    // LONG / 3 has no finite decimal form: the client sends it as the shortest string that reads
    // back as the same double, and the script must land on the same TAT as the JS arithmetic.
    const limiter = rateLimiter({
      name: 'emission',
      limit: 3,
      intervalMs: LONG,
      burst: 2,
      store: redisStore({ client, prefix }),
      denyCache: false,
    });
    const key = keysOf(prefix, 'emission').redisKey('k', 'tat');
    const stored = Date.now() + LONG / 10;
    await client.set(key, String(stored));
    expect((await limiter.limit('k')).allowed).toBe(true);
    expect(Number(await client.get(key))).toBe(stored + LONG / 3);
  });

  // A limit so generous that one unit moves the TAT by less than a double's resolution at
  // epoch-millisecond scale: every decision leaves the state exactly fresh.
  const GENEROUS = { limit: 1e9, intervalMs: 1000 };

  it('deletes a key that a decision leaves fresh, and writes nothing for a missing one', async () => {
    const { client, prefix } = fixture();
    const limiter = rateLimiter({
      name: 'fresh',
      ...GENEROUS,
      store: redisStore({ client, prefix }),
      denyCache: false,
    });
    const key = keysOf(prefix, 'fresh').redisKey('k', 'tat');
    expect((await limiter.limit('k')).allowed).toBe(true);
    expect(await client.exists(key)).toBe(0);
    // A state from the past, without a TTL: the next decision finds it fresh and deletes it.
    await client.set(key, '1000');
    expect((await limiter.limit('k')).allowed).toBe(true);
    expect(await client.exists(key)).toBe(0);
  });

  it('the general (hash) layout deletes a key left fresh too', async () => {
    const { client, prefix } = fixture();
    const limiter = rateLimiter({
      name: 'fresh-hash',
      limits: [GENEROUS, { limit: 1e12, intervalMs: 1_000_000 }],
      store: redisStore({ client, prefix }),
      denyCache: false,
    });
    const key = keysOf(prefix, 'fresh-hash').redisKey('k', 'gcra');
    expect((await limiter.limit('k')).allowed).toBe(true);
    expect(await client.exists(key)).toBe(0);
    await client.hset(key, '1000.0', '1000', '1000000.0', '1000');
    expect((await limiter.limit('k')).allowed).toBe(true);
    expect(await client.exists(key)).toBe(0);
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
