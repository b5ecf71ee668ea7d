import {
  describeWithRedis,
  fakeClock,
  type RedisServer,
  startRedisServer,
} from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { type OnStoreError, rateLimiter } from '../index.js';
import { redisStore } from '../redis.js';

/** Waits until the client has (re)connected. */
async function connected(client: Redis): Promise<void> {
  await expect.poll(() => client.ping().catch(() => 'down'), { timeout: 5000 }).toBe('PONG');
}

describeWithRedis('Redis outage', () => {
  let server: RedisServer;
  let client: Redis;
  let port: number;

  beforeAll(async () => {
    server = await startRedisServer();
    port = server.port;
    // Commands issued while the connection is down wait in ioredis' offline queue: exactly the
    // case the store deadline exists for.
    client = new Redis(server.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
    // Connection errors are expected here; the limiter sees them as missed deadlines.
    client.on('error', () => {});
  });
  // A test that failed half-way must not leave the next one without a server.
  afterEach(async () => {
    if (server.exited) server = await startRedisServer({ port });
    await connected(client);
  });
  afterAll(async () => {
    client.disconnect();
    await server.stop();
  });

  it.each<[OnStoreError, boolean]>([
    ['fail-open', true],
    ['fail-closed', false],
  ])(
    '%s: each decision answers within the deadline; degraded after the threshold, then at once; the probe notices the recovery',
    async (mode, admitted) => {
      const limiter = rateLimiter({
        name: `outage-${mode}`,
        limit: 100,
        intervalMs: 1000,
        store: redisStore({ client }),
        onStoreError: mode,
        storeDeadlineMs: 100,
        storeFailureThreshold: 2,
        storeProbeIntervalMs: 200,
      });
      await connected(client);
      expect(await limiter.limit('before')).toMatchObject({ allowed: true, source: 'store' });
      await server.kill();
      for (let i = 0; i < 2; i++) {
        const started = performance.now();
        const decision = await limiter.limit('during');
        // The deadline, plus slack for a loaded machine.
        expect(performance.now() - started).toBeLessThan(100 + 100);
        expect(decision).toMatchObject({ allowed: admitted, source: 'degraded' });
      }
      expect(limiter.storeStatus).toBe('degraded');
      const started = performance.now();
      expect(await limiter.limit('degraded')).toMatchObject({
        allowed: admitted,
        source: 'degraded',
      });
      expect(performance.now() - started).toBeLessThan(20);

      server = await startRedisServer({ port });
      await connected(client);
      // Recovered by the background probe, without a decision asking.
      await expect.poll(() => limiter.storeStatus, { timeout: 3000, interval: 20 }).toBe('healthy');
      expect(await limiter.limit('after')).toMatchObject({ source: 'store' });
      await limiter.close();
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
    await server.kill();
    const started = performance.now();
    const decisions = [];
    for (let i = 0; i < 30; i++) decisions.push(await limiter.limit('k'));
    // The first three calls (`storeFailureThreshold`) waited out the deadline; the store was then
    // degraded and the others were answered at once from memory.
    expect(performance.now() - started).toBeLessThan(3 * 100 + 150);
    expect(decisions.every((d) => d.source === 'degraded')).toBe(true);
    // 100 × 0.25 per second with burst 39 × 0.25: capacity 10.75, so 10 pass at once.
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    expect(changes).toEqual(['degraded']);
    await limiter.close();
  }, 20_000);

  it('close() of the limiter and the store completes with Redis refusing connections, the client left open', async () => {
    const store = redisStore({ client });
    const limiter = rateLimiter({
      name: 'outage-close',
      limit: 100,
      intervalMs: 1000,
      burst: 99,
      store,
      reserve: { batch: 10 },
      storeDeadlineMs: 100,
    });
    await connected(client);
    // Reserved permits on two keys, which close() will try to give back.
    expect(await limiter.limit('a')).toMatchObject({ allowed: true, source: 'store' });
    expect(await limiter.limit('b')).toMatchObject({ allowed: true, source: 'store' });
    await server.kill();
    // A decision in flight too.
    const inFlight = limiter.limit('c');
    const started = performance.now();
    await limiter.close();
    await store.close();
    expect(performance.now() - started).toBeLessThan(100 + 150);
    expect(await inFlight).toMatchObject({ source: 'degraded' });
    // The store did not close the user's client: it reconnects by itself.
    expect(client.status).not.toBe('end');
    server = await startRedisServer({ port });
    await connected(client);
  });

  it('close() completes with Redis hung (SIGSTOP), and `await using` closes the limiter', async () => {
    const store = redisStore({ client });
    await connected(client);
    process.kill(server.pid, 'SIGSTOP');
    let inFlight: Promise<unknown> | undefined;
    const started = performance.now();
    try {
      await using limiter = rateLimiter({
        name: 'outage-hung',
        limit: 100,
        intervalMs: 1000,
        burst: 99,
        store,
        storeDeadlineMs: 100,
      });
      inFlight = limiter.reset('k').catch((error: unknown) => error);
      await using _store = store;
    } finally {
      process.kill(server.pid, 'SIGCONT');
    }
    // Leaving the block closed the store, then the limiter: that waited for the reset in flight,
    // which gave up at the deadline.
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(performance.now() - started).toBeLessThan(100 + 150);
    expect(await inFlight).toMatchObject({ name: 'StoreTimeoutError', operation: 'reset' });
  });
});
