import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileLimit } from '../algorithms/compile.js';
import { ALGORITHM_NAMES, ALGORITHMS } from '../algorithms/index.js';
import { type AlgorithmName, isBucketAlgorithm } from '../algorithms/limit.js';
import { advanceAll } from '../key-state.js';
import type { StoreHandle, StoreResult } from '../store.js';
import { memoryStore } from '../stores/memory.js';

/**
 * Limits with a whole emission interval (intervalMs = limit × emission), so the arithmetic of a
 * client "exactly at the limit" is exact and the properties can be stated without slack.
 */
const limitArb = fc.record({
  limit: fc.integer({ min: 1, max: 20 }),
  emissionMs: fc.integer({ min: 1, max: 50 }),
  burst: fc.integer({ min: 0, max: 8 }),
});

/** Calls: a gap since the previous one (often 0, to build bursts) and a cost. */
const callsArb = fc.array(
  fc.record({
    gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 200 })),
    cost: fc.integer({ min: 1, max: 9 }),
  }),
  { minLength: 1, maxLength: 150 },
);

const startArb = fc.integer({ min: 0, max: 2_000_000_000_000 });

function scoped(
  algorithm: AlgorithmName,
  limit: number,
  intervalMs: number,
  burst: number,
): StoreHandle {
  return memoryStore().scope({
    name: 'p',
    layout: algorithm,
    limits: [compileLimit(algorithm, limit, intervalMs, burst)],
  });
}

/** Runs the calls and returns the admitted ones as [time, cost]. */
function admitted(
  handle: StoreHandle,
  start: number,
  calls: readonly { gap: number; cost: number }[],
  capacity: number,
): [number, number][] {
  const out: [number, number][] = [];
  let now = start;
  for (const { gap, cost: rawCost } of calls) {
    now += gap;
    const cost = Math.min(rawCost, capacity);
    const result = handle.consume('k', cost, cost, now, undefined) as StoreResult;
    if (result.allowed) out.push([now, cost]);
  }
  return out;
}

/** The largest cost admitted within any half-open window [t, t + windowMs). */
function maxInAnyWindow(events: readonly [number, number][], windowMs: number): number {
  let max = 0;
  for (let i = 0; i < events.length; i++) {
    let sum = 0;
    for (let j = i; j < events.length && events[j]![0] < events[i]![0] + windowMs; j++)
      sum += events[j]![1];
    max = Math.max(max, sum);
  }
  return max;
}

describe.each(ALGORITHM_NAMES)('%s', (algorithm) => {
  const bucket = isBucketAlgorithm(algorithm);

  it(
    bucket
      ? 'admits at most limit + burst within any window of the interval'
      : 'admits at most limit + burst per aligned window, and twice that within any window',
    () => {
      fc.assert(
        fc.property(limitArb, startArb, callsArb, ({ limit, emissionMs, burst }, start, calls) => {
          const intervalMs = limit * emissionMs;
          const capacity = compileLimit(algorithm, limit, intervalMs, burst).capacity;
          const events = admitted(
            scoped(algorithm, limit, intervalMs, burst),
            start,
            calls,
            capacity,
          );
          if (bucket) {
            expect(maxInAnyWindow(events, intervalMs)).toBeLessThanOrEqual(limit + burst);
          } else {
            const perWindow = new Map<number, number>();
            for (const [t, cost] of events) {
              const w = Math.floor(t / intervalMs);
              perWindow.set(w, (perWindow.get(w) ?? 0) + cost);
            }
            for (const sum of perWindow.values()) expect(sum).toBeLessThanOrEqual(limit + burst);
            expect(maxInAnyWindow(events, intervalMs)).toBeLessThanOrEqual(2 * (limit + burst));
          }
        }),
        { numRuns: 300 },
      );
    },
  );

  it('a penalty of p leaves max(0, remaining − p); a reward never passes fresh (and is exact for buckets and fixed windows)', () => {
    fc.assert(
      fc.property(
        limitArb,
        startArb,
        callsArb,
        fc.array(fc.record({ penalty: fc.boolean(), points: fc.integer({ min: 1, max: 12 }) }), {
          minLength: 1,
          maxLength: 40,
        }),
        ({ limit, emissionMs, burst }, start, calls, adjustments) => {
          const intervalMs = limit * emissionMs;
          const compiled = compileLimit(algorithm, limit, intervalMs, burst);
          const handle = scoped(algorithm, limit, intervalMs, burst);
          const impl = ALGORITHMS[algorithm];
          let now = start;
          for (let i = 0; i < calls.length; i++) {
            const { gap, cost } = calls[i]!;
            now += gap;
            const taken = handle.consume('k', Math.min(cost, compiled.capacity), 1, now, undefined);
            expect((taken as StoreResult).now).toBe(now);
            const adjustment = adjustments[i % adjustments.length]!;
            const before = handle.peek('k', 1, now, undefined) as StoreResult;
            const remainingBefore = impl.remaining(before.state, 0, now, compiled);
            const p = adjustment.points;
            const after = handle.adjust(
              'k',
              adjustment.penalty ? p : -p,
              now,
              undefined,
            ) as StoreResult;
            const remaining = impl.remaining(after.state, 0, now, compiled);
            expect(after.allowed).toBe(remaining >= 1);
            if (adjustment.penalty) {
              expect(remaining).toBe(Math.max(0, remainingBefore - p));
            } else if (algorithm === 'sliding-window') {
              // The previous window's share shrinks by at most what came off its count.
              expect(remaining).toBeGreaterThanOrEqual(remainingBefore);
              expect(remaining).toBeLessThanOrEqual(compiled.capacity);
            } else {
              expect(remaining).toBe(Math.min(compiled.capacity, remainingBefore + p));
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never denies a steady client at the limit, whatever its phase', () => {
    fc.assert(
      fc.property(
        limitArb,
        startArb,
        fc.integer({ min: 0, max: 49 }),
        fc.integer({ min: 1, max: 5 }),
        ({ limit, emissionMs, burst }, start, phase, rounds) => {
          const intervalMs = limit * emissionMs;
          const handle = scoped(algorithm, limit, intervalMs, burst);
          const first = start + (phase % emissionMs);
          for (let k = 0; k < rounds * limit + 3; k++) {
            const result = handle.consume(
              'k',
              1,
              1,
              first + k * emissionMs,
              undefined,
            ) as StoreResult;
            expect(result.allowed, `call ${k} at +${k * emissionMs} ms`).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('with several limits, consumes from all of them or from none', () => {
    fc.assert(
      fc.property(limitArb, limitArb, startArb, callsArb, (a, b, start, calls) => {
        const limits = [
          compileLimit(algorithm, a.limit, a.limit * a.emissionMs, a.burst),
          compileLimit(algorithm, b.limit, b.limit * b.emissionMs * 7, b.burst),
        ];
        const impl = ALGORITHMS[algorithm];
        const store = memoryStore().scope({
          name: 'm',
          layout: algorithm,
          limits,
        }) as StoreHandle & {
          entries: Map<string, { state: number[] }>;
        };
        const capacity = Math.min(limits[0]!.capacity, limits[1]!.capacity);
        let now = start;
        for (const { gap, cost: rawCost } of calls) {
          now += gap;
          const cost = Math.min(rawCost, capacity);
          const before = store.entries.get('k')?.state.slice();
          const result = store.consume('k', cost, cost, now, undefined) as StoreResult;
          if (before === undefined) continue;
          advanceAll(limits, before, now);
          const after = store.entries.get('k')!.state;
          if (result.allowed) {
            // Every limit moved: each one now has less room (or a later TAT) than before.
            for (let i = 0, o = 0; i < limits.length; i++, o += impl.stateSize) {
              expect(impl.remaining(after, o, now, limits[i]!)).toBeLessThanOrEqual(
                impl.remaining(before, o, now, limits[i]!),
              );
              expect(after.slice(o, o + impl.stateSize)).not.toEqual(
                before.slice(o, o + impl.stateSize),
              );
            }
          } else {
            expect(after).toEqual(before);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('says when a denied call would pass: not a millisecond earlier, and then it does', () => {
    fc.assert(
      fc.property(limitArb, startArb, callsArb, ({ limit, emissionMs, burst }, start, calls) => {
        const intervalMs = limit * emissionMs;
        const algo = ALGORITHMS[algorithm];
        const compiled = compileLimit(algorithm, limit, intervalMs, burst);
        const handle = scoped(algorithm, limit, intervalMs, burst);
        let now = start;
        for (const { gap, cost: rawCost } of calls) {
          now += gap;
          const cost = Math.min(rawCost, compiled.capacity);
          const result = handle.consume('k', cost, cost, now, undefined) as StoreResult;
          if (result.allowed) continue;
          const wait = Math.ceil(algo.retryAfterMs(result.state, 0, now, cost, compiled) - 1e-6);
          expect(wait).toBeGreaterThan(0);
          if (wait > 1) {
            expect((handle.peek('k', cost, now + wait - 1, undefined) as StoreResult).allowed).toBe(
              false,
            );
          }
          expect((handle.peek('k', cost, now + wait, undefined) as StoreResult).allowed).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
