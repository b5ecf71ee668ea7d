import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BudgetWindow } from '../budget/window.js';
import type { BudgetSpec } from '../store.js';

/** The budget as the spec defines it, recomputed from the full history at every step. */
class ReferenceBudget {
  private readonly events: { slot: number; calls: number; retries: number }[] = [];
  constructor(private readonly spec: BudgetSpec) {}

  record(nowMs: number, calls: number, withdraw: boolean) {
    const slot = Math.floor(nowMs / this.spec.slotMs);
    const oldest = slot - Math.ceil(this.spec.windowMs / this.spec.slotMs) + 1;
    const inWindow = this.events.filter((e) => e.slot >= oldest);
    const callSum = inWindow.reduce((sum, e) => sum + e.calls, 0) + calls;
    const retrySum = inWindow.reduce((sum, e) => sum + e.retries, 0);
    let available = this.spec.ratio * callSum + this.spec.reserve - retrySum;
    const granted = withdraw && available >= 1;
    if (granted) available -= 1;
    this.events.push({ slot, calls, retries: granted ? 1 : 0 });
    return { granted, available };
  }
}

describe('BudgetWindow', () => {
  it('matches the definition (ratio × calls in window + reserve − retries in window) at every step', () => {
    fc.assert(
      fc.property(
        fc.record({
          ratio: fc.constantFrom(0, 0.1, 0.25, 0.5, 1),
          reserve: fc.integer({ min: 0, max: 5 }),
          slots: fc.integer({ min: 1, max: 6 }),
          slotMs: fc.integer({ min: 1, max: 50 }),
        }),
        fc.array(
          fc.record({
            advanceMs: fc.integer({ min: 0, max: 120 }),
            calls: fc.integer({ min: 0, max: 4 }),
            withdraw: fc.boolean(),
          }),
          { maxLength: 80 },
        ),
        ({ ratio, reserve, slots, slotMs }, steps) => {
          const spec = { ratio, reserve, windowMs: slots * slotMs, slotMs };
          const window = new BudgetWindow(spec);
          const reference = new ReferenceBudget(spec);
          let now = 1_000_000;
          for (const step of steps) {
            now += step.advanceMs;
            const actual = window.record(now, step.calls, step.withdraw);
            const expected = reference.record(now, step.calls, step.withdraw);
            expect(actual.granted).toBe(expected.granted);
            expect(actual.available).toBeCloseTo(expected.available, 9);
          }
        },
      ),
    );
  });
});
