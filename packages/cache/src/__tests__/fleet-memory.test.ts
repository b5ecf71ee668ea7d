import { describe, expect, it, vi } from 'vitest';
import { cache } from '../index.js';
import type { CacheStore } from '../store.js';
import { deferred, interceptedStore, killable, memoryFleet, tick } from './helpers.js';

/** `store` as seen by a process that can be paused: while frozen, its calls wait for the thaw. */
function freezable(store: CacheStore): { store: CacheStore; freeze(): void; thaw(): void } {
  let frozen: { promise: Promise<void>; resolve: () => void } | undefined;
  return {
    freeze: () => {
      frozen = deferred<void>();
    },
    thaw: () => {
      frozen?.resolve();
      frozen = undefined;
    },
    store: interceptedStore(store, async (call) => {
      if (frozen !== undefined) await frozen.promise;
      return call();
    }),
  };
}

describe('replicas sharing a memory store', () => {
  it('one replica loads while the others wait for the value', async () => {
    const { caches } = memoryFleet({ ttlMs: 60_000 }, 4);
    const gate = deferred<string>();
    const loader = vi.fn(() => gate.promise);
    const calls = caches.flatMap((c) =>
      Array.from({ length: 250 }, () => c.getOrLoad('k', loader)),
    );
    await tick();
    gate.resolve('v');
    const results = await Promise.all(calls);
    expect(results.every((r) => r === 'v')).toBe(true);
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('another replica loads once the lease of a dead holder expires', async () => {
    const { caches, clock, store } = memoryFleet({ ttlMs: 60_000, lease: { ttlMs: 1000 } }, 1);
    const [b] = caches as [(typeof caches)[0]];
    const holder = killable(store);
    const a = cache({
      name: 'fleet',
      store: holder.store,
      clock,
      jitter: 0,
      beta: 0,
      lease: { ttlMs: 1000 },
      storeDeadlineMs: 60_000,
    });
    // A takes the lease and dies mid-load: no renewal, no release.
    void a.getOrLoad('k', () => new Promise<string>(() => {}));
    await tick();
    holder.kill();
    const loaderB = vi.fn(async () => 'from-b');
    const pending = b.getOrLoad('k', loaderB);
    await tick();
    expect(loaderB).not.toHaveBeenCalled();
    for (let i = 0; i < 12; i++) await clock.advance(100);
    expect(await pending).toBe('from-b');
    expect(loaderB).toHaveBeenCalledTimes(1);
  });

  it('the holder of a slow load keeps its lease, so nobody else loads', async () => {
    const { caches, clock } = memoryFleet({ ttlMs: 60_000, lease: { ttlMs: 1000 } });
    const [a, b] = caches as [(typeof caches)[0], (typeof caches)[0]];
    const slow = deferred<string>();
    const loaderA = vi.fn(() => slow.promise);
    const loaderB = vi.fn(async () => 'from-b');
    const first = a.getOrLoad('k', loaderA);
    await tick();
    const second = b.getOrLoad('k', loaderB);
    for (let i = 0; i < 50; i++) await clock.advance(100); // 5 s: five lease lifetimes
    expect(loaderB).not.toHaveBeenCalled();
    slow.resolve('from-a');
    expect(await first).toBe('from-a');
    expect(await second).toBe('from-a');
    expect(loaderB).not.toHaveBeenCalled();
  });

  it("a holder paused past its lease writes nothing when it resumes: not over the next holder's value, even expired", async () => {
    const { caches, clock, store } = memoryFleet({ ttlMs: 500, lease: { ttlMs: 1000 } }, 1);
    const [b] = caches as [(typeof caches)[0]];
    const paused = freezable(store);
    const a = cache({
      name: 'fleet',
      store: paused.store,
      clock,
      jitter: 0,
      beta: 0,
      ttlMs: 500,
      lease: { ttlMs: 1000 },
      storeDeadlineMs: 60_000,
    });
    // A takes the lease of the absent key and is paused mid-load: its renewals cannot go out.
    const slow = deferred<string>();
    const first = a.getOrLoad('k', () => slow.promise);
    await tick();
    paused.freeze();
    for (let i = 0; i < 12; i++) await clock.advance(100);
    // A's lease has lapsed: B loads and writes a newer value, which a reader sees, then expires.
    expect(await b.getOrLoad('k', async () => 'newer')).toBe('newer');
    for (let i = 0; i < 6; i++) await clock.advance(100);
    // A resumes with its older value: its callers get it, the fleet must not.
    paused.thaw();
    slow.resolve('older');
    expect(await first).toBe('older');
    await a.close();
    expect(await b.getOrLoad('k', async () => 'newest')).toBe('newest');
  });

  it.each([
    ['a delete of the absent key', ['delete']],
    ['a set then a delete', ['set', 'delete']],
  ] as const)(
    "%s during a load: the loader's callers get its value, the fleet does not",
    async (_, invalidations) => {
      const { caches } = memoryFleet({ ttlMs: 60_000 }, 2);
      const [a, b] = caches as [(typeof caches)[0], (typeof caches)[0]];
      // A loads the absent key (reading the database's old value), held until the test says.
      const slow = deferred<string>();
      const first = a.getOrLoad('k', () => slow.promise);
      await tick();
      // Meanwhile the database changes and B invalidates the key: it is absent again.
      for (const invalidation of invalidations) {
        if (invalidation === 'set') await b.set('k', 'newer');
        else await b.delete('k');
      }
      slow.resolve('older');
      expect(await first).toBe('older');
      await a.settle();
      expect(await b.get('k')).toBeUndefined();
      expect(await a.get('k')).toBeUndefined();
      const reload = vi.fn(async () => 'newest');
      expect(await a.getOrLoad('k', reload)).toBe('newest');
      expect(reload).toHaveBeenCalledTimes(1);
    },
  );

  it('a replica waiting on the lease of a load that a delete fenced off loads anew', async () => {
    const { caches } = memoryFleet({ ttlMs: 60_000 }, 3);
    const [a, b, c] = caches as [(typeof caches)[0], (typeof caches)[0], (typeof caches)[0]];
    const slow = deferred<string>();
    const first = a.getOrLoad('k', () => slow.promise);
    await tick();
    // B waits for A's value (the lease is A's); no clock moves, so only a bus message wakes it.
    const loaderB = vi.fn(async () => 'newer');
    const second = b.getOrLoad('k', loaderB);
    await tick();
    expect(loaderB).not.toHaveBeenCalled();
    // C's delete ends A's lease: B, woken by it, finds the lease free and loads.
    await c.delete('k');
    await tick();
    expect(loaderB).toHaveBeenCalledTimes(1);
    expect(await second).toBe('newer');
    slow.resolve('older');
    expect(await first).toBe('older');
    await a.settle();
    await b.settle();
    expect(await c.get('k')).toBe('newer');
  });

  it('a set on one replica is visible on the next read of another (bus)', async () => {
    const { caches } = memoryFleet({ ttlMs: 60_000, l1: { maxStaleMs: 3_600_000 } });
    const [a, b] = caches as [(typeof caches)[0], (typeof caches)[0]];
    await a.set('k', 'v1');
    expect(await b.get('k')).toBe('v1');
    await a.set('k', 'v2');
    expect(await b.get('k')).toBe('v2');
    await a.delete('k');
    expect(await b.get('k')).toBeUndefined();
  });

  it('tag invalidation on one replica voids the L1 of another', async () => {
    const { caches } = memoryFleet({ ttlMs: 60_000, l1: { maxStaleMs: 3_600_000 } });
    const [a, b] = caches as [(typeof caches)[0], (typeof caches)[0]];
    await b.getOrLoad('k', async () => 'v', { tags: ['t'] });
    await a.invalidateTags(['t']);
    expect(await b.get('k')).toBeUndefined();
  });

  it('l1.maxStaleMs bounds staleness when a bus message is lost', async () => {
    const { caches, clock, store } = memoryFleet({ ttlMs: 60_000, l1: { maxStaleMs: 1000 } });
    const [, b] = caches as [(typeof caches)[0], (typeof caches)[0]];
    await b.set('k', 'v1');
    // Write behind B's back, as if the bus message were lost.
    const ns = store.scope('other-name');
    void ns;
    const raw = store.scope('fleet');
    const current = await raw.get('k');
    await raw.set('k', {
      record: current!.record.replace('v1', 'v2'),
      ttlMs: undefined,
      origin: (b as unknown as { origin: string }).origin,
    });
    expect(await b.get('k')).toBe('v1');
    await clock.advance(1000);
    expect(await b.get('k')).toBe('v2');
  });
});
