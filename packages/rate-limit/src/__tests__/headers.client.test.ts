import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALGORITHM_NAMES } from '../algorithms/index.js';
import { isBucketAlgorithm } from '../algorithms/limit.js';
import { paceSeconds, sustainedPerSecond } from '../headers/mapping.js';
import type { AlgorithmName } from '../index.js';
import { type ClientRun, runHeaderClient, type SimulatedLimit } from './header-client.js';

/** The share of the sustained rate a client that follows the headers must get, at least. */
const MIN_SHARE = 0.9;

/**
 * Refusals a client that follows the headers may meet (after its first request, which goes out
 * before it has read any header), per algorithm; the package's docs/http-headers.md gives the
 * reasons. `alone`: the client is the key's only user. `afterForeignBurst`: someone else spent from
 * the key at once shortly before the client started.
 */
const DENIAL_BOUND: Record<AlgorithmName, { alone: number; afterForeignBurst: number }> = {
  // The bucket's fill level is in every decision: the pace is exact.
  gcra: { alone: 0, afterForeignBurst: 0 },
  'token-bucket': { alone: 0, afterForeignBurst: 0 },
  // What the window has left and when it ends are in every decision: the pace is exact.
  'fixed-window': { alone: 0, afterForeignBurst: 0 },
  // The decision does not carry the previous window's count, whose fading is the refill: the pace
  // assumes the sustained rate, which a burst by someone else breaks for one window.
  'sliding-window': { alone: 0, afterForeignBurst: 1 },
};

/** Sub-second, non-whole and whole-second intervals, up to an hour. */
const INTERVALS = [20, 50, 100, 150, 250, 333, 500, 1000, 1500, 2000, 7000, 60_000, 3_600_000];

const EPOCH = 1_700_000_000_000;

/** A client that re-plans on every response, and one that sticks to a response's plan. */
const FOLLOW = ['response', 'plan'] as const;

/**
 * Asserts the share of the rate a run got, where it is promised: to every client, except to one
 * that sticks to its plans against a fixed window. Near a fixed window's end the pace has to be
 * slow so that what falls before the end fits what is left, and a plan of whole seconds carries
 * that slow pace into the next window: on windows about as long as `t` that can cost more than a
 * third of the rate. Such a client is still refused no more than the bound.
 */
function expectShare(run: ClientRun, limit: SimulatedLimit, follow: (typeof FOLLOW)[number]) {
  if (follow === 'plan' && limit.algorithm === 'fixed-window') return;
  expect(share(run, limit)).toBeGreaterThanOrEqual(MIN_SHARE);
}

function limitArb(algorithm: AlgorithmName): fc.Arbitrary<SimulatedLimit> {
  return (
    fc
      .record({
        algorithm: fc.constant(algorithm),
        limit: fc.integer({ min: 1, max: 100 }),
        intervalMs: fc.constantFrom(...INTERVALS),
        burst: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 30 })),
      })
      // Keeps a run to at most ~100k simulated requests.
      .filter((limit) => sustainedPerSecond(limit) <= 2500)
  );
}

/** Where in the limit's interval the client starts (windows are aligned on the epoch). */
const phaseArb = fc.integer({ min: 0, max: 3_599_999 });

const followArb = fc.constantFrom(...FOLLOW);

/** Long enough for 40 intervals and 40 pace windows: start-up effects weigh at most 2.5 %. */
function runLength(limit: SimulatedLimit): number {
  return Math.max(30_000, 40 * limit.intervalMs, 40 * paceSeconds(limit) * 1000);
}

/** The client's admitted units over what the limit's sustained rate allows in the run. */
function share(run: ClientRun, limit: SimulatedLimit): number {
  return run.admitted / ((sustainedPerSecond(limit) * run.durationMs) / 1000);
}

function capacity(limit: SimulatedLimit): number {
  return isBucketAlgorithm(limit.algorithm) ? limit.burst + 1 : limit.limit + limit.burst;
}

describe('a client that reads nothing but the headers', () => {
  it('keeps to a 100/s GCRA limit with burst 0, which used to slow it to 1/s', async () => {
    const limit = { algorithm: 'gcra', limit: 100, intervalMs: 1000, burst: 0 } as const;
    const run = await runHeaderClient(limit, { startMs: EPOCH, durationMs: 60_000 });
    expect(run).toEqual({ admitted: 6000, denied: 0, firstDenied: false, durationMs: 60_000 });
  });

  it('keeps to 10 per 100 ms, advertised per second', async () => {
    for (const algorithm of ALGORITHM_NAMES) {
      const limit = { algorithm, limit: 10, intervalMs: 100, burst: 0 };
      const run = await runHeaderClient(limit, { startMs: EPOCH + 37, durationMs: 60_000 });
      expect({ algorithm, denied: run.denied, first: run.firstDenied }).toEqual({
        algorithm,
        denied: 0,
        first: false,
      });
      expect(share(run, limit)).toBeGreaterThanOrEqual(0.99);
    }
  });

  it('is not refused by a sliding window for the rounding of its timestamps', async () => {
    // 2,500 per second, from a window's start: at exactly 400 µs apart, a unit lands on the
    // window's edge, where epoch-millisecond doubles are only exact to ~0.25 µs.
    const limit = { algorithm: 'sliding-window', limit: 125, intervalMs: 50, burst: 0 } as const;
    for (const follow of FOLLOW) {
      const run = await runHeaderClient(limit, { startMs: EPOCH, durationMs: 10_000, follow });
      expect({ follow, denied: run.denied }).toEqual({ follow, denied: 0 });
      expect(share(run, limit)).toBeGreaterThanOrEqual(MIN_SHARE);
    }
  });

  describe.each(ALGORITHM_NAMES)('%s', (algorithm) => {
    // Every algorithm with burst 0 and burst > 0, on intervals under and over a second (one of
    // them not a whole number of seconds); the properties below vary all of it at random.
    it.each([
      { limit: 5, intervalMs: 50, burst: 0 },
      { limit: 5, intervalMs: 50, burst: 7 },
      { limit: 12, intervalMs: 400, burst: 3 },
      { limit: 90, intervalMs: 60_000, burst: 0 },
      { limit: 30, intervalMs: 2_500, burst: 12 },
      { limit: 3, intervalMs: 1_000, burst: 0 },
    ])(
      'follows $limit per $intervalMs ms with burst $burst, alone and after a burst',
      async (shape) => {
        const limit = { algorithm, ...shape };
        for (const follow of FOLLOW) {
          const alone = await runHeaderClient(limit, {
            startMs: EPOCH + 13,
            durationMs: runLength(limit),
            follow,
          });
          expect({ follow, firstDenied: alone.firstDenied, denied: alone.denied }).toEqual({
            follow,
            firstDenied: false,
            denied: 0,
          });
          expectShare(alone, limit, follow);
          // Someone else spends all the limit holds at once, as the client starts (its first
          // request is refused) or a third of an interval before.
          for (const gapMs of [0, Math.round(limit.intervalMs / 3)]) {
            const after = await runHeaderClient(limit, {
              startMs: EPOCH + 13,
              durationMs: runLength(limit),
              foreign: { units: capacity(limit), gapMs },
              follow,
            });
            expect(after.denied).toBeLessThanOrEqual(DENIAL_BOUND[algorithm].afterForeignBurst);
            expectShare(after, limit, follow);
          }
        }
      },
    );

    it(`gets at least ${MIN_SHARE * 100} % of the rate, refused no more than the bound`, async () => {
      await fc.assert(
        fc.asyncProperty(limitArb(algorithm), phaseArb, followArb, async (limit, phase, follow) => {
          const run = await runHeaderClient(limit, {
            startMs: EPOCH + (phase % limit.intervalMs),
            durationMs: runLength(limit),
            follow,
          });
          expect(run.firstDenied).toBe(false);
          expect(run.denied).toBeLessThanOrEqual(DENIAL_BOUND[algorithm].alone);
          expectShare(run, limit, follow);
        }),
        { numRuns: 30 },
      );
    });

    it("after someone else's burst, is refused no more than the bound", async () => {
      await fc.assert(
        fc.asyncProperty(
          limitArb(algorithm),
          phaseArb,
          fc.integer({ min: 1, max: 100 }),
          fc.integer({ min: 0, max: 150 }),
          followArb,
          async (limit, phase, percent, gapPercent, follow) => {
            const run = await runHeaderClient(limit, {
              startMs: EPOCH + (phase % limit.intervalMs),
              durationMs: runLength(limit),
              foreign: {
                units: Math.ceil((capacity(limit) * percent) / 100),
                gapMs: Math.round((limit.intervalMs * gapPercent) / 100),
              },
              follow,
            });
            expect(run.denied).toBeLessThanOrEqual(DENIAL_BOUND[algorithm].afterForeignBurst);
            expectShare(run, limit, follow);
          },
        ),
        { numRuns: 30 },
      );
    });
  });
});
