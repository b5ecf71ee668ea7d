/**
 * The GCRA fast path: a limiter with one GCRA limit, no `blockDurationMs` and no `reserve` on the
 * memory store decides through the store's `consumeGcra` (one number back, the decision read from
 * it) instead of `consume` and `describeDecision`. These tests hold it to the general path: two
 * limiters on the same clock, one on a memory store whose handles lack `consumeGcra`, must give
 * the same decisions call by call, and leave the same state behind (their peeks agree too).
 */
import { fakeClock } from '@breakwater/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RateLimitDecision } from '../decision.js';
import { type RateLimiter, rateLimiter } from '../rate-limiter.js';
import type { RateLimitStore, StoreHandle } from '../store.js';
import { memoryStore } from '../stores/memory.js';

/** A memory store whose handles count their `consumeGcra` calls. */
function countingStore(): { store: RateLimitStore; fastCalls: () => number } {
  const inner = memoryStore();
  let calls = 0;
  const store: RateLimitStore = {
    ...inner,
    scope(shape) {
      const handle = inner.scope(shape);
      const counted = Object.create(handle) as StoreHandle;
      if (handle.consumeGcra !== undefined) {
        counted.consumeGcra = (key, cost, now) => {
          calls++;
          return handle.consumeGcra!(key, cost, now);
        };
      }
      return counted;
    },
  };
  return { store, fastCalls: () => calls };
}

/** A memory store whose handles have no `consumeGcra`: its limiters take the general path. */
function generalPathStore(): RateLimitStore {
  const inner = memoryStore();
  return {
    ...inner,
    scope(shape) {
      const handle = Object.create(inner.scope(shape)) as StoreHandle;
      handle.consumeGcra = undefined;
      return handle;
    },
  };
}

/** One step of a run: what it does to which of three keys, and how far the clock moves first. */
type Step =
  | { op: 'limit'; key: number; cost: number; gap: number }
  | { op: 'peek'; key: number; cost: number; gap: number }
  | { op: 'penalty' | 'reward'; key: number; points: number; gap: number }
  | { op: 'reset'; key: number; gap: number };

/** Clock moves: often none (bursts), fractions of an emission, long idles, sometimes backwards. */
const gapArb = fc.oneof(
  fc.constant(0),
  fc.double({ min: 0, max: 50, noNaN: true }),
  fc.integer({ min: 0, max: 5_000 }),
  fc.integer({ min: -20, max: 0 }),
);
const keyArb = fc.integer({ min: 0, max: 2 });

const stepArb = (maxCost: number): fc.Arbitrary<Step> =>
  fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        op: fc.constant('limit' as const),
        key: keyArb,
        cost: fc.oneof(
          fc.integer({ min: 1, max: maxCost }),
          fc.double({ min: 0.01, max: maxCost, noNaN: true }),
        ),
        gap: gapArb,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('peek' as const),
        key: keyArb,
        cost: fc.integer({ min: 1, max: maxCost }),
        gap: gapArb,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constantFrom('penalty' as const, 'reward' as const),
        key: keyArb,
        points: fc.integer({ min: 1, max: maxCost + 2 }),
        gap: gapArb,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('reset' as const), key: keyArb, gap: gapArb }),
    },
  );

/** GCRA limits: small and exact, fractional emission intervals, and huge limits whose emission
 * interval is far below a TAT's rounding step at today's epoch milliseconds. */
const limitsArb = fc.oneof(
  fc.record({
    limit: fc.integer({ min: 1, max: 20 }),
    intervalMs: fc.integer({ min: 1, max: 2_000 }),
    burst: fc.integer({ min: 0, max: 8 }),
  }),
  fc.record({
    limit: fc.integer({ min: 1_000_000, max: 1_000_000_000 }),
    intervalMs: fc.constantFrom(1, 1000, 60_000),
    burst: fc.integer({ min: 0, max: 3 }),
  }),
);

const startArb = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1_600_000_000_000, max: 2_000_000_000_000 }),
);

/** Runs `step` on `limiter`; the answer, or the error's message. */
async function run(
  limiter: RateLimiter,
  step: Step,
): Promise<RateLimitDecision | string | undefined> {
  const key = `k${step.key}`;
  try {
    switch (step.op) {
      case 'limit':
        return await limiter.limit(key, step.cost === 1 ? undefined : { cost: step.cost });
      case 'peek':
        return await limiter.peek(key, { cost: step.cost });
      case 'penalty':
        return await limiter.penalty(key, step.points);
      case 'reward':
        return await limiter.reward(key, step.points);
      case 'reset':
        await limiter.reset(key);
        return undefined;
    }
  } catch (error) {
    return (error as Error).message;
  }
}

describe('the GCRA fast path of an in-memory limiter', () => {
  it('gives the decisions of the general path, call by call, and leaves the same state', async () => {
    await fc.assert(
      fc.asyncProperty(
        limitsArb.chain((limits) =>
          fc.tuple(
            fc.constant(limits),
            fc.array(stepArb(limits.burst + 1), { minLength: 1, maxLength: 80 }),
          ),
        ),
        startArb,
        fc.boolean(),
        async ([{ limit, intervalMs, burst }, steps], start, byFunction) => {
          const clock = fakeClock(start);
          const options = (store: RateLimitStore) =>
            byFunction
              ? { name: 'fast-path', limits: () => ({ limit, intervalMs, burst }), store, clock }
              : { name: 'fast-path', limit, intervalMs, burst, store, clock };
          const counting = countingStore();
          const fast = rateLimiter(options(counting.store));
          const general = rateLimiter(options(generalPathStore()));
          let now = start;
          let limits = 0;
          for (const step of steps) {
            now += step.gap;
            clock.set(now);
            if (step.op === 'limit') limits++;
            const expected = await run(general, step);
            expect(await run(fast, step)).toEqual(expected);
          }
          // The state left behind: every key, as a peek of each cost reads it.
          for (let key = 0; key <= 2; key++) {
            for (let cost = 1; cost <= burst + 1; cost++) {
              const peek: Step = { op: 'peek', key, cost, gap: 0 };
              expect(await run(fast, peek)).toEqual(await run(general, peek));
            }
          }
          // The fast limiter took the fast path for every limit() call (none could throw here:
          // each cost fits the burst), and the general one never did.
          expect(counting.fastCalls()).toBe(limits);
          await Promise.all([fast.close(), general.close()]);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('admits a cost too small to move the TAT at epoch milliseconds (its lead stays 0)', async () => {
    const clock = fakeClock(1_765_000_000_000);
    const counting = countingStore();
    // One unit occupies 1e-6 ms, below the ~2e-4 ms rounding step of a double near 1.7e12.
    const limiter = rateLimiter({
      name: 'huge',
      limit: 1_000_000_000,
      intervalMs: 1000,
      store: counting.store,
      clock,
    });
    for (let i = 0; i < 3; i++) {
      const decision = await limiter.limit('hot');
      expect(decision).toEqual({
        allowed: true,
        limit: 1_000_000_000,
        intervalMs: 1000,
        remaining: 1,
        retryAfterMs: 0,
        resetAfterMs: 0,
        source: 'store',
      });
    }
    expect(counting.fastCalls()).toBe(3);
    await limiter.close();
  });

  it('is not taken by a blocking limiter, a reserving one or one of several limits', async () => {
    const counting = countingStore();
    const store = counting.store;
    const limiters = [
      rateLimiter({ name: 'block', limit: 5, intervalMs: 1000, blockDurationMs: 500, store }),
      rateLimiter({
        name: 'reserve',
        limit: 500,
        intervalMs: 1000,
        burst: 20,
        reserve: { batch: 10 },
        store,
      }),
      rateLimiter({
        name: 'two',
        limits: [
          { limit: 5, intervalMs: 1000 },
          { limit: 50, intervalMs: 60_000 },
        ],
        store,
      }),
      rateLimiter({ name: 'window', limit: 5, intervalMs: 1000, algorithm: 'fixed-window', store }),
    ];
    for (const limiter of limiters) expect((await limiter.limit('k')).allowed).toBe(true);
    expect(counting.fastCalls()).toBe(0);
    await Promise.all(limiters.map((limiter) => limiter.close()));
  });
});
