import { fakeClock } from '@breakwater/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bulkhead, isBulkheadRejectedError } from '../index.js';

const CLASS_NAMES = ['critical', 'standard', 'background'] as const;
const KEYS = ['a', 'b', 'c'] as const;

const configArbitrary = fc
  .record({
    maxConcurrent: fc.integer({ min: 1, max: 6 }),
    reserved: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2 })),
    backgroundMax: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    maxQueue: fc.integer({ min: 0, max: 6 }),
    maxWaitMs: fc.option(fc.integer({ min: 0, max: 120 }), { nil: undefined }),
    order: fc.constantFrom('fifo' as const, 'lifo' as const),
    keyCap: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    // No classes and no keys: the configuration with the shortest hot path.
    plain: fc.boolean(),
  })
  .filter((c) => c.reserved[0] + c.reserved[1] < c.maxConcurrent);

const callArbitrary = fc.record({
  gap: fc.integer({ min: 0, max: 15 }),
  cls: fc.integer({ min: 0, max: 2 }),
  key: fc.option(fc.constantFrom(...KEYS), { nil: undefined }),
  durationMs: fc.integer({ min: 1, max: 60 }),
  abortAfterMs: fc.option(fc.integer({ min: 0, max: 80 }), { nil: undefined }),
  fails: fc.boolean(),
});

describe('bulkhead() property', () => {
  it('never exceeds its limits, keeps reserved capacity available, and settles every call once', async () => {
    await fc.assert(
      fc.asyncProperty(
        configArbitrary,
        fc.array(callArbitrary, { minLength: 1, maxLength: 40 }),
        async (config, calls) => {
          const clock = fakeClock();
          const plain = config.plain;
          const reserved = plain ? [0, 0, 0] : [config.reserved[0], config.reserved[1], 0];
          const max = [
            Number.POSITIVE_INFINITY,
            Number.POSITIVE_INFINITY,
            plain ? Number.POSITIVE_INFINITY : (config.backgroundMax ?? Number.POSITIVE_INFINITY),
          ];
          const keyCap = plain ? undefined : config.keyCap;
          const b = bulkhead({
            maxConcurrent: config.maxConcurrent,
            maxQueue: config.maxQueue,
            maxWaitMs: config.maxWaitMs,
            order: config.order,
            classes: plain
              ? undefined
              : {
                  critical: { reserved: reserved[0] },
                  standard: { reserved: reserved[1] },
                  background:
                    config.backgroundMax === undefined ? {} : { max: config.backgroundMax },
                },
            perKey: keyCap === undefined ? undefined : { maxConcurrent: keyCap },
            clock,
          });
          const running = [0, 0, 0];
          const keyRunning = new Map<string, number>();
          const keyOutstanding = new Map<string, number>();
          let total = 0;
          const runs = new Array<number>(calls.length).fill(0);
          const settlements = new Array<number>(calls.length).fill(0);
          const violations: string[] = [];
          const pending: Promise<void>[] = [];

          for (const [index, call] of calls.entries()) {
            await clock.advance(call.gap);
            const controller = new AbortController();
            if (call.abortAfterMs !== undefined) {
              void clock
                .sleep(call.abortAfterMs)
                .then(() => controller.abort(new Error(`abort ${index}`)));
            }
            const keyFree =
              call.key === undefined ||
              keyCap === undefined ||
              ((keyOutstanding.get(call.key) ?? 0) === 0 &&
                (keyRunning.get(call.key) ?? 0) < keyCap);
            const guaranteed = running[call.cls]! < reserved[call.cls]! && keyFree;
            let started = false;
            if (call.key !== undefined)
              keyOutstanding.set(call.key, (keyOutstanding.get(call.key) ?? 0) + 1);
            let outstanding = true;
            const leaveOutstanding = () => {
              if (!outstanding || call.key === undefined) return;
              outstanding = false;
              keyOutstanding.set(call.key, keyOutstanding.get(call.key)! - 1);
            };
            const promise = b.execute(
              async () => {
                started = true;
                leaveOutstanding();
                runs[index]!++;
                running[call.cls]!++;
                total++;
                if (call.key !== undefined)
                  keyRunning.set(call.key, (keyRunning.get(call.key) ?? 0) + 1);
                if (total > config.maxConcurrent)
                  violations.push(`total ${total} > ${config.maxConcurrent}`);
                if (running[call.cls]! > max[call.cls]!)
                  violations.push(`class ${call.cls} over its max`);
                if (
                  call.key !== undefined &&
                  keyCap !== undefined &&
                  keyRunning.get(call.key)! > keyCap
                ) {
                  violations.push(`key ${call.key} over its cap`);
                }
                try {
                  await clock.sleep(call.durationMs);
                  if (call.fails) throw new Error('fn failed');
                  return index;
                } finally {
                  running[call.cls]!--;
                  total--;
                  if (call.key !== undefined)
                    keyRunning.set(call.key, keyRunning.get(call.key)! - 1);
                }
              },
              plain
                ? call.abortAfterMs === undefined
                  ? undefined
                  : { signal: controller.signal }
                : { priority: CLASS_NAMES[call.cls], key: call.key, signal: controller.signal },
            );
            if (guaranteed && !started && !controller.signal.aborted) {
              violations.push(
                `call ${index} of class ${call.cls} did not get a free reserved slot at once`,
              );
            }
            pending.push(
              promise.then(
                (value) => {
                  settlements[index]!++;
                  if (value !== index) violations.push(`call ${index} resolved with ${value}`);
                },
                (error: unknown) => {
                  settlements[index]!++;
                  leaveOutstanding();
                  if (isBulkheadRejectedError(error) && runs[index] !== 0) {
                    violations.push(`call ${index} rejected by the bulkhead after it ran`);
                  }
                },
              ),
            );
          }
          for (let step = 0; step < 100 && settlements.some((n) => n === 0); step++)
            await clock.advance(50);
          await clock.advance(200);
          await Promise.all(pending);

          expect(violations).toEqual([]);
          expect(settlements.every((n) => n === 1)).toBe(true);
          expect(runs.every((n) => n <= 1)).toBe(true);
          expect(b.active).toBe(0);
          expect(b.queued).toBe(0);
          expect((b as unknown as { trackedKeys: number }).trackedKeys).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });
});
