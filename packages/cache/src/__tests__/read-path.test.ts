/**
 * The L2 read path: `getOrLoad`'s read flight (which answers an L2 hit with the value itself and
 * hands anything else over to a loading flight), `get` past the L1, and the store calls' own
 * deadline nodes.
 */
import { StoreError, StoreTimeoutError } from '@breakwater/core';
import { installOtel } from '@breakwater/testkit';
import { describe, expect, it, vi } from 'vitest';
import { type CacheScope, type CacheStore, cache, METRIC_REQUESTS } from '../index.js';
import { memoryStore } from '../stores/memory.js';
import { deferred, testCache, tick, wrappedStore } from './helpers.js';

/** A store whose `get` calls wait until released, counted. */
function heldReads(inner: CacheStore) {
  let release = deferred<void>();
  const reads = { count: 0 };
  const store: CacheStore = wrappedStore(
    inner,
    (ns) =>
      new Proxy(ns, {
        get(target, property, receiver) {
          const member = Reflect.get(target, property, receiver) as unknown;
          if (property !== 'get') return member;
          return async (key: string) => {
            reads.count++;
            await release.promise;
            return ns.get(key);
          };
        },
      }),
  );
  return {
    store,
    reads,
    release: () => release.resolve(),
    hold: () => {
      release = deferred<void>();
    },
  };
}

/**
 * `value` stored under `k` through a held store (written by another cache), reads held again, and
 * a cache without L1 over it: every read of `k` waits for `held.release()`.
 */
async function heldHit(value: unknown) {
  const held = heldReads(memoryStore());
  const writer = cache({ name: 'r', store: held.store });
  held.release();
  await writer.set('k', value);
  held.hold();
  return { held, c: cache({ name: 'r', store: held.store, l1: false }) };
}

describe('the read flight of getOrLoad', () => {
  it('serves concurrent callers of an L2 hit with one store read', async () => {
    const { held, c } = await heldHit({ n: 1 });
    const loader = vi.fn(async () => ({ n: 2 }));
    const before = held.reads.count;
    const calls = [c.getOrLoad('k', loader), c.getOrLoad('k', loader), c.getOrLoad('k', loader)];
    await tick();
    held.release();
    expect(await Promise.all(calls)).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }]);
    expect(held.reads.count - before).toBe(1);
    expect(loader).not.toHaveBeenCalled();
    // The flight retired: the next call reads again.
    expect(await c.getOrLoad('k', loader)).toEqual({ n: 1 });
    expect(held.reads.count - before).toBe(2);
  });

  it('hands a miss over to one load that the callers who joined the read follow', async () => {
    const held = heldReads(memoryStore());
    const c = cache({ name: 'r', store: held.store, l1: false });
    const gate = deferred<string>();
    const loader = vi.fn(() => gate.promise);
    const first = c.getOrLoad('k', loader);
    const joined = c.getOrLoad('k', loader);
    await tick();
    held.release();
    await tick();
    // Joins the loading flight that replaced the read flight.
    const late = c.getOrLoad('k', loader);
    gate.resolve('v');
    expect(await Promise.all([first, joined, late])).toEqual(['v', 'v', 'v']);
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it("rejects only the aborted caller's wait; the others get the value", async () => {
    const { held, c } = await heldHit('v');
    const first = new AbortController();
    const joiner = new AbortController();
    const a = c.getOrLoad('k', async () => 'loaded', { signal: first.signal });
    const b = c.getOrLoad('k', async () => 'loaded');
    const d = c.getOrLoad('k', async () => 'loaded', { signal: joiner.signal });
    first.abort(new Error('first gave up'));
    joiner.abort(new Error('joiner gave up'));
    await expect(a).rejects.toThrow('first gave up');
    await expect(d).rejects.toThrow('joiner gave up');
    held.release();
    expect(await b).toBe('v');
  });

  it('counts an L2 hit once, for the first caller, and joiners as coalesced', async () => {
    const otel = installOtel();
    try {
      const { held, c } = await heldHit('v');
      const calls = [c.getOrLoad('k', async () => 'x'), c.getOrLoad('k', async () => 'x')];
      held.release();
      await Promise.all(calls);
      const count = (result: string, tier: string) =>
        otel.sum(METRIC_REQUESTS, {
          'breakwater.policy.name': 'r',
          'breakwater.store': 'memory',
          'breakwater.cache.result': result,
          'breakwater.cache.tier': tier,
        });
      expect(await count('hit', 'l2')).toBe(1);
      expect(await count('coalesced', 'l1')).toBe(1);
    } finally {
      await otel.uninstall();
    }
  });

  it('checks the tags of an L2 hit against the store when it does not know them', async () => {
    const store = memoryStore();
    const a = cache({ name: 't', store, l1: false });
    const b = cache({ name: 't', store, l1: false });
    expect(await a.getOrLoad('k', async () => 'v1', { tags: ['user:1'] })).toBe('v1');
    const loader = vi.fn(async () => 'v2');
    expect(await b.getOrLoad('k', loader, { tags: ['user:1'] })).toBe('v1');
    expect(loader).not.toHaveBeenCalled();
    await a.invalidateTags(['user:1']);
    expect(await b.getOrLoad('k', loader, { tags: ['user:1'] })).toBe('v2');
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('loads when the store read fails, and rejects with the StoreError when fail-closed', async () => {
    const failing = wrappedStore(
      memoryStore(),
      (ns): CacheScope =>
        new Proxy(ns, {
          get: (target, property, receiver) =>
            property === 'get'
              ? () => Promise.reject(new Error('ECONNRESET'))
              : Reflect.get(target, property, receiver),
        }),
      'failing',
    );
    const open = cache({ name: 'f', store: failing, l1: false });
    expect(await open.getOrLoad('k', async () => 'loaded')).toBe('loaded');
    expect(await open.get('k')).toBeUndefined();
    const closed = cache({ name: 'f', store: failing, l1: false, onStoreError: 'fail-closed' });
    await expect(closed.getOrLoad('k', async () => 'loaded')).rejects.toBeInstanceOf(StoreError);
    await expect(closed.get('k')).rejects.toBeInstanceOf(StoreError);
    // The failed read left no flight behind.
    await expect(closed.getOrLoad('k', async () => 'loaded')).rejects.toBeInstanceOf(StoreError);
  });
});

describe('get past the L1', () => {
  it('answers stale values, skips expired ones, and fills the L1', async () => {
    const { c, clock, store } = testCache({ ttlMs: 1000, staleMs: 1000 });
    await c.set('k', 'v');
    const reader = cache({ name: 'test', store, clock, jitter: 0, beta: 0, ttlMs: 1000 });
    expect(await reader.get('k')).toBe('v');
    await clock.advance(1500);
    reader.clearL1();
    expect(await reader.get('k')).toBe('v'); // stale
    await clock.advance(1000);
    reader.clearL1();
    expect(await reader.get('k')).toBeUndefined();
  });
});

describe('store call deadlines', () => {
  it('fails a store read that misses its deadline and ignores its late answer', async () => {
    const late = deferred<undefined>();
    const slow = wrappedStore(
      memoryStore(),
      (ns): CacheScope =>
        new Proxy(ns, {
          get: (target, property, receiver) =>
            property === 'get' ? () => late.promise : Reflect.get(target, property, receiver),
        }),
      'slow',
    );
    const c = cache({
      name: 's',
      store: slow,
      l1: false,
      storeDeadlineMs: 10,
      onStoreError: 'fail-closed',
    });
    await expect(c.get('k')).rejects.toBeInstanceOf(StoreTimeoutError);
    late.resolve(undefined);
    await tick();
    await c.close();
  });
});
