import { describeWithRedis, redisFixture, startRedisServer } from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { retryBudget } from '../index.js';
import { redisBudgetStore } from '../redis.js';

describeWithRedis('redisBudgetStore() specifics', () => {
  const redis = redisFixture();

  it('keeps one hash per budget under the documented key, expiring one window after its last write', async () => {
    const prefix = redis.uniquePrefix();
    const store = redisBudgetStore({ client: redis.client, prefix });
    const spec = { ratio: 0.5, reserve: 0, windowMs: 10_000, slotMs: 1_000 };
    await store.scope({ name: 'payments', spec }).record({ calls: 4, withdraw: true });
    const key = `${prefix}:retry:{payments:}:budget`;
    const fields = await redis.client.hgetall(key);
    expect(Object.keys(fields).map((f) => f[0])).toEqual(expect.arrayContaining(['c', 'r']));
    expect(Object.values(fields).map(Number).sort()).toEqual([1, 4]);
    const ttl = await redis.client.pttl(key);
    expect(ttl).toBeGreaterThan(10_000);
    expect(ttl).toBeLessThanOrEqual(11_000);
  });

  it('recovers when the server lost its script cache (SCRIPT FLUSH, failover)', async () => {
    // A throwaway server: flushing the shared one's script cache would disturb other suites.
    const server = await startRedisServer();
    const client = new Redis(server.url);
    try {
      const spec = { ratio: 0, reserve: 2, windowMs: 10_000, slotMs: 1_000 };
      const budget = redisBudgetStore({ client, prefix: 'flush' }).scope({ name: 'b', spec });
      const withdraw = { calls: 0, withdraw: true };
      expect((await budget.record(withdraw)).granted).toBe(true);
      await client.script('FLUSH');
      expect((await budget.record(withdraw)).granted).toBe(true);
      expect((await budget.record(withdraw)).granted).toBe(false);
    } finally {
      client.disconnect();
      await server.stop();
    }
  });

  it('a budget whose Redis went away degrades to its onStoreError choice', async () => {
    const server = await startRedisServer();
    const client = new Redis(server.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => {});
    try {
      await new Promise((resolve) => client.once('ready', resolve));
      await server.stop();
      const budget = retryBudget({
        store: redisBudgetStore({ client, prefix: 'gone' }),
        onStoreError: 'fail-closed',
        storeDeadlineMs: 500,
      });
      // Degraded after `storeFailureThreshold` (3) consecutive failures, each refused.
      for (let i = 0; i < 3; i++) {
        expect(budget.storeStatus).toBe('healthy');
        expect((await budget.tryAcquire()).granted).toBe(false);
      }
      expect(budget.storeStatus).toBe('degraded');
      await budget.close();
    } finally {
      client.disconnect();
    }
  });
});
