import { getEventListeners } from 'node:events';
import { pipeline, timeout } from '@breakwater/core';
import { fakeClock } from '@breakwater/testkit';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { isRateLimitedError, memoryStore, RateLimitedError, rateLimiter } from '../index.js';
import { scriptedStore } from './helpers.js';

describe('rateLimiter()', () => {
  it('inside a pipeline, counts the call against the key and cost given to the pipeline', async () => {
    const limiter = rateLimiter({ name: 'piped', limit: 1, intervalMs: 60_000, burst: 4 });
    const composed = pipeline(timeout({ ms: 1_000 }), limiter);
    type Options = NonNullable<Parameters<typeof composed.execute<string>>[1]>;
    expectTypeOf<Options>().toHaveProperty('key').toEqualTypeOf<string | undefined>();
    expectTypeOf<Options>().toHaveProperty('cost').toEqualTypeOf<number | undefined>();
    await expect(composed.execute(() => 'ok', { key: 'tenant-42', cost: 2 })).resolves.toBe('ok');
    expect((await limiter.peek('tenant-42')).remaining).toBe(3);
    expect((await limiter.peek('tenant-7')).remaining).toBe(5);
    await expect(
      composed.execute(() => 'ok', { key: 'tenant-42', cost: 4 }),
    ).rejects.toBeInstanceOf(RateLimitedError);
  });

  it('limit() consumes; peek() does not; reset() restores the allowance', async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'basic',
      limit: 2,
      intervalMs: 1000,
      burst: 1,
      clock,
      store,
    });
    expect(await limiter.peek('k')).toMatchObject({ allowed: true, remaining: 2 });
    expect(await limiter.limit('k')).toMatchObject({ allowed: true, remaining: 1 });
    expect(await limiter.peek('k', { cost: 2 })).toMatchObject({
      allowed: false,
      remaining: 1,
      retryAfterMs: 500,
    });
    expect(await limiter.limit('k')).toMatchObject({ allowed: true, remaining: 0 });
    // That took the last unit, so the limiter knows the next call's answer without asking.
    expect(await limiter.limit('k')).toMatchObject({
      allowed: false,
      retryAfterMs: 500,
      source: 'local-cache',
    });
    expect(await limiter.limit('other')).toMatchObject({ allowed: true });
    await limiter.reset('k');
    expect(await limiter.limit('k')).toMatchObject({
      allowed: true,
      remaining: 1,
      source: 'store',
    });
  });

  it('answers a denied key from the deny cache until it may pass, with no store call', async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'deny',
      limit: 10,
      intervalMs: 1000,
      burst: 1,
      store,
      clock,
    });
    expect((await limiter.limit('k')).allowed).toBe(true);
    // Cost 2 does not fit what is left: the store denies, and says until when.
    expect(await limiter.limit('k', { cost: 2 })).toMatchObject({
      allowed: false,
      retryAfterMs: 100,
      source: 'store',
    });
    const before = store.calls.consume;
    for (let i = 0; i < 50; i++) {
      expect(await limiter.limit('k', { cost: 2 })).toMatchObject({
        allowed: false,
        source: 'local-cache',
      });
    }
    await clock.advance(60);
    expect(await limiter.limit('k', { cost: 2 })).toMatchObject({
      allowed: false,
      retryAfterMs: 40,
      source: 'local-cache',
    });
    expect(store.calls.consume).toBe(before);
    await clock.advance(40);
    expect(await limiter.limit('k', { cost: 2 })).toMatchObject({ allowed: true, source: 'store' });
    expect(store.calls.consume).toBe(before + 1);
  });

  it('drops a cached denial when the clock went back past the time it was cached', async () => {
    const clock = fakeClock(1_000_000);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'jump',
      limit: 10,
      intervalMs: 1000,
      burst: 1,
      store,
      clock,
    });
    expect((await limiter.limit('k')).allowed).toBe(true);
    // The clock jumps 30 s ahead (an NTP step); the store then denies cost 2 for 100 ms.
    clock.set(1_030_000);
    expect((await limiter.limit('k')).allowed).toBe(true);
    expect(await limiter.limit('k', { cost: 2 })).toMatchObject({
      allowed: false,
      source: 'store',
    });
    expect((await limiter.limit('k', { cost: 2 })).source).toBe('local-cache');
    // Back to the true time: the cached `until` lies 30 s ahead; asking the store again is right.
    clock.set(1_000_050);
    const before = store.calls.consume;
    expect((await limiter.limit('k', { cost: 2 })).source).toBe('store');
    expect(store.calls.consume).toBe(before + 1);
  });

  it('keeps the deny cache bounded', async () => {
    const limiter = rateLimiter({
      store: scriptedStore(),
      name: 'bounded',
      limit: 1,
      intervalMs: 60_000,
      denyCache: { maxKeys: 3 },
    });
    for (let i = 0; i < 10; i++) {
      await limiter.limit(`k${i}`);
      await limiter.limit(`k${i}`);
    }
    expect((limiter as unknown as { denyCache: { size: number } }).denyCache.size).toBe(3);
  });

  it('several limits: consumes all or none, and reports the binding one', async () => {
    const clock = fakeClock(0);
    const limiter = rateLimiter({
      name: 'tenant',
      limits: [
        { limit: 10, intervalMs: 1000, burst: 9 },
        { limit: 15, intervalMs: 86_400_000, burst: 14 },
      ],
      clock,
      denyCache: false,
    });
    let allowed = 0;
    for (let i = 0; i < 12; i++) if ((await limiter.limit('t')).allowed) allowed++;
    expect(allowed).toBe(10); // the per-second limit binds first
    const denied = await limiter.limit('t');
    expect(denied).toMatchObject({ allowed: false, limit: 10, intervalMs: 1000 });
    await clock.advance(1000);
    for (let i = 0; i < 10; i++) await limiter.limit('t');
    const daily = await limiter.limit('t');
    expect(daily).toMatchObject({ allowed: false, limit: 15, intervalMs: 86_400_000 });
    // The denied calls consumed nothing from the per-second limit either.
    await limiter.reset('t');
    expect(await limiter.limit('t', { cost: 10 })).toMatchObject({ allowed: true });
  });

  it('acquire() sleeps exactly until the store admits, serving waiters in order', async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({ name: 'acq', limit: 10, intervalMs: 1000, store, clock });
    const order: number[] = [];
    const waits = [0, 1, 2, 3].map((i) => limiter.acquire('k').then(() => order.push(i)));
    await clock.advance(0);
    expect(order).toEqual([0]);
    await clock.advance(99);
    expect(order).toEqual([0]);
    await clock.advance(1);
    expect(order).toEqual([0, 1]);
    await clock.advance(200);
    await Promise.all(waits);
    expect(order).toEqual([0, 1, 2, 3]);
    // One store call per admission: waiters behind the head do not poll, and the admission that
    // took the last unit tells the next head how long to sleep.
    expect(store.calls.consume).toBe(4);
  });

  it('acquire() rejects at once when the wait would exceed maxWaitMs', async () => {
    const clock = fakeClock(0);
    const limiter = rateLimiter({ name: 'max', limit: 1, intervalMs: 1000, clock });
    await limiter.acquire('k');
    const error = await limiter.acquire('k', { maxWaitMs: 500 }).catch((e: unknown) => e);
    expect(isRateLimitedError(error)).toBe(true);
    expect(error).toMatchObject({ policyName: 'max', retryAfterMs: 1000 });
    await expect(limiter.acquire('k', { maxWaitMs: 0 })).rejects.toBeInstanceOf(RateLimitedError);
  });

  it('acquire() honours its signal, leaving no listener behind', async () => {
    const clock = fakeClock(0);
    const limiter = rateLimiter({ name: 'abort', limit: 1, intervalMs: 1000, clock });
    await limiter.acquire('k');
    const controller = new AbortController();
    const pending = limiter.acquire('k', { signal: controller.signal });
    const queued = limiter.acquire('k', { signal: controller.signal, maxWaitMs: 5000 });
    await clock.advance(10);
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await expect(queued).rejects.toBe(reason);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(clock.pendingSleeps).toBe(0);
    // The line moved on: the next caller is served.
    const next = limiter.acquire('k');
    await clock.advance(1000);
    await expect(next).resolves.toMatchObject({ allowed: true });
  });

  it('execute() runs admitted calls and rejects the others with RateLimitedError', async () => {
    const limiter = rateLimiter({ name: 'exec', limit: 1, intervalMs: 60_000 });
    await expect(limiter.execute(() => 'ran')).resolves.toBe('ran');
    const error = await limiter.execute(() => 'ran again').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ name: 'RateLimitedError', policyName: 'exec' });
    expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(59_000);
    // Keys are separate limits; calls without a key share the policy-wide one.
    await expect(limiter.execute(({ signal }) => signal.aborted, { key: 'tenant' })).resolves.toBe(
      false,
    );
  });

  it('execute() passes the caller signal and rejects with its reason', async () => {
    const limiter = rateLimiter({ name: 'exec-signal', limit: 10, intervalMs: 1000 });
    const controller = new AbortController();
    const reason = new Error('gone');
    const run = limiter.execute(
      ({ signal }) =>
        new Promise((_resolve, reject) =>
          signal.addEventListener('abort', () => reject(new Error('late'))),
        ),
      { key: 'k', signal: controller.signal },
    );
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    await expect(limiter.execute(() => 1, { signal: AbortSignal.abort(reason) })).rejects.toBe(
      reason,
    );
  });

  it('execute({ maxWaitMs }) waits for a permit instead of rejecting', async () => {
    const clock = fakeClock(0);
    const limiter = rateLimiter({ name: 'exec-wait', limit: 10, intervalMs: 1000, clock });
    await limiter.execute(() => 1);
    const run = limiter.execute(() => 'waited', { maxWaitMs: 200 });
    await clock.advance(100);
    await expect(run).resolves.toBe('waited');
  });
});

describe('memoryStore()', () => {
  it('stays bounded under a million distinct keys, evicting idle ones without timers', async () => {
    const clock = fakeClock(0);
    const store = memoryStore();
    const limiter = rateLimiter({
      name: 'many',
      limit: 100,
      intervalMs: 1000,
      burst: 10,
      store,
      clock,
      denyCache: false,
    });
    const entries = (
      limiter as unknown as { inForce: { scoped: { handle: { entries: Map<string, unknown> } } } }
    ).inForce.scoped.handle.entries;
    let peak = 0;
    for (let i = 0; i < 1_000_000; i++) {
      await limiter.limit(`user-${i}`);
      if (i % 100 === 0) await clock.advance(1); // 100 new keys per ms; each is idle after 10 ms
      if (entries.size > peak) peak = entries.size;
    }
    expect(peak).toBeLessThan(2_000);
  }, 60_000);

  it('never holds more than maxKeys keys', async () => {
    const store = memoryStore({ maxKeys: 100 });
    const limiter = rateLimiter({ name: 'cap', limit: 1, intervalMs: 3_600_000, store });
    for (let i = 0; i < 1000; i++) await limiter.limit(`k${i}`);
    const entries = (
      limiter as unknown as { inForce: { scoped: { handle: { entries: Map<string, unknown> } } } }
    ).inForce.scoped.handle.entries;
    expect(entries.size).toBeLessThanOrEqual(100);
  });
});

describe('composition', () => {
  it('is a core Policy: pipeline(limiter, timeout) runs and rejects as each policy says', async () => {
    const { pipeline, timeout } = await import('@breakwater/core');
    const limiter = rateLimiter({ name: 'piped', limit: 1, intervalMs: 60_000 });
    const guarded = pipeline(limiter, timeout({ ms: 1_000 }));
    await expect(
      guarded.execute(({ signal }) => (signal.aborted ? 'aborted' : 'ran')),
    ).resolves.toBe('ran');
    await expect(guarded.execute(() => 'again')).rejects.toBeInstanceOf(RateLimitedError);
  });
});
