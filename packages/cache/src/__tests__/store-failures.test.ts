/**
 * The cache when its L2 store fails: what each `onStoreError` mode answers, the deadline on every
 * store operation (`invalidateTags()` and what `close()` waits on included), core's degraded mode
 * with its background probe, and the store options every pattern shares.
 */
import { isStoreTimeoutError, StoreError } from '@breakwater/core';
import { fakeClock } from '@breakwater/testkit';
import { describe, expect, it, vi } from 'vitest';
import { cache } from '../index.js';
import { scopeOf, storeOf } from './helpers.js';

describe('store failures', () => {
  function brokenStore() {
    return storeOf('broken', () => scopeOf(() => Promise.reject(new Error('ECONNREFUSED'))));
  }

  it('calls the loader and never throws the store error by default', async () => {
    const c = cache({ name: 'b', store: brokenStore(), l1: false });
    expect(await c.getOrLoad('k', async () => 'v')).toBe('v');
    await c.set('k', 'v');
    await c.delete('k');
    await c.invalidateTags(['t']);
    expect(await c.get('k')).toBeUndefined();
    await c.close();
  });

  it('serves the L1 when the store fails (local)', async () => {
    const clock = fakeClock(0);
    const c = cache({
      name: 'b',
      store: brokenStore(),
      clock,
      ttlMs: 60_000,
      l1: { maxStaleMs: 100 },
    });
    await c.set('k', 'v');
    await clock.advance(1000);
    expect(await c.getOrLoad('k', async () => 'loaded')).toBe('v');
    await c.close();
  });

  it('rejects with the StoreError when fail-closed', async () => {
    const c = cache({ name: 'b', store: brokenStore(), l1: false, onStoreError: 'fail-closed' });
    await expect(c.getOrLoad('k', async () => 'v')).rejects.toBeInstanceOf(StoreError);
    await expect(c.set('k', 'v')).rejects.toBeInstanceOf(StoreError);
    await c.close();
  });

  it('bounds every store call by storeDeadlineMs, invalidateTags and close() included', async () => {
    const hanging = storeOf('hanging', () => scopeOf(() => new Promise(() => {})));
    const c = cache({
      name: 'h',
      store: hanging,
      l1: false,
      storeDeadlineMs: 20,
      // Every call below must wait out its deadline: none may be answered by a degraded store.
      storeFailureThreshold: 1_000,
      onStoreError: 'fail-closed',
    });
    const timed = async (call: () => Promise<unknown>) => {
      const started = performance.now();
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStoreTimeoutError(error), String(error)).toBe(true);
      expect(performance.now() - started).toBeLessThan(1000);
    };
    await timed(() => c.getOrLoad('k', async () => 'v'));
    await timed(() => c.get('k'));
    await timed(() => c.set('k', 'v'));
    await timed(() => c.delete('k'));
    await timed(() => c.invalidateTags(['t']));
    // A load's write is not awaited by its caller; close() waits for it, at most one deadline.
    const writesHang = storeOf('writes-hang', () =>
      scopeOf((name) => (name === 'get' ? Promise.resolve(undefined) : new Promise(() => {}))),
    );
    const loading = cache({ name: 'h', store: writesHang, storeDeadlineMs: 20, lease: false });
    // close() waits for a read in flight on the hung store: about one deadline, and no longer.
    const reading = c.get('other');
    let started = performance.now();
    await c.close();
    expect(performance.now() - started).toBeGreaterThanOrEqual(10);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(isStoreTimeoutError(await reading.catch((e: unknown) => e))).toBe(true);
    // And for the load's write nobody awaits.
    expect(await loading.getOrLoad('k', async () => 'v')).toBe('v');
    started = performance.now();
    await loading.close();
    expect(performance.now() - started).toBeGreaterThanOrEqual(10);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('degrades after storeFailureThreshold consecutive failures, then probes in the background', async () => {
    let calls = 0;
    let probes = 0;
    let down = true;
    const store = storeOf('counting', () =>
      scopeOf(
        () => {
          calls++;
          return down ? Promise.reject(new Error('down')) : Promise.resolve(undefined);
        },
        {
          probe: () => {
            probes++;
            return down ? Promise.reject(new Error('still down')) : Promise.resolve(1);
          },
        },
      ),
    );
    const c = cache({
      name: 'g',
      store,
      l1: false,
      lease: false,
      storeFailureThreshold: 3,
      storeProbeIntervalMs: 20,
    });
    const statuses: unknown[] = [];
    c.onStoreStatusChange((change) => statuses.push(change));
    // One store operation per call (the failed read; the load's write is skipped).
    for (let i = 0; i < 2; i++) expect(await c.getOrLoad(`k${i}`, async () => 'v')).toBe('v');
    expect(c.storeStatus).toBe('healthy');
    expect(await c.getOrLoad('k2', async () => 'v')).toBe('v');
    expect(calls).toBe(3);
    expect(c.storeStatus).toBe('degraded');
    expect(statuses).toEqual([
      {
        policy: 'g',
        pattern: 'cache',
        store: 'counting',
        status: 'degraded',
        error: expect.any(StoreError),
      },
    ]);
    // Degraded: answered without calling the store.
    for (let i = 0; i < 10; i++) expect(await c.getOrLoad(`x${i}`, async () => 'v')).toBe('v');
    expect(calls).toBe(3);
    await vi.waitFor(() => expect(probes).toBeGreaterThanOrEqual(2), { timeout: 2000 });
    expect(calls).toBe(3);
    down = false;
    await vi.waitFor(() => expect(c.storeStatus).toBe('healthy'), { timeout: 2000 });
    expect(statuses.at(-1)).toEqual({
      policy: 'g',
      pattern: 'cache',
      store: 'counting',
      status: 'healthy',
    });
    expect(await c.getOrLoad('after', async () => 'v')).toBe('v');
    expect(calls).toBeGreaterThan(3);
    await c.close();
  });

  it('refuses storeBreaker, naming the options that replace it', () => {
    for (const value of [false, { failureThreshold: 5, breakDurationMs: 5_000 }]) {
      expect(() => cache({ name: 'c', storeBreaker: value } as never)).toThrow(
        /^Expected no `storeBreaker`: it was replaced by `storeFailureThreshold` .* `storeProbeIntervalMs`/,
      );
    }
    expect(() => cache({ name: 'c', storeBreaker: false } as never)).toThrow(TypeError);
  });

  it('validates the store options as every pattern does', () => {
    expect(() => cache({ name: 'c', storeDeadlineMs: 0 })).toThrow('`storeDeadlineMs`');
    expect(() => cache({ name: 'c', storeDeadlineMs: 3_000_000_000 })).toThrow(
      'Expected `storeDeadlineMs` to be at most 2147483647',
    );
    expect(() => cache({ name: 'c', storeFailureThreshold: 0 })).toThrow('`storeFailureThreshold`');
    expect(() => cache({ name: 'c', storeProbeIntervalMs: -1 })).toThrow('`storeProbeIntervalMs`');
  });

  it('reports a healthy store and no events without an L2', async () => {
    const c = cache({ name: 'l1' });
    expect(c.storeStatus).toBe('healthy');
    const dispose = c.onStoreStatusChange(() => {});
    dispose();
    expect(() => c.onStoreStatusChange(42 as never)).toThrow('`listener`');
    await c[Symbol.asyncDispose]();
  });
});
