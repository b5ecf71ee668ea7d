// Limits per key (a `limits` function): the plan cache (hits call nothing, TTL, bound, shared
// misses), tenants on different plans, and every way a plan can fail — each denies the call with
// a LimitSourceError naming the key and the `limits` function, without a store call.
import { fakeClock, installOtel } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  isLimitSourceError,
  isRateLimitedError,
  type LimitOptions,
  type LimitsFunction,
  METRIC_DECISIONS,
  type PlanLimits,
  type RateLimitDecision,
  rateLimiter,
  rateLimitHeaders,
} from '../index.js';
import { scriptedStore } from './helpers.js';

const MINUTE = 60_000;
const GOLD: LimitOptions = { limit: 5, intervalMs: MINUTE, algorithm: 'fixed-window' };
const FREE: LimitOptions = { limit: 2, intervalMs: MINUTE, algorithm: 'fixed-window' };

/** A `limits` function by tenant prefix, counting its calls per key. */
function tenants(plans: Record<string, PlanLimits> = { gold: GOLD, free: FREE }) {
  const calls: string[] = [];
  const resolve: LimitsFunction = (key) => {
    calls.push(key);
    const plan = plans[key.split(':')[0]!];
    if (plan === undefined) throw new Error(`no tenant for ${key}`);
    return plan;
  };
  return { resolve, calls };
}

async function admitted(limit: () => Promise<RateLimitDecision>, tries: number): Promise<number> {
  let count = 0;
  for (let i = 0; i < tries; i++) if ((await limit()).allowed) count++;
  return count;
}

let otel: ReturnType<typeof installOtel> | undefined;
afterEach(async () => {
  await otel?.uninstall();
  otel = undefined;
});

describe('limits per key (a `limits` function)', () => {
  it('gives two tenants their own limits, each key its own state', async () => {
    const clock = fakeClock(0);
    const { resolve } = tenants();
    const limiter = rateLimiter({ name: 'plans', limits: resolve, clock });
    expect(await admitted(() => limiter.limit('gold:a'), 10)).toBe(5);
    expect(await admitted(() => limiter.limit('free:a'), 10)).toBe(2);
    // Another key on the same plan has its own allowance.
    expect(await admitted(() => limiter.limit('gold:b'), 10)).toBe(5);
    const denied = await limiter.limit('free:a');
    expect(denied).toMatchObject({ allowed: false, limit: 2, intervalMs: MINUTE, source: 'store' });
    expect(limiter.limits).toEqual([]);
  });

  it('calls the function once per key while its plan is cached, and again after ttlMs', async () => {
    const clock = fakeClock(0);
    const plans: Record<string, PlanLimits> = { t: { limit: 1, intervalMs: 1000 } };
    const { resolve, calls } = tenants(plans);
    const limiter = rateLimiter({
      name: 'ttl',
      limits: resolve,
      planCache: { ttlMs: 5000 },
      clock,
    });
    await limiter.limit('t:1');
    await limiter.limit('t:1');
    await limiter.peek('t:1');
    await limiter.penalty('t:1');
    expect(calls).toEqual(['t:1']);
    // A cached plan is decided without an await beyond the decision's own: it has settled by
    // the next microtask, like a decision under fixed limits.
    let settled = false;
    void limiter.limit('t:1').then(() => {
      settled = true;
    });
    await Promise.resolve();
    expect(settled).toBe(true);

    plans.t = { limit: 100, intervalMs: 1000 };
    await clock.advance(4999);
    expect(await limiter.limit('t:1')).toMatchObject({ limit: 1 });
    expect(calls).toEqual(['t:1']);
    await clock.advance(1);
    expect(await limiter.limit('t:1')).toMatchObject({ limit: 100, allowed: true });
    expect(calls).toEqual(['t:1', 't:1']);
  });

  it('shares one call of an async function between concurrent misses of a key', async () => {
    const clock = fakeClock(0);
    let calls = 0;
    let answer!: (limits: PlanLimits) => void;
    const limiter = rateLimiter({
      name: 'async',
      clock,
      limits: () => {
        calls++;
        return new Promise<PlanLimits>((resolve) => {
          answer = resolve;
        });
      },
    });
    const decisions = [limiter.limit('k'), limiter.limit('k'), limiter.limit('k')];
    await Promise.resolve();
    expect(calls).toBe(1);
    answer({ limit: 2, intervalMs: MINUTE, algorithm: 'fixed-window' });
    expect((await Promise.all(decisions)).map((d) => d.allowed)).toEqual([true, true, false]);
    expect(calls).toBe(1);
  });

  it('keeps at most planCache.maxKeys plans', async () => {
    const { resolve, calls } = tenants({ t: { limit: 10, intervalMs: MINUTE } });
    const limiter = rateLimiter({ name: 'bound', limits: resolve, planCache: { maxKeys: 2 } });
    for (const key of ['t:1', 't:2', 't:3', 't:1']) await limiter.limit(key);
    // t:1 was dropped when t:3 came in: asked again.
    expect(calls).toEqual(['t:1', 't:2', 't:3', 't:1']);
    const plans = (limiter as unknown as { inForce: { plans: { size: number } } }).inForce.plans;
    expect(plans.size).toBe(2);
  });

  it.each([
    [
      'throws',
      (): PlanLimits => {
        throw new Error('plans table unreachable');
      },
      /plans table unreachable/,
    ],
    ['rejects', () => Promise.reject(new Error('plans table timed out')), /plans table timed out/],
    [
      'returns an invalid limit',
      () => ({ limit: -1, intervalMs: 1000 }),
      /`limit` to be a finite number > 0, got -1/,
    ],
    [
      'returns no limits',
      () => undefined as unknown as PlanLimits,
      /`limits` to be an object, got undefined/,
    ],
    [
      'returns an invalid entry',
      () => [
        { limit: 1, intervalMs: 1000 },
        { limit: 1, intervalMs: 0 },
      ],
      /`limits\[1\]\.intervalMs`/,
    ],
    [
      'returns a perReplica limit',
      () => ({ limit: { perReplica: 1 }, intervalMs: 1000 }),
      /without `\{ perReplica \}`/,
    ],
  ] satisfies [string, LimitsFunction, RegExp][])(
    'denies the call, naming the key and the `limits` function, when the function %s',
    async (_what, resolve, cause) => {
      otel = installOtel();
      const store = scriptedStore();
      const limiter = rateLimiter({ name: 'bad', limits: resolve, store });
      const decision = await limiter.limit('tenant-7');
      expect(decision).toMatchObject({
        allowed: false,
        source: 'limit-source',
        limit: 0,
        intervalMs: 0,
        remaining: 0,
      });
      expect(decision.retryAfterMs).toBeGreaterThan(0);
      const error = decision.error;
      expect(isLimitSourceError(error)).toBe(true);
      expect(error?.message).toMatch(
        /^Rate limit "bad": the `limits` function gave no valid limits for key "tenant-7": /,
      );
      expect(error?.message).toMatch(cause);
      expect(error).toMatchObject({ key: 'tenant-7', policyName: 'bad' });
      expect(String((error?.cause as Error | undefined)?.message)).toMatch(cause);
      // Never the store's fault, and never asked of it.
      expect(store.calls.consume).toBe(0);
      expect(limiter.storeStatus).toBe('healthy');
      expect(
        await otel.sum(METRIC_DECISIONS, {
          'breakwater.rate_limit.decision': 'denied',
          'breakwater.rate_limit.source': 'limit-source',
        }),
      ).toBe(1);
      // A failure is not cached: the next call asks again, and execute()/acquire() refuse at once.
      const rejected = await limiter.execute(() => 'ran', { key: 'tenant-7' }).catch((e) => e);
      expect(isRateLimitedError(rejected)).toBe(true);
      expect(isLimitSourceError((rejected as Error).cause)).toBe(true);
      const waited = await limiter.acquire('tenant-7', { maxWaitMs: 60_000 }).catch((e) => e);
      expect(isRateLimitedError(waited)).toBe(true);
      expect(await limiter.peek('tenant-7')).toMatchObject({ source: 'limit-source' });
      await expect(limiter.penalty('tenant-7')).rejects.toSatisfy(isLimitSourceError);
      await expect(limiter.reset('tenant-7')).rejects.toSatisfy(isLimitSourceError);
      expect(store.calls).toMatchObject({ consume: 0, peek: 0, adjust: 0, reset: 0 });
      const headers = rateLimitHeaders(decision, limiter);
      expect(headers['Retry-After']).toBe('1');
      expect(headers.RateLimit).toBe('"bad";r=0;t=1');
      await limiter.close();
    },
  );

  it('peeks, penalises, rewards and resets under the key’s plan', async () => {
    const clock = fakeClock(0);
    const { resolve } = tenants();
    const limiter = rateLimiter({ name: 'ops', limits: resolve, clock });
    expect(await limiter.peek('gold:x')).toMatchObject({ allowed: true, remaining: 5, limit: 5 });
    expect(await limiter.penalty('gold:x', 4)).toMatchObject({ remaining: 1, limit: 5 });
    expect(await limiter.reward('gold:x', 2)).toMatchObject({ remaining: 3 });
    expect(await admitted(() => limiter.limit('gold:x'), 10)).toBe(3);
    await limiter.reset('gold:x');
    expect(await admitted(() => limiter.limit('gold:x'), 10)).toBe(5);
    // A cost the key's plan can never admit is refused like one fixed limits never admit.
    await expect(limiter.limit('free:x', { cost: 3 })).rejects.toThrow(
      'Expected `cost` to be at most 2',
    );
    expect(await limiter.limit('gold:y', { cost: 3 })).toMatchObject({ allowed: true });
  });

  it('setLimits() takes a new function, dropping the cached plans', async () => {
    const clock = fakeClock(0);
    const { resolve } = tenants();
    const limiter = rateLimiter({ name: 'swap', limits: resolve, clock });
    expect(await limiter.limit('gold:a')).toMatchObject({ limit: 5 });
    limiter.setLimits(() => ({ limit: 50, intervalMs: MINUTE }));
    expect(await limiter.limit('gold:a')).toMatchObject({ limit: 50 });
    expect(() => limiter.setLimits({ limit: 1, intervalMs: 1000 })).toThrow(
      'Expected `limits` of the kind rate limiter "swap" was built with (a function), got fixed limits',
    );
    await expect(
      limiter.setLimits({ limit: 1, intervalMs: 1000 }, { fleet: true }),
    ).rejects.toThrow(/takes its limits from a function, which cannot be published/);
    const fixed = rateLimiter({ name: 'fixed', limit: 1, intervalMs: 1000 });
    expect(() => fixed.setLimits(() => GOLD)).toThrow(
      'Expected `limits` of the kind rate limiter "fixed" was built with (fixed limits), got a function',
    );
  });

  it('under onStoreError "local", a failing store leaves each plan its local share', async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const { resolve } = tenants();
    const limiter = rateLimiter({
      name: 'local-plans',
      limits: resolve,
      store,
      clock,
      localShare: 0.4,
      denyCache: false,
    });
    store.failure = new Error('store down');
    // 40 % of each plan: 2 of gold's 5, 0.8 (nothing whole) of free's 2.
    expect(await admitted(() => limiter.limit('gold:a'), 10)).toBe(2);
    expect(await admitted(() => limiter.limit('free:a'), 10)).toBe(0);
    const degraded = await limiter.limit('gold:a');
    expect(degraded).toMatchObject({ source: 'degraded', allowed: false });
    await limiter.close();
  });

  it('is decided by the store under the plan with a remote store, and advertised in headers', async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const { resolve } = tenants();
    const limiter = rateLimiter({ name: 'remote-plans', limits: resolve, store, clock });
    expect(await admitted(() => limiter.limit('free:a'), 3)).toBe(2);
    // The second took the last unit: the deny cache answers after it, under the plan's limit.
    expect(await limiter.limit('free:a')).toMatchObject({ source: 'local-cache', limit: 2 });
    expect(store.calls.consume).toBe(2);
    const decision = await limiter.limit('gold:a');
    expect(rateLimitHeaders(decision, limiter)['RateLimit-Policy']).toBe('"remote-plans";q=5;w=60');
    await limiter.close();
  });
});
