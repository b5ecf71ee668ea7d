/**
 * A rate limiter that is safe to compose: `execute(nonFunction)` rejects with core's named error
 * before a permit is taken, and a call given the shared never-aborted signal (what an outer policy
 * passes for a call that had none) adds no listener to it, also while it waits its turn.
 */
import { getEventListeners } from 'node:events';
import { neverAbortedSignal } from '@breakwater/core';
import { afterEach, describe, expect, it } from 'vitest';
import { rateLimiter } from '../index.js';

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

describe('execute() with something that is not a function', () => {
  it.each([
    ['42', 42],
    ['undefined', undefined],
    ['"fn"', 'fn'],
  ])('rejects %s with the named TypeError, taking no permit', async (shown, bad) => {
    const limiter = rateLimiter({ name: 'not-a-function', limit: 1, intervalMs: 60_000 });
    for (const options of [undefined, { key: 'k' }, { key: 'k', maxWaitMs: 1_000 }]) {
      await expect(limiter.execute(bad as never, options)).rejects.toThrow(
        new TypeError(`Expected \`fn\` to be a function, got ${shown}`),
      );
    }
    // The one permit of each key is still there.
    await expect(limiter.execute(() => 'ok')).resolves.toBe('ok');
    await expect(limiter.execute(() => 'ok', { key: 'k' })).resolves.toBe('ok');
    await limiter.close();
  });
});

describe('given the shared never-aborted signal', () => {
  it(`adds no listener to it, over ${CONCURRENT} calls waiting their turn`, async () => {
    const never = neverAbortedSignal();
    // One permit every 2 ms: all but the first call wait, in line behind each other.
    const limiter = rateLimiter({ name: 'never-aborted', limit: CONCURRENT, intervalMs: 100 });
    const calls = Array.from({ length: CONCURRENT }, (_, i) =>
      limiter.execute(() => i, { signal: never, maxWaitMs: 10_000 }),
    );
    const acquired = Array.from({ length: CONCURRENT }, () =>
      limiter.acquire('acquire', { signal: never, maxWaitMs: 10_000 }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(abortListeners(never)).toBe(0);
    await expect(Promise.all(calls)).resolves.toEqual(
      Array.from({ length: CONCURRENT }, (_, i) => i),
    );
    expect((await Promise.all(acquired)).every((decision) => decision.allowed)).toBe(true);
    expect(abortListeners(never)).toBe(0);
    await limiter.close();
  });

  it('a real caller signal still aborts a call waiting its turn', async () => {
    const limiter = rateLimiter({ name: 'real-signal', limit: 1, intervalMs: 60_000 });
    await limiter.execute(() => 'first');
    const controller = new AbortController();
    const waiting = limiter.execute(() => 'second', {
      signal: controller.signal,
      maxWaitMs: 120_000,
    });
    const reason = new Error('caller gave up');
    setTimeout(() => controller.abort(reason), 5);
    await expect(waiting).rejects.toBe(reason);
    await limiter.close();
  });
});
