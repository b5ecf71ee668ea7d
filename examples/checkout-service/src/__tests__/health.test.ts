/**
 * Core's `health()` over every pattern, each on a real Redis that dies: every policy reports its
 * pattern and store, turns `'degraded'` (or `'down'` under `'fail-closed'`) once its store fails,
 * `'ok'` once it is back, and `'down'` once closed.
 */
import { bulkhead } from '@breakwater/bulkhead';
import { redisStore as redisPermitStore } from '@breakwater/bulkhead/redis';
import { cache } from '@breakwater/cache';
import { redisStore as redisCacheStore } from '@breakwater/cache/redis';
import { circuitBreaker } from '@breakwater/circuit-breaker';
import { redisStore as redisBreakerStore } from '@breakwater/circuit-breaker/redis';
import { type HealthSource, health, type OnStoreError } from '@breakwater/core';
import { rateLimiter } from '@breakwater/rate-limit';
import { redisStore as redisLimitStore } from '@breakwater/rate-limit/redis';
import { retryBudget } from '@breakwater/retry';
import { redisBudgetStore } from '@breakwater/retry/redis';
import { closeClientNow, type FaultyRedis, startFaultyStore } from '@breakwater/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Fails fast, degrades on the first failure, probes often: the test waits on nothing long. */
const STORE = { storeDeadlineMs: 200, storeFailureThreshold: 1, storeProbeIntervalMs: 50 };

function policies(client: Redis, prefix: string, onStoreError: OnStoreError) {
  const common = { ...STORE, onStoreError };
  const breaker = circuitBreaker({
    name: 'payments',
    store: redisBreakerStore({ client, prefix }),
    ...common,
  });
  const limiter = rateLimiter({
    name: 'clients',
    limit: 100,
    intervalMs: 1_000,
    store: redisLimitStore({ client, prefix }),
    ...common,
  });
  const permits = bulkhead({
    name: 'upstream',
    maxConcurrent: 4,
    store: redisPermitStore({ client, prefix }),
    ...common,
  });
  const budget = retryBudget({
    name: 'retries',
    store: redisBudgetStore({ client, prefix }),
    ...common,
  });
  const products = cache({
    name: 'products',
    store: redisCacheStore({ client, prefix }),
    ...common,
  });
  let calls = 0;
  /** One call on each, so that each asks its store (a new client each time: no cached denial). */
  const touch = () =>
    Promise.allSettled([
      breaker.execute(() => 'ok'),
      limiter.limit(`client-${++calls}`),
      permits.execute(() => 'ok'),
      budget.tryAcquire(),
      products.get('product-1'),
    ]);
  const all = [breaker, limiter, permits, budget, products];
  const list: HealthSource[] = all;
  return { list, touch, close: () => Promise.all(all.map((p) => p.close())) };
}

async function eventually(check: () => void, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

describe('health() over every pattern on a Redis that dies', () => {
  let store: FaultyRedis;
  let client: Redis;

  beforeAll(async () => {
    store = (await startFaultyStore('redis')) as FaultyRedis;
    client = store.newClient() as Redis;
  }, 30_000);

  afterAll(async () => {
    if (client) closeClientNow(client);
    await store?.stop();
  });

  it('turns degraded while the store is down, ok when it is back, down once closed', async () => {
    await store.restore();
    const set = policies(client, `health-local-${process.pid}`, 'local');
    try {
      await set.touch();
      const healthy = health(...set.list);
      expect(healthy.status).toBe('ok');
      expect(healthy.policies.map((p) => [p.name, p.pattern, p.store.kind])).toEqual([
        ['payments', 'circuit-breaker', 'redis'],
        ['clients', 'rate-limit', 'redis'],
        ['upstream', 'bulkhead', 'redis'],
        ['retries', 'retry', 'redis'],
        ['products', 'cache', 'redis'],
      ]);

      await store.refuse();
      await set.touch();
      await eventually(() => {
        const report = health(...set.list);
        expect(report.policies.map((p) => p.status)).toEqual(Array(5).fill('degraded'));
        expect(report.status).toBe('degraded');
      });

      await store.restore();
      await eventually(() => expect(health(...set.list).status).toBe('ok'), 10_000);
    } finally {
      await set.close();
    }
    const closed = health(...set.list);
    expect(closed.status).toBe('down');
    expect(closed.policies.every((p) => p.state === 'closed')).toBe(true);
  }, 30_000);

  it("reports 'down' for policies whose store fails under 'fail-closed'", async () => {
    await store.restore();
    const set = policies(client, `health-closed-${process.pid}`, 'fail-closed');
    try {
      await set.touch();
      expect(health(...set.list).status).toBe('ok');
      await store.refuse();
      await set.touch();
      await eventually(() => {
        const report = health(...set.list);
        expect(report.status).toBe('down');
        expect(report.policies.map((p) => p.status)).toEqual(Array(5).fill('down'));
      });
    } finally {
      await set.close();
      await store.restore();
    }
  }, 30_000);
});
