/**
 * A cache that is safe to compose: `getOrLoad(key, nonFunction)` rejects with core's named error
 * (naming `loader`) before looking anything up, and a read given the shared never-aborted signal
 * (what a policy hands `fn` for a call that had none, passed on as `{ signal: ctx.signal }`) adds
 * no listener to it while the load is in flight.
 */
import { getEventListeners } from 'node:events';
import { neverAbortedSignal } from '@breakwater/core';
import { afterEach, describe, expect, it } from 'vitest';
import { cache } from '../index.js';

const CONCURRENT = 50;

const warnings: string[] = [];
const onWarning = (warning: Error) => warnings.push(warning.name);
process.on('warning', onWarning);
afterEach(async () => {
  await new Promise((resolve) => setImmediate(resolve));
  expect(warnings.splice(0)).not.toContain('MaxListenersExceededWarning');
});

describe('getOrLoad() with a loader that is not a function', () => {
  it.each([
    ['42', 42],
    ['undefined', undefined],
    ['"load"', 'load'],
  ])('rejects %s with the named TypeError, hit or miss', async (shown, bad) => {
    const c = cache({ name: 'not-a-function', ttlMs: 60_000 });
    const expected = new TypeError(`Expected \`loader\` to be a function, got ${shown}`);
    await expect(c.getOrLoad('missing', bad as never)).rejects.toThrow(expected);
    await c.set('present', 'value');
    await expect(c.getOrLoad('present', bad as never)).rejects.toThrow(expected);
    expect(() => c.wrap(bad as never, { key: () => 'k' })).toThrow(
      new TypeError(`Expected \`fn\` to be a function, got ${shown}`),
    );
    await c.close();
  });
});

describe('given the shared never-aborted signal', () => {
  it(`adds no listener to it, over ${CONCURRENT} reads waiting for loads`, async () => {
    const never = neverAbortedSignal();
    const c = cache({ name: 'never-aborted', ttlMs: 60_000 });
    let open!: () => void;
    const loaded = new Promise<void>((resolve) => {
      open = resolve;
    });
    const load = async ({ key }: { key: string }) => {
      await loaded;
      return key;
    };
    // Half share one load (coalesced), half load keys of their own.
    const reads = Array.from({ length: CONCURRENT }, (_, i) =>
      c.getOrLoad(i % 2 === 0 ? 'shared' : `own-${i}`, load, { signal: never }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(getEventListeners(never, 'abort')).toHaveLength(0);
    open();
    const values = await Promise.all(reads);
    expect(values[0]).toBe('shared');
    expect(values[1]).toBe('own-1');
    expect(getEventListeners(never, 'abort')).toHaveLength(0);
    await c.close();
  });
});
