/**
 * A Redis-backed budget during an outage of its Redis: refused (the server stopped) and hung
 * (SIGSTOP). Every decision settles within the store deadline, at once while degraded; the
 * background probe brings the store back; close() completes whatever the state of Redis.
 */
import { isStoreError, isStoreTimeoutError, type StoreStatusChange } from '@breakwater/core';
import { describeWithRedis } from '@breakwater/testkit';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { retryBudget } from '../index.js';
import { redisBudgetStore } from '../redis.js';
import { type PrivateRedis, privateRedis, SLACK_MS, timed } from './outage.js';

const DEADLINE_MS = 200;

describeWithRedis('retry budget in a Redis outage', () => {
  let redis: PrivateRedis;
  beforeEach(async () => {
    redis = await privateRedis();
  });
  afterEach(async () => {
    await redis.cleanup();
  });

  const budgetOn = (r: PrivateRedis) => {
    const budget = retryBudget({
      name: 'outage',
      store: redisBudgetStore({ client: r.client, prefix: 'outage' }),
      onStoreError: 'fail-closed',
      minPerSecond: 100,
      storeDeadlineMs: DEADLINE_MS,
      storeFailureThreshold: 2,
      storeProbeIntervalMs: 50,
    });
    const changes: StoreStatusChange[] = [];
    budget.onStoreStatusChange((change) => changes.push(change));
    return { budget, changes };
  };

  for (const fault of ['refused', 'hung'] as const) {
    it(`${fault}: decisions settle within the deadline, then at once while degraded; close() completes`, async () => {
      const { budget, changes } = budgetOn(redis);
      expect((await budget.tryAcquire()).granted).toBe(true);
      if (fault === 'refused') await redis.refuse();
      else redis.hang();

      for (let i = 0; i < 2; i++) {
        const { ms, value } = await timed(budget.tryAcquire());
        expect(value?.granted).toBe(false);
        expect(ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
      }
      expect(budget.storeStatus).toBe('degraded');
      const error = changes[0]?.error;
      expect(isStoreError(error)).toBe(true);
      expect(error).toMatchObject({ store: 'redis', operation: 'withdraw' });
      // The offline queue holds commands while the client reconnects: a timeout either way.
      expect(isStoreTimeoutError(error)).toBe(true);

      const { ms } = await timed(budget.tryAcquire());
      expect(ms).toBeLessThan(20);

      budget.recordCall();
      const closing = await timed(budget.close());
      expect(closing.error).toBeUndefined();
      expect(closing.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
    });

    it(`${fault}: close() with a decision and a deposit in flight completes within the deadline`, async () => {
      const { budget } = budgetOn(redis);
      if (fault === 'refused') await redis.refuse();
      else redis.hang();
      budget.recordCall(); // the first call deposits at once
      const decision = budget.tryAcquire();
      const closing = await timed(budget.close());
      expect(closing.error).toBeUndefined();
      expect(closing.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
      expect((await decision).granted).toBe(false);
    });
  }

  it('the background probe notices Redis is back, with no call made meanwhile', async () => {
    const { budget, changes } = budgetOn(redis);
    await redis.refuse();
    await budget.tryAcquire();
    await budget.tryAcquire();
    expect(budget.storeStatus).toBe('degraded');
    await redis.restore();
    await expect.poll(() => budget.storeStatus, { timeout: 5_000, interval: 20 }).toBe('healthy');
    expect(changes.map((c) => c.status)).toEqual(['degraded', 'healthy']);
    expect((await budget.tryAcquire()).granted).toBe(true);
    await budget.close();
  });
});
