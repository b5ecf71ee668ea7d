import { fakeClock } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import { rateLimiter } from '../index.js';

/**
 * Hand-computed GCRA vectors. limit 10 per 1000 ms, burst 2:
 * emission interval T = 100 ms, capacity = burst + 1 = 3, tolerance = 3 × T = 300 ms.
 * A call of cost c at time t is admitted iff max(TAT, t) + c·T − t ≤ 300; then TAT += c·T.
 */
const vectors: [
  t: number,
  cost: number,
  allowed: boolean,
  remaining: number,
  retryAfterMs: number,
  resetAfterMs: number,
][] = [
  [0, 1, true, 2, 0, 100], // TAT 0 → 100
  [0, 1, true, 1, 0, 200], // TAT → 200
  [0, 1, true, 0, 0, 300], // TAT → 300
  [0, 1, false, 0, 100, 300], // 300 + 100 − 0 = 400 > 300; retry at TAT + (1 − 3)·T = 100
  [50, 1, false, 0, 50, 250], // 400 − 50 = 350 > 300; retry at 100, 50 from now
  [100, 1, true, 0, 0, 300], // 400 − 100 = 300 ≤ 300: admitted exactly on time; TAT → 400
  [250, 2, false, 1, 50, 150], // 400 + 200 − 250 = 350 > 300; retry at 400 − 100 = 300
  [300, 2, true, 0, 0, 300], // 400 + 200 − 300 = 300: admitted; TAT → 600
  [1000, 1, true, 2, 0, 100], // TAT 600 is in the past: the key is idle again; TAT → 1100
  [1000, 3, false, 2, 100, 100], // 1100 + 300 − 1000 = 400 > 300; retry at 1100 + 0 = 1100
  [1100, 3, true, 0, 0, 300], // idle exactly at 1100: the full capacity of 3 passes; TAT → 1400
];

describe('gcra', () => {
  it('matches hand-computed vectors', async () => {
    const clock = fakeClock(0);
    const limiter = rateLimiter({
      name: 'vectors',
      limit: 10,
      intervalMs: 1000,
      burst: 2,
      clock,
      denyCache: false,
    });
    for (const [t, cost, allowed, remaining, retryAfterMs, resetAfterMs] of vectors) {
      clock.set(t);
      const decision = await limiter.limit('k', { cost });
      expect({ t, cost, ...decision }).toEqual({
        t,
        cost,
        allowed,
        limit: 10,
        intervalMs: 1000,
        remaining,
        retryAfterMs,
        resetAfterMs,
        source: 'store',
      });
    }
  });

  it('admits a quiet key burst + 1 at once, then one call per emission interval', async () => {
    const clock = fakeClock(1_700_000_000_000);
    const limiter = rateLimiter({
      name: 'pace',
      limit: 4,
      intervalMs: 1000,
      burst: 1,
      clock,
      denyCache: false,
    });
    const at0 = [];
    for (let i = 0; i < 3; i++) at0.push((await limiter.limit('k')).allowed);
    expect(at0).toEqual([true, true, false]);
    await clock.advance(249);
    expect((await limiter.limit('k')).allowed).toBe(false);
    await clock.advance(1);
    expect((await limiter.limit('k')).allowed).toBe(true);
  });

  it('refuses a cost larger than burst + 1, which could never pass, instead of waiting forever', async () => {
    const limiter = rateLimiter({ name: 'big', limit: 10, intervalMs: 1000, burst: 2 });
    await expect(limiter.limit('k', { cost: 4 })).rejects.toThrow(
      'Expected `cost` to be at most 3 (the most the limits can ever admit at once), got 4',
    );
    await expect(limiter.acquire('k', { cost: 4 })).rejects.toThrow(RangeError);
  });
});
