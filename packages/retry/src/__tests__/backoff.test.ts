import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { constant, exponential, linear } from '../index.js';

/** A random source that replays the given values, so tests know exactly what was drawn. */
function replay(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const delayMs = fc.integer({ min: 0, max: 60_000 });
const attempt = fc.integer({ min: 1, max: 200 });

describe('constant()', () => {
  it('returns the delay itself without jitter', () => {
    const backoff = constant({ delayMs: 250 });
    expect([1, 2, 10].map((n) => backoff(n, 0))).toEqual([250, 250, 250]);
  });

  it('stays within its jitter bounds', () => {
    fc.assert(
      fc.property(delayMs, attempt, unit, (delay, n, r) => {
        const full = constant({ delayMs: delay, jitter: 'full', random: () => r })(n, 0);
        const equal = constant({ delayMs: delay, jitter: 'equal', random: () => r })(n, 0);
        expect(full).toBe(r * delay);
        expect(full).toBeGreaterThanOrEqual(0);
        expect(full).toBeLessThanOrEqual(delay);
        expect(equal).toBeGreaterThanOrEqual(delay / 2);
        expect(equal).toBeLessThanOrEqual(delay);
      }),
    );
  });
});

describe('linear()', () => {
  it('grows by stepMs and stops at maxMs', () => {
    const backoff = linear({ initialMs: 100, stepMs: 50, maxMs: 300 });
    expect([1, 2, 3, 4, 5, 6].map((n) => backoff(n, 0))).toEqual([100, 150, 200, 250, 300, 300]);
  });

  it('steps by initialMs by default', () => {
    const backoff = linear({ initialMs: 100 });
    expect([1, 2, 3].map((n) => backoff(n, 0))).toEqual([100, 200, 300]);
  });

  it('never exceeds its cap, whatever the jitter', () => {
    fc.assert(
      fc.property(
        delayMs,
        delayMs,
        attempt,
        unit,
        fc.constantFrom('none', 'full', 'equal' as const),
        (initial, extra, n, r, jitter) => {
          const maxMs = initial + extra;
          const delay = linear({ initialMs: initial, maxMs, jitter, random: () => r })(n, 0);
          const ceiling = Math.min(maxMs, initial * n);
          expect(delay).toBeLessThanOrEqual(ceiling);
          expect(delay).toBeGreaterThanOrEqual(
            jitter === 'equal' ? ceiling / 2 : jitter === 'full' ? 0 : ceiling,
          );
        },
      ),
    );
  });
});

describe('exponential()', () => {
  it('defaults to 100 ms × 2^(n-1), capped at 10 s, with full jitter', () => {
    const none = exponential({ jitter: 'none' });
    expect([1, 2, 3, 4, 8, 9, 50].map((n) => none(n, 0))).toEqual([
      100, 200, 400, 800, 10_000, 10_000, 10_000,
    ]);
    const full = exponential({ random: () => 0.5 });
    expect([1, 2, 3].map((n) => full(n, 0))).toEqual([50, 100, 200]);
  });

  it('does not overflow for huge attempt numbers', () => {
    expect(exponential({ jitter: 'none', maxMs: 5_000 })(100_000, 0)).toBe(5_000);
    expect(exponential({ jitter: 'none', initialMs: 0 })(100_000, 0)).toBe(0);
  });

  it('keeps every jitter mode within its bounds (AWS "Exponential Backoff And Jitter")', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5_000 }),
        fc.double({ min: 1, max: 4, noNaN: true }),
        fc.integer({ min: 0, max: 100_000 }),
        attempt,
        unit,
        (initialMs, factor, extra, n, r) => {
          const maxMs = initialMs + extra;
          const ceiling = Math.min(maxMs, initialMs * factor ** (n - 1));
          const make = (jitter: 'none' | 'full' | 'equal') =>
            exponential({ initialMs, factor, maxMs, jitter, random: () => r })(n, 0);
          expect(make('none')).toBeCloseTo(ceiling, 6);
          const full = make('full');
          expect(full).toBeGreaterThanOrEqual(0);
          expect(full).toBeLessThanOrEqual(ceiling);
          const equal = make('equal');
          expect(equal).toBeGreaterThanOrEqual(ceiling / 2 - 1e-9);
          expect(equal).toBeLessThanOrEqual(ceiling + 1e-9);
        },
      ),
    );
  });

  it('decorrelated: each delay lies in [initialMs, min(maxMs, 3 × previous)]', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.array(unit, { minLength: 1, maxLength: 30 }),
        (initialMs, extra, draws) => {
          const maxMs = initialMs + extra;
          const backoff = exponential({
            initialMs,
            maxMs,
            jitter: 'decorrelated',
            random: replay(draws),
          });
          let last = 0;
          for (let n = 1; n <= draws.length; n++) {
            const delay = backoff(n, last);
            expect(delay).toBeGreaterThanOrEqual(Math.min(initialMs, maxMs));
            expect(delay).toBeLessThanOrEqual(Math.min(maxMs, Math.max(initialMs, last) * 3));
            last = delay;
          }
        },
      ),
    );
  });

  it('decorrelated: draws exactly base + r × (3 × previous − base)', () => {
    const backoff = exponential({
      initialMs: 100,
      maxMs: 10_000,
      jitter: 'decorrelated',
      random: () => 0.5,
    });
    expect(backoff(1, 0)).toBe(200); // 100 + 0.5 × (300 − 100)
    expect(backoff(2, 200)).toBe(350); // 100 + 0.5 × (600 − 100)
    expect(backoff(9, 9_000)).toBe(10_000); // capped
  });
});

describe('backoff validation', () => {
  it('names the option and the bad value', () => {
    expect(() => constant({ delayMs: -1 })).toThrow(
      'Expected `delayMs` to be a finite number >= 0, got -1',
    );
    expect(() => constant({ delayMs: Number.POSITIVE_INFINITY })).toThrow(/`delayMs`.*Infinity/);
    expect(() => linear({ initialMs: Number.NaN })).toThrow(/`initialMs`.*NaN/);
    expect(() => linear({ initialMs: 100, maxMs: 50 })).toThrow(
      'Expected `maxMs` to be >= initialMs (100), got 50',
    );
    expect(() => exponential({ factor: 0.5 })).toThrow('Expected `factor` to be >= 1, got 0.5');
    expect(() => exponential({ factor: 0 })).toThrow(/`factor`/);
    expect(() => exponential({ maxMs: -5 })).toThrow(/`maxMs`.*-5/);
    expect(() => exponential({ jitter: 'half' as never })).toThrow(
      "Expected `jitter` to be one of 'none' | 'full' | 'equal' | 'decorrelated', got \"half\"",
    );
    expect(() => constant({ delayMs: 1, jitter: 'decorrelated' as never })).toThrow(/`jitter`/);
    expect(() => exponential({ random: 3 as never })).toThrow(
      'Expected `random` to be a function, got 3',
    );
  });

  it('raises the default cap to a larger initial delay', () => {
    expect(exponential({ initialMs: 20_000, jitter: 'none' })(1, 0)).toBe(20_000);
  });
});
