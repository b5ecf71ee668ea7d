import { isStoreError, isStoreTimeoutError } from '@breakwater/core';
import { fakeClock } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import { isRateLimitedError, rateLimiter } from '../index.js';
import { scriptedStore } from './helpers.js';

describe('onStoreError', () => {
  it("'fail-open' admits while the store fails, and reports the degradation", async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'open',
      limit: 1,
      intervalMs: 60_000,
      store,
      clock,
      onStoreError: 'fail-open',
    });
    const changes: string[] = [];
    limiter.onStoreStatusChange((change) => changes.push(change.status));
    store.failure = new Error('ECONNREFUSED');
    for (let i = 0; i < 3; i++) {
      expect(await limiter.limit('k')).toMatchObject({ allowed: true, source: 'degraded' });
    }
    // Only the first call tried the store; the next probe is due a second later.
    expect(store.calls.consume).toBe(1);
    expect(limiter.storeStatus).toBe('degraded');
    store.failure = undefined;
    expect(await limiter.limit('k')).toMatchObject({ source: 'degraded' });
    await clock.advance(1000);
    expect(await limiter.limit('k')).toMatchObject({ allowed: true, source: 'store' });
    expect(limiter.storeStatus).toBe('healthy');
    expect(changes).toEqual(['degraded', 'healthy']);
  });

  it("'fail-closed' denies, and execute() rejects with the store error as cause", async () => {
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'closed',
      limit: 100,
      intervalMs: 1000,
      store,
      onStoreError: 'fail-closed',
      storeDeadlineMs: 250,
    });
    store.failure = new Error('ECONNREFUSED');
    expect(await limiter.limit('k')).toMatchObject({
      allowed: false,
      retryAfterMs: 250,
      source: 'degraded',
    });
    const error = await limiter.execute(() => 'never', { key: 'k' }).catch((e: unknown) => e);
    expect(isRateLimitedError(error)).toBe(true);
    expect(isStoreError((error as Error).cause)).toBe(true);
  });

  it("'local' limits each replica to limit × localShare in memory while the store is down", async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'local',
      limit: 100,
      intervalMs: 1000,
      burst: 99,
      store,
      clock,
      onStoreError: 'local',
      localShare: 0.25,
    });
    store.failure = new Error('ECONNREFUSED');
    let allowed = 0;
    for (let i = 0; i < 100; i++) {
      const decision = await limiter.limit('k');
      expect(decision.source).toBe('degraded');
      if (decision.allowed) allowed++;
    }
    // 100 × 0.25 = 25 per second, burst 99 × 0.25 → 25.75 at once.
    expect(allowed).toBe(25);
    await clock.advance(40);
    expect(await limiter.limit('k')).toMatchObject({ allowed: true, source: 'degraded' });
  });

  it('bounds a hung store by the deadline; while one call probes it, the others do not wait', async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'hang',
      limit: 10,
      intervalMs: 1000,
      store,
      clock,
      storeDeadlineMs: 50,
      onStoreError: 'fail-closed',
    });
    store.failure = 'hang';
    let started = performance.now();
    expect(await limiter.limit('k')).toMatchObject({ allowed: false, source: 'degraded' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    const lastError = (limiter as unknown as { calls: { lastError: unknown } }).calls.lastError;
    expect(isStoreTimeoutError(lastError)).toBe(true);

    await clock.advance(1000);
    const probe = limiter.limit('a');
    started = performance.now();
    expect(await limiter.limit('b')).toMatchObject({ allowed: false, source: 'degraded' });
    expect(performance.now() - started).toBeLessThan(25);
    await probe;
    store.failure = undefined;
    await clock.advance(1000);
    expect(await limiter.limit('c')).toMatchObject({ allowed: true, source: 'store' });
  });
});
