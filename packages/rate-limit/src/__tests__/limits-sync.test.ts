// The sync of published limits when things go wrong: a store that fails or hangs keeps the limits
// in force (under the store deadline, through the store call path), a record a replica cannot
// take is skipped with a warning, a failed publish changes nothing, and bad options are named.
import { isStoreError } from '@breakwater/core';
import { spyOnProcessWarnings } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryStore, type RateLimiter, type RateLimitStore, rateLimiter } from '../index.js';
import { scriptedStore } from './helpers.js';

const SYNC_MS = 20;
const HOUR = 3_600_000;
const warnings = spyOnProcessWarnings();

/** A memory store whose published-limits operations fail, hang, or are counted, on demand. */
function flakyLimitsStore() {
  const inner = memoryStore();
  const state = { failure: undefined as Error | 'hang' | undefined, reads: 0 };
  const guard = <T>(run: () => T | Promise<T>): Promise<T> => {
    if (state.failure === 'hang') return new Promise<T>(() => {});
    if (state.failure) return Promise.reject(state.failure);
    return Promise.resolve().then(run);
  };
  const store: RateLimitStore = {
    kind: 'flaky',
    scope: (shape) => ({ ...inner.scope(shape), remote: true }),
    readLimits: (name, signal) => {
      state.reads++;
      return guard(() => inner.readLimits!(name, signal));
    },
    writeLimits: (name, limits, signal) => guard(() => inner.writeLimits!(name, limits, signal)),
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
  return { store, inner, state };
}

const open: RateLimiter[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((limiter) => limiter.close()));
});

function limiterOn(store: RateLimitStore, name = 'sync'): RateLimiter {
  const limiter = rateLimiter({
    name,
    store,
    limit: 2,
    intervalMs: HOUR,
    limitsSyncIntervalMs: SYNC_MS,
    storeDeadlineMs: 50,
    storeProbeIntervalMs: 50,
    onStoreError: 'fail-open',
  });
  open.push(limiter);
  return limiter;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const published = (limit: unknown) =>
  JSON.stringify([{ limit, intervalMs: HOUR, burst: 0, algorithm: 'gcra' }]);

describe('published limits, when things go wrong', () => {
  it('keeps the limits in force while reads fail or hang, and adopts once they answer', async () => {
    const { store, inner, state } = flakyLimitsStore();
    state.failure = new Error('store down');
    const limiter = limiterOn(store);
    inner.writeLimits!('sync', published(4), undefined);
    await sleep(SYNC_MS * 4);
    expect(limiter.limits[0]!.limit).toBe(2);
    state.failure = 'hang';
    await sleep(200);
    // Each hung read ended at the deadline, and the next one was tried after it.
    expect(limiter.limits[0]!.limit).toBe(2);
    const reads = state.reads;
    state.failure = undefined;
    // The store is degraded by now (reads are skipped, not sent): the next read let through as
    // the probe succeeds, and the published limits are adopted.
    expect(limiter.storeStatus).toBe('degraded');
    await sleep(300);
    expect(state.reads).toBeGreaterThan(reads);
    expect(limiter.limits[0]!.limit).toBe(4);
  });

  it('skips a record this replica cannot take, with one warning, until a newer version', async () => {
    const { store, inner } = flakyLimitsStore();
    const limiter = limiterOn(store);
    inner.writeLimits!('sync', published({ perReplica: 3 }), undefined);
    await sleep(SYNC_MS * 5);
    expect(limiter.limits[0]!.limit).toBe(2);
    const skipped = warnings.messages().filter((m) => m.includes('not adopted'));
    expect(skipped).toEqual([
      expect.stringMatching(
        /^Rate limit "sync": published limits version 1 not adopted, the limits in force stay: Expected `limits` without `\{ perReplica \}`/,
      ),
    ]);
    inner.writeLimits!('sync', published(6), undefined);
    await sleep(SYNC_MS * 5);
    expect(limiter.limits[0]!.limit).toBe(6);
  });

  it('a failed publish rejects with a StoreError naming write-limits and changes nothing', async () => {
    const { store, inner, state } = flakyLimitsStore();
    const limiter = limiterOn(store);
    state.failure = new Error('store down');
    const failed = await limiter
      .setLimits({ limit: 9, intervalMs: HOUR }, { fleet: true })
      .catch((e) => e);
    expect(isStoreError(failed)).toBe(true);
    expect((failed as { operation?: string }).operation).toBe('write-limits');
    expect(limiter.limits[0]!.limit).toBe(2);
    state.failure = undefined;
    expect(inner.readLimits!('sync', undefined)).toBeUndefined();
  });

  it('refuses to publish what it cannot, before writing anything', async () => {
    const { store, inner } = flakyLimitsStore();
    const limiter = limiterOn(store);
    await expect(
      limiter.setLimits({ limit: -1, intervalMs: HOUR }, { fleet: true }),
    ).rejects.toThrow('Expected `limit` to be a finite number > 0, got -1');
    await expect(
      limiter.setLimits({ limit: 1, intervalMs: HOUR }, { fleet: false } as never),
    ).rejects.toThrow('Expected `fleet` to be true, got false');
    expect(inner.readLimits!('sync', undefined)).toBeUndefined();
    const without = rateLimiter({
      name: 'plain',
      limit: 1,
      intervalMs: HOUR,
      store: scriptedStore(),
    });
    await expect(
      without.setLimits({ limit: 2, intervalMs: HOUR }, { fleet: true }),
    ).rejects.toThrow(
      'Expected a store with readLimits() and writeLimits() to publish limits, got the "scripted" store without them',
    );
  });

  it('reads nothing with limitsSyncIntervalMs: 0, and stops reading on close()', async () => {
    const { store, state } = flakyLimitsStore();
    const off = rateLimiter({
      name: 'off',
      store,
      limit: 1,
      intervalMs: HOUR,
      limitsSyncIntervalMs: 0,
    });
    open.push(off);
    await sleep(SYNC_MS * 3);
    expect(state.reads).toBe(0);
    const on = limiterOn(store, 'on');
    await sleep(SYNC_MS * 3);
    expect(state.reads).toBeGreaterThan(0);
    await on.close();
    const reads = state.reads;
    await sleep(SYNC_MS * 3);
    expect(state.reads).toBe(reads);
  });
});

describe('options of limits per key and fleet-wide limits', () => {
  it.each([
    [
      { limitsSyncIntervalMs: -1 },
      'Expected `limitsSyncIntervalMs` to be a finite number >= 0, got -1',
    ],
    [
      { limitsSyncIntervalMs: 'often' },
      'Expected `limitsSyncIntervalMs` to be a finite number >= 0, got "often"',
    ],
    [
      { limitsSyncIntervalMs: 2 ** 31 },
      'Expected `limitsSyncIntervalMs` to be at most 2147483647, got 2147483648',
    ],
    [
      { planCache: { maxKeys: 10 } },
      'Expected `planCache` only with a `limits` function, got `planCache` with fixed limits',
    ],
  ])('rateLimiter(%o) throws, naming the option', (bad, message) => {
    expect(() =>
      rateLimiter({ name: 'bad', limit: 1, intervalMs: 1000, ...(bad as object) }),
    ).toThrow(message);
  });

  it.each([
    [{ planCache: { maxKeys: 0 } }, 'Expected `planCache.maxKeys` to be an integer >= 1, got 0'],
    [{ planCache: { ttlMs: 0 } }, 'Expected `planCache.ttlMs` to be a finite number > 0, got 0'],
    [{ planCache: 'big' }, 'Expected `planCache` to be an object, got "big"'],
    [{ reserve: { batch: 2 } }, 'Expected either `reserve` or a `limits` function, got both'],
    [{ burst: 3 }, 'Expected `burst` inside the limits the `limits` function returns'],
    [
      { limit: 3, intervalMs: 1000 },
      'Expected either `limit` + `intervalMs` or `limits`, got both',
    ],
  ])('rateLimiter({ limits: fn, ...%o }) throws, naming the option', (bad, message) => {
    expect(() =>
      rateLimiter({
        name: 'bad',
        limits: () => ({ limit: 1, intervalMs: 1000 }),
        ...(bad as object),
      }),
    ).toThrow(message);
  });
});
