import { describe, expect, it, vi } from 'vitest';
import { cache } from '../index.js';
import { deferred, killable, memoryFleet, tick } from './helpers.js';

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
