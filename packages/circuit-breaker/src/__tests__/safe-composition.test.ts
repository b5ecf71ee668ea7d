/**
 * A breaker that is safe to compose: `execute(nonFunction)` rejects with core's named error before
 * the breaker counts, falls back or probes, and a call given the shared never-aborted signal (what
 * an outer policy passes for a call that had none) adds no listener to it, also under `timeoutMs`.
 */
import { getEventListeners } from 'node:events';
import { neverAbortedSignal } from '@breakwater/core';
import { afterEach, describe, expect, it } from 'vitest';
import { circuitBreaker } from '../index.js';

const CONCURRENT = 50;

const warnings: string[] = [];
const onWarning = (warning: Error) => warnings.push(warning.name);
process.on('warning', onWarning);
afterEach(async () => {
  await new Promise((resolve) => setImmediate(resolve));
  expect(warnings.splice(0)).not.toContain('MaxListenersExceededWarning');
});

function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

function gate(): { promise: Promise<string>; open(): void } {
  let open!: () => void;
  const promise = new Promise<string>((resolve) => {
    open = () => resolve('done');
  });
  return { promise, open };
}

describe('execute() with something that is not a function', () => {
  it.each([
    ['42', 42],
    ['undefined', undefined],
    ['"fn"', 'fn'],
  ])(
    'rejects %s with the named TypeError, uncounted and without the fallback',
    async (shown, bad) => {
      const failures: unknown[] = [];
      for (const breaker of [
        circuitBreaker(),
        circuitBreaker({ timeoutMs: 1_000 }),
        circuitBreaker({ fallback: { value: 'fallback' }, consecutiveFailures: 1 }),
      ]) {
        breaker.onFailure((event) => failures.push(event));
        for (const options of [undefined, { signal: neverAbortedSignal() }]) {
          await expect(breaker.execute(bad as never, options)).rejects.toThrow(
            new TypeError(`Expected \`fn\` to be a function, got ${shown}`),
          );
        }
        expect(breaker.stats()).toMatchObject({ state: 'closed', calls: 0, failures: 0 });
        await breaker.close();
      }
      expect(failures).toEqual([]);
    },
  );

  it('is refused before the breaker answers: an open breaker does not call the fallback', async () => {
    const used: unknown[] = [];
    const breaker = circuitBreaker({
      consecutiveFailures: 1,
      fallback: ({ error }) => {
        used.push(error);
        return 'fallback';
      },
    });
    await breaker.isolate();
    expect(breaker.state).toBe('isolated');
    await expect(breaker.execute(42 as never)).rejects.toThrow(
      'Expected `fn` to be a function, got 42',
    );
    expect(used).toEqual([]);
    await expect(breaker.execute(() => 'ok')).resolves.toBe('fallback');
    await breaker.close();
  });
});

describe('given the shared never-aborted signal', () => {
  it.each([
    ['without a time limit', {}],
    ['under timeoutMs', { timeoutMs: 60_000 }],
    ['with a slow-call rule and listeners', { slowCall: { durationMs: 10_000, ratio: 0.5 } }],
  ])(`adds no listener to it, over ${CONCURRENT} concurrent calls %s`, async (_, options) => {
    const never = neverAbortedSignal();
    const breaker = circuitBreaker(options);
    breaker.onSuccess(() => {});
    const pending = gate();
    const calls = Array.from({ length: CONCURRENT }, () =>
      breaker.execute(() => pending.promise, { signal: never }),
    );
    expect(abortListeners(never)).toBe(0);
    pending.open();
    await expect(Promise.all(calls)).resolves.toEqual(Array(CONCURRENT).fill('done'));
    expect(abortListeners(never)).toBe(0);
    await breaker.close();
  });

  it('a real caller signal still aborts a call under timeoutMs, and its listener goes with it', async () => {
    const breaker = circuitBreaker({ timeoutMs: 60_000 });
    const controller = new AbortController();
    const pending = gate();
    const call = breaker.execute(() => pending.promise, { signal: controller.signal });
    expect(abortListeners(controller.signal)).toBe(1);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(call).rejects.toBe(reason);
    expect(abortListeners(controller.signal)).toBe(0);
    pending.open();
    await breaker.close();
  });
});
