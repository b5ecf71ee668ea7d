import {
  describeWithRedis,
  fakeClock,
  type RedisServer,
  startRedisServer,
} from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type OnStoreError, rateLimiter } from '../index.js';
import { redisStore } from '../redis.js';

/** Waits until the client has (re)connected. */
async function connected(client: Redis): Promise<void> {
  await expect.poll(() => client.ping().catch(() => 'down'), { timeout: 5000 }).toBe('PONG');
}

describeWithRedis('Redis outage', () => {
  let server: RedisServer;
  let client: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    // Commands issued while the connection is down wait in ioredis' offline queue: exactly the
    // case the store deadline exists for.
    client = new Redis(server.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
    // Connection errors are expected here; the limiter sees them as missed deadlines.
    client.on('error', () => {});
  });
  afterAll(async () => {
    client.disconnect();
    await server.stop();
  });

  it.each<[OnStoreError, boolean]>([
    ['fail-open', true],
    ['fail-closed', false],
  ])(
    '%s: answers within the store deadline while Redis is down, and recovers',
    async (mode, admitted) => {
      const limiter = rateLimiter({
        name: `outage-${mode}`,
        limit: 100,
        intervalMs: 1000,
        store: redisStore({ client }),
        onStoreError: mode,
        storeDeadlineMs: 100,
      });
      await connected(client);
      expect(await limiter.limit('before')).toMatchObject({ allowed: true, source: 'store' });
      const port = server.port;
      await server.kill();
      const started = performance.now();
      const decision = await limiter.limit('during');
      expect(performance.now() - started).toBeLessThan(100 + 50);
      expect(decision).toMatchObject({ allowed: admitted, source: 'degraded' });
      expect(limiter.storeStatus).toBe('degraded');

      server = await startRedisServer({ port });
      await connected(client);
      // Recovered at the next probe, at most a second later.
      let n = 0;
      await expect
        .poll(async () => (await limiter.limit(`after-${n++}`)).source, {
          timeout: 3000,
          interval: 100,
        })
        .toBe('store');
      expect(limiter.storeStatus).toBe('healthy');
    },
  );

  it("'local': each replica enforces limit × localShare in memory while Redis is down", async () => {
    const limiter = rateLimiter({
      name: 'outage-local',
      limit: 100,
      intervalMs: 1000,
      burst: 39,
      store: redisStore({ client }),
      onStoreError: 'local',
      localShare: 0.25,
      storeDeadlineMs: 100,
      // Local decisions read this clock: frozen, so no permit refills while the test runs.
      clock: fakeClock(Date.now()),
    });
    const changes: string[] = [];
    limiter.onStoreStatusChange((change) => changes.push(change.status));
    await connected(client);
    expect(await limiter.limit('warm')).toMatchObject({ source: 'store' });
    const port = server.port;
    await server.kill();
    const started = performance.now();
    const decisions = [];
    for (let i = 0; i < 30; i++) decisions.push(await limiter.limit('k'));
    // The first call waited out the deadline; while it did not answer, the others were answered
    // at once from memory (the next probe is due only after a second).
    expect(performance.now() - started).toBeLessThan(100 + 150);
    expect(decisions.every((d) => d.source === 'degraded')).toBe(true);
    // 100 × 0.25 per second with burst 39 × 0.25: capacity 10.75, so 10 pass at once.
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    expect(changes).toEqual(['degraded']);
    server = await startRedisServer({ port });
    await connected(client);
  }, 20_000);
});
