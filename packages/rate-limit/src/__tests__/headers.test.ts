import { fakeClock } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import { rateLimiter, rateLimitHeaders } from '../index.js';

describe('rateLimitHeaders()', () => {
  it('advertises the policy and the state, and Retry-After on denials', async () => {
    const clock = fakeClock(0);
    const limiter = rateLimiter({
      name: 'partner-api',
      limit: 2,
      intervalMs: 1000,
      burst: 1,
      clock,
    });
    expect(rateLimitHeaders(await limiter.limit('k'), limiter)).toEqual({
      'RateLimit-Policy': '"partner-api";q=2;w=1',
      RateLimit: '"partner-api";r=1;t=1',
    });
    await limiter.limit('k');
    expect(rateLimitHeaders(await limiter.limit('k'), limiter)).toEqual({
      'RateLimit-Policy': '"partner-api";q=2;w=1',
      RateLimit: '"partner-api";r=0;t=1',
      'Retry-After': '1',
    });
  });

  it('lists every limit and points RateLimit at the binding one', async () => {
    const clock = fakeClock(0);
    const limiter = rateLimiter({
      name: 'tenant "x"',
      limits: [
        { limit: 10, intervalMs: 1000, burst: 9 },
        { limit: 3, intervalMs: 86_400_000, burst: 2 },
      ],
      clock,
    });
    for (let i = 0; i < 3; i++) await limiter.limit('t');
    const headers = rateLimitHeaders(await limiter.limit('t'), limiter);
    expect(headers).toEqual({
      'RateLimit-Policy': '"tenant \\"x\\"/1";q=10;w=1, "tenant \\"x\\"/2";q=3;w=86400',
      RateLimit: '"tenant \\"x\\"/2";r=0;t=28800',
      'Retry-After': '28800',
    });
  });
});
