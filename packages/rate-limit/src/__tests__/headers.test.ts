import { fakeClock } from '@breakwater/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALGORITHM_NAMES } from '../algorithms/index.js';
import { sustainedPerSecond } from '../headers/mapping.js';
import {
  type AlgorithmName,
  type LimitOptions,
  type RateLimitDecision,
  rateLimiter,
  rateLimitHeaders,
} from '../index.js';
import { parseServiceLimit } from './header-client.js';

/** A limiter on a fake clock at `start`, and a function that takes one call's headers at a time. */
function headersOf(options: { name?: string; limits: LimitOptions[] }, start = 0) {
  const clock = fakeClock(start);
  const limiter = rateLimiter({ name: options.name ?? 'api', limits: options.limits, clock });
  return async (at: number, cost = 1) => {
    clock.set(at);
    return rateLimitHeaders(await limiter.limit('k', { cost }), limiter);
  };
}

describe('rateLimitHeaders()', () => {
  it('gives a GCRA limit with burst 0 its rate, not one call per second', async () => {
    const call = headersOf({
      name: 'partner-api',
      limits: [{ limit: 100, intervalMs: 1000, burst: 0, algorithm: 'gcra' }],
    });
    // One unit every 10 ms: 100 in the next second, spread evenly.
    expect(await call(0)).toEqual({
      'RateLimit-Policy': '"partner-api";q=100;w=1',
      RateLimit: '"partner-api";r=100;t=1',
    });
    expect(await call(0)).toEqual({
      'RateLimit-Policy': '"partner-api";q=100;w=1',
      RateLimit: '"partner-api";r=0;t=1',
      'Retry-After': '1',
    });
    expect((await call(10)).RateLimit).toBe('"partner-api";r=100;t=1');
  });

  it('counts what is left of a bucket, over a pace window of at least 20 units', async () => {
    for (const algorithm of ['gcra', 'token-bucket'] as const) {
      const call = headersOf({ limits: [{ limit: 2, intervalMs: 1000, burst: 1, algorithm }] });
      // 2/s makes 20 units in 10 s; the bucket of 2 has 1 left after the first call, 0 after two.
      expect(await call(0)).toEqual({
        'RateLimit-Policy': '"api";q=2;w=1',
        RateLimit: '"api";r=21;t=10',
      });
      expect((await call(0)).RateLimit).toBe('"api";r=20;t=10');
      expect(await call(0)).toEqual({
        'RateLimit-Policy': '"api";q=2;w=1',
        RateLimit: '"api";r=0;t=1',
        'Retry-After': '1',
      });
    }
  });

  it('scales intervals that are not whole seconds to whole-second windows', async () => {
    const tenPer100Ms = headersOf({ limits: [{ limit: 10, intervalMs: 100, algorithm: 'gcra' }] });
    expect(await tenPer100Ms(0)).toEqual({
      'RateLimit-Policy': '"api";q=100;w=1',
      RateLimit: '"api";r=100;t=1',
    });
    const tenPer1500Ms = headersOf({
      limits: [{ limit: 10, intervalMs: 1500, algorithm: 'gcra' }],
    });
    expect(await tenPer1500Ms(0)).toEqual({
      'RateLimit-Policy': '"api";q=20;w=3',
      RateLimit: '"api";r=20;t=3',
    });
    // 7 per 333 ms makes no whole number in any of 60 windows: 21.02/s is advertised as 21.
    const sevenPer333 = headersOf({
      limits: [{ limit: 7, intervalMs: 333, algorithm: 'sliding-window' }],
    });
    expect((await sevenPer333(0))['RateLimit-Policy']).toBe('"api";q=21;w=1');
  });

  it('includes the burst in the quota of the windows, which admit it every window', async () => {
    for (const algorithm of ['fixed-window', 'sliding-window'] as const) {
      const call = headersOf({
        limits: [{ limit: 100, intervalMs: 60_000, burst: 20, algorithm }],
      });
      expect((await call(0))['RateLimit-Policy']).toBe('"api";q=120;w=60');
    }
    // A bucket's burst is spent once, not every window: it shows in r, not in q.
    const bucket = headersOf({ limits: [{ limit: 100, intervalMs: 60_000, burst: 20 }] });
    expect(await bucket(0)).toEqual({
      'RateLimit-Policy': '"api";q=100;w=60',
      RateLimit: '"api";r=40;t=12',
    });
  });

  it('paces a sliding window just under its sustained rate', async () => {
    const call = headersOf({
      limits: [{ limit: 100, intervalMs: 60_000, burst: 20, algorithm: 'sliding-window' }],
    });
    // 120 per minute makes 20 units in 10 s; each is left a little more than its 500 ms.
    expect((await call(0)).RateLimit).toBe('"api";r=19;t=10');
    expect((await call(500)).RateLimit).toBe('"api";r=19;t=10');
    // 2,500 per second: 1 µs more than the 400 µs each leaves 2,493 units in a second.
    const fast = headersOf({
      limits: [{ limit: 125, intervalMs: 50, algorithm: 'sliding-window' }],
    });
    expect((await fast(0)).RateLimit).toBe('"api";r=2493;t=1');
  });

  it("tells a fixed window's quota and its end, then paces across the end", async () => {
    const day = Date.UTC(2025, 0, 15);
    const call = headersOf(
      { limits: [{ limit: 10_000, intervalMs: 86_400_000, algorithm: 'fixed-window' }] },
      day,
    );
    // 13:00 UTC: 9,999 left until midnight, 11 hours away.
    expect(await call(day + 13 * 3_600_000)).toEqual({
      'RateLimit-Policy': '"api";q=10000;w=86400',
      RateLimit: '"api";r=9999;t=39600',
    });
    // A minute to midnight, with more than the pace's 20 units left: still the quota and its end.
    expect((await call(day + 86_340_000)).RateLimit).toBe('"api";r=9998;t=60');
    // 10 per second makes 20 units in 2 s. Within the last second of a window, the pace runs on
    // into the next one, slowed only so that what falls before the end fits what is left: 9 left,
    // 20 in 2 s puts 9 before the end. With 8 left it has to slow to 9 per second, said over the
    // 1 s that covers the rest of the window, so that it ends there.
    const second = headersOf({
      limits: [{ limit: 10, intervalMs: 1000, algorithm: 'fixed-window' }],
    });
    expect(await second(0)).toEqual({
      'RateLimit-Policy': '"api";q=10;w=1',
      RateLimit: '"api";r=20;t=2',
    });
    expect((await second(0)).RateLimit).toBe('"api";r=9;t=1');
    for (let i = 0; i < 8; i++) await second(0);
    // Nothing left, and the window ends in 1 s.
    expect(await second(0)).toEqual({
      'RateLimit-Policy': '"api";q=10;w=1',
      RateLimit: '"api";r=0;t=1',
      'Retry-After': '1',
    });
    // The last unit spent 900 ms in: 20 in 2 s puts the first one at the window's end.
    const late = headersOf({
      limits: [{ limit: 10, intervalMs: 1000, algorithm: 'fixed-window' }],
    });
    for (let i = 0; i < 9; i++) await late(900);
    expect((await late(900)).RateLimit).toBe('"api";r=20;t=2');
    // 30 per 1.5 s, first used 1 s in: 29 left for the last 0.5 s. The sustained 20 in 1 s would
    // leave 20 of them unspent; 57 in 1 s puts 28 before the end and 29 into the next window,
    // which holds 30.
    const behind = headersOf({
      limits: [{ limit: 30, intervalMs: 1500, algorithm: 'fixed-window' }],
    });
    expect(await behind(1000)).toEqual({
      'RateLimit-Policy': '"api";q=40;w=2',
      RateLimit: '"api";r=57;t=1',
    });
  });

  it('on a refusal, says what is left and sets t to Retry-After (rounded up)', async () => {
    const call = headersOf({
      limits: [{ limit: 10, intervalMs: 60_000, algorithm: 'fixed-window' }],
    });
    for (let i = 0; i < 8; i++) await call(0);
    // Cost 3 does not fit the 2 left: refused until the window ends (60 s); 2 may still be spent.
    expect(await call(0, 3)).toEqual({
      'RateLimit-Policy': '"api";q=10;w=60',
      RateLimit: '"api";r=2;t=60',
      'Retry-After': '60',
    });
    expect((await call(59_999.5, 3))['Retry-After']).toBe('1');
  });

  it('lists every limit and points RateLimit at the binding one', async () => {
    const call = headersOf({
      name: 'tenant "x"',
      limits: [
        { limit: 10, intervalMs: 1000, burst: 9 },
        { limit: 3, intervalMs: 86_400_000, burst: 2 },
      ],
    });
    for (let i = 0; i < 3; i++) await call(0);
    expect(await call(0)).toEqual({
      'RateLimit-Policy': '"tenant \\"x\\"/1";q=10;w=1, "tenant \\"x\\"/2";q=3;w=86400',
      RateLimit: '"tenant \\"x\\"/2";r=0;t=28800',
      'Retry-After': '28800',
    });
  });

  it('advertises the sustained pace while the store is down', () => {
    const policy = {
      name: 'api',
      limits: [{ limit: 100, intervalMs: 1000, burst: 0, algorithm: 'fixed-window' as const }],
    };
    const degraded: RateLimitDecision = {
      allowed: true,
      limit: 100,
      intervalMs: 1000,
      remaining: 0,
      retryAfterMs: 0,
      resetAfterMs: 0,
      source: 'degraded',
    };
    expect(rateLimitHeaders(degraded, policy).RateLimit).toBe('"api";r=100;t=1');
    expect(
      rateLimitHeaders({ ...degraded, allowed: false, retryAfterMs: 1 }, policy),
    ).toMatchObject({ RateLimit: '"api";r=0;t=1', 'Retry-After': '1' });
  });

  it('never overstates a rate, never sends a client back at once, and matches Retry-After', async () => {
    const limitArb = fc.record({
      algorithm: fc.constantFrom<AlgorithmName>(...ALGORITHM_NAMES),
      limit: fc.oneof(
        fc.integer({ min: 1, max: 1000 }),
        fc.double({ min: 1, max: 50, noNaN: true }),
      ),
      intervalMs: fc.oneof(
        fc.integer({ min: 1, max: 5000 }),
        fc.constantFrom(60_000, 3_600_000, 86_400_000),
      ),
      burst: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100 })),
    });
    const gaps = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5000 })), {
      minLength: 1,
      maxLength: 40,
    });
    await fc.assert(
      fc.asyncProperty(
        limitArb,
        fc.integer({ min: 0, max: 1e12 }),
        gaps,
        async (limit, start, steps) => {
          const call = headersOf({ limits: [limit] }, start);
          const perSecond = sustainedPerSecond(limit);
          let now = start;
          for (const gap of steps) {
            now += gap;
            const headers = await call(now);
            const policy = /^"api";q=(\d+);w=(\d+)$/.exec(headers['RateLimit-Policy']);
            expect(policy).not.toBeNull();
            const [q, w] = [Number(policy![1]), Number(policy![2])];
            expect(q).toBeGreaterThanOrEqual(1);
            expect(w).toBeGreaterThanOrEqual(Math.max(1, Math.ceil(limit.intervalMs / 1000)));
            expect(q / w).toBeLessThanOrEqual(perSecond * (1 + 1e-9));
            const { r, t } = parseServiceLimit(headers.RateLimit);
            expect(t).toBeGreaterThanOrEqual(1);
            const retryAfter = headers['Retry-After'];
            if (retryAfter !== undefined) {
              expect(retryAfter).toMatch(/^[1-9]\d*$/);
              expect(t).toBe(Number(retryAfter));
            } else if (r > 0) {
              // No more than the limit could ever admit within t: the sustained rate plus what it
              // holds at once, or for a fixed window, a window's worth in every window t reaches.
              const bound =
                limit.algorithm === 'gcra' || limit.algorithm === 'token-bucket'
                  ? perSecond * t + limit.burst + 1
                  : limit.algorithm === 'sliding-window'
                    ? perSecond * t + limit.limit + limit.burst
                    : (limit.limit + limit.burst) * (Math.ceil((t * 1000) / limit.intervalMs) + 1);
              expect(r).toBeLessThanOrEqual(bound + 1e-6);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
