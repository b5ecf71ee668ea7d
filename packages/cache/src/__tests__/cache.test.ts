import { getEventListeners } from 'node:events';
import { isTimeoutError } from '@breakwater/core';
import { fakeClock } from '@breakwater/testkit';
import { describe, expect, it, vi } from 'vitest';
import { cache, isCacheCodecError } from '../index.js';
import { deferred, testCache, tick } from './helpers.js';

describe('getOrLoad', () => {
  it('runs the loader once for 1,000 concurrent misses (L1 + L2)', async () => {
    const { c } = testCache();
    const gate = deferred<string>();
    const loader = vi.fn(() => gate.promise);
    const calls = Array.from({ length: 1000 }, () => c.getOrLoad('k', loader));
    await tick();
    gate.resolve('v');
    expect(new Set(await Promise.all(calls))).toEqual(new Set(['v']));
    expect(loader).toHaveBeenCalledTimes(1);
    expect(await c.getOrLoad('k', loader)).toBe('v');
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('runs the loader once for 1,000 concurrent misses (L1 only)', async () => {
    const c = cache({ name: 'l1-only' });
    const loader = vi.fn(async () => ({ n: 1 }));
    const results = await Promise.all(Array.from({ length: 1000 }, () => c.getOrLoad('k', loader)));
    expect(loader).toHaveBeenCalledTimes(1);
    expect(results.every((r) => r === results[0])).toBe(true);
  });

  it('serves from the L2 when the L1 is disabled, and from the L1 when present', async () => {
    const { c, store, clock } = testCache({ l1: false, ttlMs: 1000 });
    const loader = vi.fn(async () => ({ n: 1 }));
    expect(await c.getOrLoad('k', loader)).toEqual({ n: 1 });
    const again = await c.getOrLoad('k', loader);
    expect(again).toEqual({ n: 1 });
    expect(loader).toHaveBeenCalledTimes(1);
    // Another cache on the same store sees the value without loading.
    const other = cache({ name: 'test', store, clock, jitter: 0 });
    expect(await other.getOrLoad('k', loader)).toEqual({ n: 1 });
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('reloads after ttlMs', async () => {
    const { c, clock } = testCache({ ttlMs: 1000 });
    let n = 0;
    const loader = async () => ++n;
    expect(await c.getOrLoad('k', loader)).toBe(1);
    await clock.advance(999);
    expect(await c.getOrLoad('k', loader)).toBe(1);
    await clock.advance(1);
    expect(await c.getOrLoad('k', loader)).toBe(2);
  });

  it('spreads ttlMs by ± jitter', async () => {
    const clock = fakeClock(0);
    const values = [0, 0.999];
    const c = cache({
      name: 'j',
      clock,
      ttlMs: 1000,
      jitter: 0.2,
      beta: 0,
      random: () => values.shift() ?? 0.5,
    });
    let n = 0;
    await c.getOrLoad('low', async () => ++n);
    await c.getOrLoad('high', async () => ++n);
    await clock.advance(800);
    expect(await c.getOrLoad('low', async () => 'reloaded')).toBe('reloaded');
    expect(await c.getOrLoad('high', async () => 'reloaded')).toBe(2);
    await clock.advance(400);
    expect(await c.getOrLoad('high', async () => 'reloaded')).toBe('reloaded');
  });

  it('serves the stale value at once and refreshes in the background (SWR)', async () => {
    const { c, clock } = testCache({ ttlMs: 1000, staleMs: 500 });
    await c.getOrLoad('k', async () => 'old');
    await clock.advance(1200);
    const refresh = deferred<string>();
    const loader = vi.fn(() => refresh.promise);
    expect(await c.getOrLoad('k', loader)).toBe('old');
    expect(await c.getOrLoad('k', loader)).toBe('old');
    await tick();
    expect(loader).toHaveBeenCalledTimes(1);
    refresh.resolve('new');
    await tick();
    expect(await c.getOrLoad('k', loader)).toBe('new');
  });

  it('loads in the foreground once the stale window has passed', async () => {
    const { c, clock } = testCache({ ttlMs: 1000, staleMs: 500 });
    await c.getOrLoad('k', async () => 'old');
    await clock.advance(1600);
    expect(await c.getOrLoad('k', async () => 'new')).toBe('new');
  });

  it('serves the value in grace when the loader fails, and backs off before retrying', async () => {
    const { c, clock } = testCache({ ttlMs: 1000, graceMs: 60_000, graceBackoffMs: 1000 });
    await c.getOrLoad('k', async () => 'old');
    await clock.advance(1500);
    const failing = vi.fn(async () => {
      throw new Error('db down');
    });
    expect(await c.getOrLoad('k', failing)).toBe('old');
    expect(failing).toHaveBeenCalledTimes(1);
    // Within the backoff the loader is left alone.
    expect(await c.getOrLoad('k', failing)).toBe('old');
    expect(failing).toHaveBeenCalledTimes(1);
    await clock.advance(1000);
    expect(await c.getOrLoad('k', failing)).toBe('old');
    expect(failing).toHaveBeenCalledTimes(2);
    // The backoff doubles.
    await clock.advance(1000);
    expect(await c.getOrLoad('k', failing)).toBe('old');
    expect(failing).toHaveBeenCalledTimes(2);
    await clock.advance(1000);
    expect(await c.getOrLoad('k', async () => 'new')).toBe('new');
    // Beyond grace the error surfaces.
    await clock.advance(70_000);
    await expect(c.getOrLoad('k', failing)).rejects.toThrow('db down');
  });

  it('throws the loader error when there is nothing to fall back on', async () => {
    const { c } = testCache({ ttlMs: 1000, graceMs: 1000 });
    await expect(c.getOrLoad('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(
      c.getOrLoad('k', () => {
        throw new Error('sync boom');
      }),
    ).rejects.toThrow('sync boom');
  });

  it('refreshes hot keys early with XFetch', async () => {
    const clock = fakeClock(0);
    const c = cache({
      name: 'x',
      clock,
      ttlMs: 10_000,
      jitter: 0,
      beta: 1,
      random: () => 0.999999,
    });
    let n = 0;
    await c.getOrLoad('k', async () => {
      await clock.advance(100); // the load takes 100 ms
      return ++n;
    });
    const loader = vi.fn(async () => ++n);
    // Far from expiry: -100 × ln(1e-6) ≈ 1382 ms of look-ahead; at 5 s left, no refresh.
    await clock.advance(5000);
    expect(await c.getOrLoad('k', loader)).toBe(1);
    expect(loader).not.toHaveBeenCalled();
    // With 1 s left, a draw that close to 0 triggers an early, background refresh.
    await clock.advance(4000);
    expect(await c.getOrLoad('k', loader)).toBe(1);
    await tick();
    expect(loader).toHaveBeenCalledTimes(1);
    expect(await c.getOrLoad('k', loader)).toBe(2);
  });

  it('never refreshes early with beta 0', async () => {
    const clock = fakeClock(0);
    const c = cache({ name: 'x', clock, ttlMs: 10_000, jitter: 0, beta: 0, random: () => 0 });
    await c.getOrLoad('k', async () => {
      await clock.advance(5000);
      return 1;
    });
    await clock.advance(9_999);
    const loader = vi.fn(async () => 2);
    expect(await c.getOrLoad('k', loader)).toBe(1);
    await tick();
    expect(loader).not.toHaveBeenCalled();
  });

  it('caches "not found" for negativeTtlMs only', async () => {
    const { c, clock } = testCache({ ttlMs: 60_000, negativeTtlMs: 1000 });
    const loader = vi.fn(async () => undefined);
    expect(await c.getOrLoad('missing', loader)).toBeUndefined();
    expect(await c.getOrLoad('missing', loader)).toBeUndefined();
    expect(loader).toHaveBeenCalledTimes(1);
    await clock.advance(1000);
    expect(await c.getOrLoad('missing', async () => 'found')).toBe('found');
  });

  it('does not cache "not found" by default', async () => {
    const { c } = testCache({ ttlMs: 60_000 });
    const loader = vi.fn(async () => undefined);
    await c.getOrLoad('missing', loader);
    await c.getOrLoad('missing', loader);
    expect(loader).toHaveBeenCalledTimes(2);
  });

  it('serves the stale value after softTimeoutMs and finishes the load in the background', async () => {
    const { c, clock } = testCache({ ttlMs: 1000, graceMs: 10_000, softTimeoutMs: 100 });
    await c.getOrLoad('k', async () => 'old');
    await clock.advance(2000);
    const slow = deferred<string>();
    const pending = c.getOrLoad('k', () => slow.promise);
    await tick();
    await clock.advance(100);
    expect(await pending).toBe('old');
    slow.resolve('new');
    await tick();
    expect(await c.getOrLoad('k', async () => 'unused')).toBe('new');
  });

  it('keeps waiting past softTimeoutMs when there is nothing to serve', async () => {
    const { c, clock } = testCache({ ttlMs: 1000, softTimeoutMs: 100 });
    const slow = deferred<string>();
    const pending = c.getOrLoad('k', () => slow.promise);
    await clock.advance(500);
    slow.resolve('v');
    expect(await pending).toBe('v');
  });

  it('rejects with TimeoutError after hardTimeoutMs and aborts the loader', async () => {
    const { c, clock } = testCache({ ttlMs: 1000 });
    let signal: AbortSignal | undefined;
    const pending = c.getOrLoad(
      'k',
      (ctx) => {
        signal = ctx.signal;
        return new Promise<string>(() => {});
      },
      { hardTimeoutMs: 200 },
    );
    const outcome = pending.catch((error: unknown) => error);
    await tick();
    await clock.advance(200);
    const error = await outcome;
    expect(isTimeoutError(error)).toBe(true);
    expect(signal?.aborted).toBe(true);
    expect(isTimeoutError(signal?.reason)).toBe(true);
  });

  it('serves the value in grace when the hard timeout hits', async () => {
    const { c, clock } = testCache({ ttlMs: 1000, graceMs: 10_000, hardTimeoutMs: 200 });
    await c.getOrLoad('k', async () => 'old');
    await clock.advance(1500);
    const pending = c.getOrLoad('k', () => new Promise<string>(() => {}));
    await tick();
    await clock.advance(200);
    expect(await pending).toBe('old');
  });

  it("rejects with the caller's signal reason but lets the shared load finish", async () => {
    const { c } = testCache();
    const gate = deferred<string>();
    const controller = new AbortController();
    const first = c.getOrLoad('k', () => gate.promise, { signal: controller.signal });
    const second = c.getOrLoad('k', () => gate.promise);
    controller.abort(new Error('caller gone'));
    await expect(first).rejects.toThrow('caller gone');
    gate.resolve('v');
    expect(await second).toBe('v');
  });

  it("leaves no listener on the caller's signal and no timer behind", async () => {
    const { c, clock } = testCache({
      ttlMs: 1000,
      graceMs: 5000,
      softTimeoutMs: 50,
      hardTimeoutMs: 500,
    });
    const controller = new AbortController();
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await c.getOrLoad('a', async () => 1, { signal: controller.signal });
    const coalesced = [
      c.getOrLoad('b', async () => 2, { signal: controller.signal }),
      c.getOrLoad('b', async () => 3, { signal: controller.signal }),
    ];
    await Promise.all(coalesced);
    await clock.advance(1500);
    await c.getOrLoad('a', async () => 4, { signal: controller.signal });
    await tick();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await c.close();
    // The lease keeper's loop (one per cache, not per load) ends with the cache.
    expect(clock.pendingSleeps).toBe(0);
    expect(
      process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length,
    ).toBeLessThanOrEqual(timersBefore);
  });

  it('validates keys, loaders and per-call options', async () => {
    const { c } = testCache();
    await expect(c.getOrLoad('', async () => 1)).rejects.toThrow(
      'Expected `key` to be a non-empty string, got ""',
    );
    await expect(c.getOrLoad(42 as unknown as string, async () => 1)).rejects.toThrow(TypeError);
    await expect(c.getOrLoad('k', 'nope' as never)).rejects.toThrow(
      'Expected `loader` to be a function',
    );
    await expect(c.getOrLoad('k', async () => 1, { ttlMs: -1 })).rejects.toThrow(
      'Expected `ttlMs` to be a finite number > 0, got -1',
    );
    await expect(c.getOrLoad('k', async () => 1, { tags: [''] })).rejects.toThrow('`tags[0]`');
    await expect(c.get('')).rejects.toThrow(TypeError);
    await expect(c.set('', 1)).rejects.toThrow(TypeError);
    await expect(c.delete('')).rejects.toThrow(TypeError);
  });

  it('names the key when a value cannot be encoded', async () => {
    const { c } = testCache();
    const error = await c.getOrLoad('user:1', async () => ({ save() {} })).catch((e: unknown) => e);
    expect(isCacheCodecError(error)).toBe(true);
    expect((error as Error).message).toContain('"user:1"');
    expect((error as Error).message).toContain('value.save');
    await expect(c.set('user:2', { s: Symbol('x') })).rejects.toThrow(/"user:2".*value\.s/);
    // The lease was released: another load of the key proceeds.
    expect(await c.getOrLoad('user:1', async () => ({ ok: true }))).toEqual({ ok: true });
  });
});

describe('options', () => {
  it('rejects invalid options, naming them', () => {
    expect(() => cache({ name: '' })).toThrow('Expected `name` to be a non-empty string, got ""');
    expect(() => cache({ name: 'c', ttlMs: -5 })).toThrow(
      'Expected `ttlMs` to be a finite number > 0, got -5',
    );
    expect(() => cache({ name: 'c', staleMs: 10 })).toThrow('Expected `ttlMs` with `staleMs` (10)');
    expect(() => cache({ name: 'c', graceMs: 10 })).toThrow('Expected `ttlMs` with `graceMs` (10)');
    expect(() => cache({ name: 'c', l1: false })).toThrow('Expected `store` when `l1` is false');
    expect(() => cache({ name: 'c', jitter: 2 })).toThrow('Expected `jitter` in [0, 1], got 2');
    expect(() => cache({ name: 'c', l1: { maxEntries: 0 } })).toThrow('`l1.maxEntries`');
    expect(() => cache({ name: 'c', onStoreError: 'explode' as never })).toThrow('`onStoreError`');
    expect(() => cache({ name: 'c', lease: { ttlMs: 1.5 } })).toThrow('`lease.ttlMs`');
  });
});

describe('get / set / delete / write / wrap', () => {
  it('get never loads; set and delete act on every tier', async () => {
    const { c, store, clock } = testCache({ ttlMs: 1000 });
    expect(await c.get('k')).toBeUndefined();
    await c.set('k', { when: new Date(5) });
    expect(await c.get('k')).toEqual({ when: new Date(5) });
    const other = cache({ name: 'test', store, clock, l1: false });
    expect(await other.get('k')).toEqual({ when: new Date(5) });
    await c.delete('k');
    expect(await c.get('k')).toBeUndefined();
    expect(await other.get('k')).toBeUndefined();
  });

  it('set overrides per-call ttl', async () => {
    const { c, clock } = testCache({ ttlMs: 1000 });
    await c.set('k', 1, { ttlMs: 5000 });
    await clock.advance(4000);
    expect(await c.get('k')).toBe(1);
    await clock.advance(1000);
    expect(await c.get('k')).toBeUndefined();
  });

  it('a set during a load wins over the loaded value', async () => {
    const { c } = testCache();
    const gate = deferred<string>();
    const loading = c.getOrLoad('k', () => gate.promise);
    await tick();
    await c.set('k', 'written');
    gate.resolve('loaded-before-the-write');
    expect(await loading).toBe('loaded-before-the-write');
    expect(await c.get('k')).toBe('written');
    expect(await c.getOrLoad('k', async () => 'x')).toBe('written');
  });

  it('write persists first, then caches', async () => {
    const { c } = testCache();
    const order: string[] = [];
    await c.write('k', { v: 1 }, async () => {
      order.push('persist');
      expect(await c.get('k')).toBeUndefined();
    });
    order.push('cached');
    expect(await c.get('k')).toEqual({ v: 1 });
    expect(order).toEqual(['persist', 'cached']);
  });

  it('write invalidates the key when persist fails', async () => {
    const { c } = testCache();
    await c.set('k', 'old');
    await expect(
      c.write('k', 'new', async () => {
        throw new Error('db refused');
      }),
    ).rejects.toThrow('db refused');
    expect(await c.get('k')).toBeUndefined();
  });

  it('write fails before persisting a value the codec cannot encode', async () => {
    const { c } = testCache();
    const persist = vi.fn();
    await expect(c.write('k', { f: () => 1 }, persist)).rejects.toThrow(/"k"/);
    expect(persist).not.toHaveBeenCalled();
  });

  it('wrap caches by the derived key', async () => {
    const { c } = testCache();
    const load = vi.fn(async (id: string) => ({ id }));
    const getUser = c.wrap(load, { key: (id) => `user:${id}` });
    expect(await getUser('1')).toEqual({ id: '1' });
    expect(await getUser('1')).toEqual({ id: '1' });
    expect(await getUser('2')).toEqual({ id: '2' });
    expect(load).toHaveBeenCalledTimes(2);
    expect(await c.get('user:1')).toEqual({ id: '1' });
    expect(() => c.wrap(load, { key: 'x' as never })).toThrow('`key`');
  });
});

describe('tags', () => {
  it('invalidates tagged entries across both tiers', async () => {
    const { c, store, clock } = testCache({ ttlMs: 60_000 });
    await c.getOrLoad('a', async () => 'A', { tags: ['user:1'] });
    await c.getOrLoad('b', async () => 'B', { tags: ['user:2'] });
    await c.set('c', 'C', { tags: ['user:1', 'team:9'] });
    await c.invalidateTags(['user:1']);
    expect(await c.get('a')).toBeUndefined();
    expect(await c.get('c')).toBeUndefined();
    expect(await c.get('b')).toBe('B');
    // A cache with a cold L1 on the same store sees the invalidation through the store.
    const other = cache({ name: 'test', store, clock, l1: false });
    expect(await other.get('a')).toBeUndefined();
    expect(await other.get('b')).toBe('B');
    expect(await c.getOrLoad('a', async () => 'A2', { tags: ['user:1'] })).toBe('A2');
  });

  it('voids a value loaded while its tag was invalidated', async () => {
    const { c } = testCache();
    const gate = deferred<string>();
    const loading = c.getOrLoad('a', () => gate.promise, { tags: ['t'] });
    await tick();
    await c.invalidateTags(['t']);
    gate.resolve('loaded-before-invalidation');
    await loading;
    expect(await c.getOrLoad('a', async () => 'fresh', { tags: ['t'] })).toBe('fresh');
  });

  it('works without an L2', async () => {
    const c = cache({ name: 'tags-l1' });
    await c.set('a', 1, { tags: ['x'] });
    await c.invalidateTags(['x']);
    expect(await c.get('a')).toBeUndefined();
    await c.set('a', 2, { tags: ['x'] });
    expect(await c.get('a')).toBe(2);
  });
});

describe('L2 records', () => {
  it('treats a corrupt entry as a miss and overwrites it', async () => {
    const { c, store } = testCache({ l1: false });
    const ns = store.scope('test');
    await ns.set('k', { record: 'garbage', ttlMs: undefined, origin: 'x' });
    expect(await c.getOrLoad('k', async () => 'good')).toBe('good');
    expect((await ns.get('k'))?.record).toContain('good');
  });

  it('treats an entry of another codec as a miss', async () => {
    const { c, store, clock } = testCache({ l1: false });
    await c.set('k', 'from-bw1');
    const other = cache({
      name: 'test',
      store,
      clock,
      l1: false,
      codec: { id: 'v2', encode: (v) => JSON.stringify(v), decode: (s) => JSON.parse(s) },
    });
    expect(await other.get('k')).toBeUndefined();
    expect(await other.getOrLoad('k', async () => 'from-v2')).toBe('from-v2');
  });
});
