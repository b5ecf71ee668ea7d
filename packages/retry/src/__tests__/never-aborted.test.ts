/**
 * No listener on a signal that can never abort: an outer policy hands calls given no signal the
 * shared never-aborted one, and a listener per call on it would pile up while calls run
 * (`MaxListenersExceededWarning` past 10).
 */
import { neverAbortedSignal } from '@breakwater/core';
import { fakeClock } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { constant, hedge, retry, retryBudget } from '../index.js';
import { abortListeners, flush } from './helpers.js';

const CONCURRENT = 50;

const warnings: string[] = [];
const onWarning = (warning: Error) => warnings.push(warning.name);
process.on('warning', onWarning);
afterEach(() => {
  expect(warnings).not.toContain('MaxListenersExceededWarning');
});

describe('given the shared never-aborted signal', () => {
  it(`retry() adds no listener to it, over ${CONCURRENT} concurrent calls that retry`, async () => {
    const never = neverAbortedSignal();
    const clock = fakeClock();
    const policy = retry({ clock, backoff: constant({ delayMs: 10 }), budget: retryBudget() });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const calls = Array.from({ length: CONCURRENT }, () =>
      policy.execute(
        async ({ attempt }) => {
          if (attempt === 1) throw new Error('first attempt fails');
          await released;
          return attempt;
        },
        { signal: never },
      ),
    );
    await flush();
    expect(abortListeners(never)).toBe(0);
    await clock.advance(10);
    expect(abortListeners(never)).toBe(0);
    release();
    await expect(Promise.all(calls)).resolves.toEqual(Array(CONCURRENT).fill(2));
  });

  it(`hedge() adds no listener to it, over ${CONCURRENT} concurrent hedged calls`, async () => {
    const never = neverAbortedSignal();
    const policy = hedge({ delayMs: 0, maxHedges: 1 });
    let release!: () => void;
    const released = new Promise<string>((resolve) => {
      release = () => resolve('done');
    });
    const calls = Array.from({ length: CONCURRENT }, () =>
      policy.execute(() => released, { signal: never }),
    );
    await flush();
    expect(abortListeners(never)).toBe(0);
    release();
    await Promise.all(calls);
  });
});
