/**
 * A Redis dead-letter queue during an outage of its Redis: refused (the server stopped) and hung
 * (SIGSTOP). A retry whose `deadLetter` is the queue settles within the store deadline and keeps
 * its own error; every queue operation rejects with a StoreError within the deadline (at once
 * while degraded); close() completes; the probe brings the queue back.
 */
import { isStoreError, isStoreTimeoutError, type StoreStatusChange } from '@breakwater/core';
import { describeWithRedis } from '@breakwater/testkit';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type GiveUpEvent, type RetryFailure, retry } from '../index.js';
import { redisDeadLetters } from '../redis.js';
import { type PrivateRedis, privateRedis, SLACK_MS, timed } from './outage.js';

const DEADLINE_MS = 200;

const failure = (input: unknown): RetryFailure => ({
  policyName: 'outage',
  reason: 'max-attempts',
  attempts: 1,
  elapsedMs: 0,
  startedAt: 0,
  error: new Error('x'),
  result: undefined,
  ok: false,
  input,
  budgetError: undefined,
});

describeWithRedis('redisDeadLetters() in a Redis outage', () => {
  let redis: PrivateRedis;
  beforeEach(async () => {
    redis = await privateRedis();
  });
  afterEach(async () => {
    await redis.cleanup();
  });

  const queueOn = (r: PrivateRedis) => {
    const queue = redisDeadLetters({
      client: r.client,
      stream: 'outage',
      storeDeadlineMs: DEADLINE_MS,
      storeFailureThreshold: 2,
      storeProbeIntervalMs: 50,
    });
    const changes: StoreStatusChange[] = [];
    queue.onStoreStatusChange((change) => changes.push(change));
    return { queue, changes };
  };

  for (const fault of ['refused', 'hung'] as const) {
    it(`${fault}: a retry whose deadLetter is the queue settles within the deadline, with its own error`, async () => {
      const { queue } = queueOn(redis);
      const policy = retry({ name: 'charge', maxAttempts: 1, deadLetter: queue.append });
      const giveUps: GiveUpEvent[] = [];
      policy.onGiveUp((event) => giveUps.push(event));
      if (fault === 'refused') await redis.refuse();
      else redis.hang();

      const original = new Error('gateway down');
      for (let i = 0; i < 3; i++) {
        const { ms, error } = await timed(policy.execute(() => Promise.reject(original)));
        expect(error).toBe(original);
        expect(ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
      }
      expect(giveUps).toHaveLength(3);
      const [first, , third] = giveUps.map((event) => event.deadLetterError);
      expect(isStoreTimeoutError(first)).toBe(true);
      expect(first).toMatchObject({ store: 'redis', operation: 'append' });
      // Degraded after two failures: the third is not attempted.
      expect(queue.storeStatus).toBe('degraded');
      expect(isStoreError(third)).toBe(true);
      expect((third as Error).message).toMatch(/not attempted: the store is degraded/);
      const closing = await timed(queue.close());
      expect(closing.error).toBeUndefined();
      expect(closing.ms).toBeLessThan(SLACK_MS);
    });

    it(`${fault}: every queue operation rejects with a StoreError naming it, within the deadline`, async () => {
      const { queue, changes } = queueOn(redis);
      const id = await queue.append(failure(1));
      if (fault === 'refused') await redis.refuse();
      else redis.hang();

      // Each names the first store operation it makes (a stream named by the caller is checked
      // to exist first; without one, the streams are listed first).
      const operations: [string, () => Promise<unknown>][] = [
        ['append', () => queue.append(failure(2))],
        ['streams', () => queue.list()],
        ['hasStream', () => queue.list({ stream: 'outage' })],
        ['get', () => queue.get(id)],
        ['streams', () => queue.size()],
        ['hasStream', () => queue.size('outage')],
        ['streams', () => queue.streams()],
        ['claim', () => queue.replay(id, () => {})],
        ['streams', () => queue.replayAll(() => {})],
        ['hasStream', () => queue.replayAll(() => {}, { stream: 'outage' })],
        ['remove', () => queue.remove(id)],
        ['streams', () => queue.trim({ maxEntries: 0 })],
      ];
      for (const [operation, run] of operations) {
        const { ms, error } = await timed(run());
        expect(isStoreError(error), operation).toBe(true);
        expect(error, operation).toMatchObject({ store: 'redis', operation });
        expect(ms, operation).toBeLessThan(DEADLINE_MS + SLACK_MS);
      }
      expect(changes.map((c) => c.status)).toEqual(['degraded']);
      expect(changes[0]).toMatchObject({ pattern: 'retry', store: 'redis', policy: 'outage' });
      await queue.close();
    });

    it(`${fault}: close() with an append in flight completes within the deadline`, async () => {
      const { queue } = queueOn(redis);
      if (fault === 'refused') await redis.refuse();
      else redis.hang();
      const append = timed(queue.append(failure(1)));
      const closing = await timed(queue[Symbol.asyncDispose]());
      expect(closing.error).toBeUndefined();
      expect(closing.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
      expect(isStoreTimeoutError((await append).error)).toBe(true);
    });
  }

  it('the probe notices Redis is back; entries appended before the outage are kept', async () => {
    const { queue, changes } = queueOn(redis);
    redis.hang();
    await queue.append(failure(1)).catch(() => {});
    await queue.append(failure(2)).catch(() => {});
    expect(queue.storeStatus).toBe('degraded');
    await redis.restore();
    await expect.poll(() => queue.storeStatus, { timeout: 5_000, interval: 20 }).toBe('healthy');
    expect(changes.map((c) => c.status)).toEqual(['degraded', 'healthy']);
    await queue.append(failure(3));
    // The hung appends reached Redis after SIGCONT (the deadline only stopped the waiting).
    expect((await queue.list()).map((e) => e.input)).toEqual([1, 2, 3]);
    await queue.close();
  });
});
