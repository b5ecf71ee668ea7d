import { fakeClock } from '@breakwater/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryStore, rateLimiter } from '../index.js';
import { scriptedStore } from './helpers.js';

describe('reservation mode', () => {
  it('takes a batch per round trip and hands it out locally', async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'res',
      limit: 100,
      intervalMs: 1000,
      burst: 19,
      store,
      clock,
      reserve: { batch: 10 },
    });
    const sources: string[] = [];
    for (let i = 0; i < 20; i++) sources.push((await limiter.limit('k')).source);
    expect(store.calls.consume).toBe(2);
    expect(sources.filter((s) => s === 'reservation')).toHaveLength(18);
  });

  it('concurrent callers wait for the batch on its way instead of each fetching one', async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'res-concurrent',
      limit: 100,
      intervalMs: 1000,
      burst: 19,
      store,
      clock,
      reserve: { batch: 10 },
    });
    const decisions = await Promise.all(Array.from({ length: 20 }, () => limiter.limit('k')));
    expect(decisions.every((d) => d.allowed)).toBe(true);
    expect(store.calls.consume).toBe(2);
  });

  it('near the limit, settles for the call cost instead of a full batch', async () => {
    const clock = fakeClock(0);
    const limiter = rateLimiter({
      name: 'tail',
      limit: 10,
      intervalMs: 1000,
      burst: 4,
      clock,
      reserve: { batch: 4 },
    });
    let allowed = 0;
    for (let i = 0; i < 10; i++) if ((await limiter.limit('k')).allowed) allowed++;
    expect(allowed).toBe(5); // burst + 1: batches of 4, then 1
  });

  it('returns unused permits on close()', async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'ret',
      limit: 10,
      intervalMs: 1000,
      burst: 9,
      store,
      clock,
      reserve: { batch: 10 },
    });
    await limiter.limit('k'); // takes 10, uses 1
    await limiter.close();
    expect(store.calls.refund).toBe(1);
    const fresh = rateLimiter({ name: 'ret', limit: 10, intervalMs: 1000, burst: 9, store, clock });
    expect(await fresh.peek('k', { cost: 9 })).toMatchObject({ allowed: true });
  });

  it('drops permits older than holdMs', async () => {
    const clock = fakeClock(0);
    const limiter = rateLimiter({
      name: 'hold',
      limit: 10,
      intervalMs: 1000,
      burst: 9,
      clock,
      reserve: { batch: 5, holdMs: 100 },
    });
    expect((await limiter.limit('k')).source).toBe('store');
    expect((await limiter.limit('k')).source).toBe('reservation');
    await clock.advance(100);
    expect((await limiter.limit('k')).source).toBe('store');
  });

  it('the fleet admits at most limit + burst + replicas × (batch − 1) in any interval', () => {
    fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 5 }), // replicas
        fc.integer({ min: 2, max: 6 }), // batch
        fc.array(fc.record({ replica: fc.nat(), gap: fc.integer({ min: 0, max: 30 }) }), {
          minLength: 50,
          maxLength: 300,
        }),
        async (replicas, batch, calls) => {
          const clock = fakeClock(0);
          const store = memoryStore();
          const limit = 20;
          const burst = 9;
          const intervalMs = 1000;
          const limiters = Array.from({ length: replicas }, () =>
            rateLimiter({
              name: 'fleet',
              limit,
              intervalMs,
              burst,
              store,
              clock,
              reserve: { batch, holdMs: 5000 },
            }),
          );
          const admitted: number[] = [];
          for (const { replica, gap } of calls) {
            await clock.advance(gap);
            if ((await limiters[replica % replicas]!.limit('k')).allowed)
              admitted.push(clock.now());
          }
          let worst = 0;
          for (let i = 0; i < admitted.length; i++) {
            let n = 0;
            for (let j = i; j < admitted.length && admitted[j]! < admitted[i]! + intervalMs; j++)
              n++;
            worst = Math.max(worst, n);
          }
          expect(worst).toBeLessThanOrEqual(limit + burst + replicas * (batch - 1));
        },
      ),
      { numRuns: 60 },
    );
  });
});
