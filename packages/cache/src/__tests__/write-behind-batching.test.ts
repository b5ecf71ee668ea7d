/**
 * Smart batching of `write()`s: concurrent writes share one `appendMany` call (one round trip),
 * yet each resolves with its own version or its own refusal, a failed or late batch rejects every
 * write in it and leaves none of them queued or cached, and an aborted write leaves its batch.
 */
import { isStoreError, isStoreTimeoutError } from '@breakwater/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cache,
  isWriteBehindBacklogError,
  memoryStore,
  memoryWriteBehindQueue,
  type PersistEntry,
  type WriteBehind,
  type WriteBehindOptions,
  writeBehind,
} from '../index.js';
import { MAX_APPEND_BATCH } from '../write-behind/append-batcher.js';
import type { WriteBehindQueue, WriteQueueScope } from '../write-behind/queue.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The first `accepted` writes went in; every later one was refused for the backlog. */
function expectBacklogPast(accepted: number, results: PromiseSettledResult<unknown>[]): void {
  expect(results.map((r) => r.status)).toEqual(
    results.map((_, i) => (i < accepted ? 'fulfilled' : 'rejected')),
  );
  for (const r of results.slice(accepted))
    expect(isWriteBehindBacklogError((r as PromiseRejectedResult).reason)).toBe(true);
}

/** A memory queue that records its appendMany calls and can fail or hold them. */
function recordingQueue() {
  const inner = memoryWriteBehindQueue();
  const control = {
    /** Sizes of the appendMany calls, in order. */
    batches: [] as number[],
    singleAppends: 0,
    /** The next appendMany call rejects with this. */
    failNext: undefined as Error | undefined,
    /** appendMany calls wait for this before they run. */
    hold: undefined as Promise<void> | undefined,
  };
  const queue: WriteBehindQueue = {
    kind: 'memory',
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
    scope(name) {
      const ns = inner.scope(name);
      const wrapped: WriteQueueScope = {
        append: (key, payload, options) => {
          control.singleAppends++;
          return ns.append(key, payload, options);
        },
        appendMany: async (items, maxPending) => {
          control.batches.push(items.length);
          if (control.hold !== undefined) await control.hold;
          const failure = control.failNext;
          if (failure !== undefined) {
            control.failNext = undefined;
            throw failure;
          }
          return ns.appendMany!(items, maxPending);
        },
        claim: (...args) => ns.claim(...args),
        touch: (...args) => ns.touch(...args),
        complete: (...args) => ns.complete(...args),
        fail: (...args) => ns.fail(...args),
        pending: () => ns.pending(),
        backlog: () => ns.backlog(),
        listDeadLetters: (...args) => ns.listDeadLetters(...args),
        deleteDeadLetters: (...args) => ns.deleteDeadLetters(...args),
      };
      return wrapped;
    },
  };
  return { queue, control };
}

const rows = new Map<string, { value: unknown; version: number }>();
const persist = async (batch: readonly PersistEntry<unknown>[]) => {
  for (const { key, value, version } of batch) {
    const row = rows.get(key);
    if (row === undefined || row.version < version) rows.set(key, { value, version });
  }
};

const open: WriteBehind<unknown>[] = [];
function make(options: Partial<WriteBehindOptions<unknown>>): WriteBehind<unknown> {
  const wb = writeBehind<unknown>({ name: 'batched', persist, flusher: false, ...options });
  open.push(wb);
  return wb;
}

afterEach(async () => {
  for (const wb of open.splice(0)) await wb.close().catch(() => {});
  rows.clear();
});

const settle = <T>(promises: Promise<T>[]) => Promise.allSettled(promises);

describe('write-behind batching of appends', () => {
  it('sends concurrent writes in few appendMany calls, each resolving with its own version', async () => {
    const { queue, control } = recordingQueue();
    const wb = make({ queue });
    const count = MAX_APPEND_BATCH + 44;
    const versions = await Promise.all(
      Array.from({ length: count }, (_, i) => wb.write(`k${i % 50}`, i)),
    );
    expect(control.batches).toEqual([MAX_APPEND_BATCH, 44]);
    expect(control.singleAppends).toBe(0);
    // Writes of one key get distinct, growing versions in the order they were made.
    for (let i = 50; i < count; i++) expect(versions[i]).toBeGreaterThan(versions[i - 50]!);
    await wb.flush();
    for (let k = 0; k < 50; k++) {
      const last = count - 50 + k;
      expect(rows.get(`k${k}`)).toEqual({ value: last, version: versions[last] });
    }
  });

  it('queues writes made while a batch is on its way and sends them together next', async () => {
    const { queue, control } = recordingQueue();
    const wb = make({ queue });
    let release!: () => void;
    control.hold = new Promise((resolve) => {
      release = resolve;
    });
    const first = wb.write('a', 0);
    await sleep(1);
    const later: Promise<number>[] = [];
    for (let i = 0; i < 10; i++) {
      later.push(wb.write(`b${i}`, i));
      await sleep(0);
    }
    expect(control.batches).toEqual([1]);
    release();
    control.hold = undefined;
    await Promise.all([first, ...later]);
    expect(control.batches).toEqual([1, 10]);
    expect(await wb.pending()).toBe(11);
  });

  it('refuses only the writes past maxPending in a batch', async () => {
    const { queue, control } = recordingQueue();
    const wb = make({ queue, maxPending: 3 });
    await wb.write('first', 0);
    const results = await settle(Array.from({ length: 5 }, (_, i) => wb.write(`k${i}`, i)));
    expect(control.batches).toEqual([1, 5]);
    expectBacklogPast(2, results);
    expect(await wb.pending()).toBe(3);
    expect(wb.stats().accepted).toBe(3);
  });

  it('takes only the refused writes of a batch back out of the cache', async () => {
    const { queue, control } = recordingQueue();
    const c = cache({
      name: 'batched',
      store: memoryStore(),
      l1: { maxEntries: 100 },
      ttlMs: 60_000,
    });
    const wb = make({ queue, cache: c, maxPending: 3 });
    await wb.write('first', 0);
    const results = await settle(Array.from({ length: 5 }, (_, i) => wb.write(`k${i}`, i)));
    // Each write caches its value first, so how the appends group depends on the cache's timing.
    expect(control.batches.reduce((a, b) => a + b, 0)).toBe(6);
    expectBacklogPast(2, results);
    expect(await wb.pending()).toBe(3);
    expect(await c.get('k0')).toBe(0);
    expect(await c.get('k1')).toBe(1);
    for (let i = 2; i < 5; i++) expect(await c.get(`k${i}`)).toBeUndefined();
    expect(wb.stats().accepted).toBe(3);
    await c.close();
  });

  it('rejects every write of a failed batch, with none of them queued or cached', async () => {
    const { queue, control } = recordingQueue();
    const c = cache({
      name: 'batched',
      store: memoryStore(),
      l1: { maxEntries: 100 },
      ttlMs: 60_000,
    });
    await c.set('k0', 'database value');
    const wb = make({ queue, cache: c });
    const cause = new Error('connection reset');
    control.failNext = cause;
    const results = await settle(Array.from({ length: 8 }, (_, i) => wb.write(`k${i}`, i)));
    expect(control.batches.reduce((a, b) => a + b, 0)).toBe(8);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const error = (r as PromiseRejectedResult).reason;
      expect(isStoreError(error)).toBe(true);
      expect(error.cause).toBe(cause);
    }
    expect(await wb.pending()).toBe(0);
    for (let i = 0; i < 8; i++) expect(await c.get(`k${i}`)).toBeUndefined();
    expect(wb.stats().accepted).toBe(0);
    // The queue is fine again: the next writes go through.
    await expect(wb.write('k0', 'again')).resolves.toBeGreaterThan(0);
    expect(await c.get('k0')).toBe('again');
    await c.close();
  });

  it('rejects the writes of a batch that misses storeDeadlineMs, and lets the next one go', async () => {
    const { queue, control } = recordingQueue();
    const wb = make({ queue, storeDeadlineMs: 50 });
    let release!: () => void;
    control.hold = new Promise((resolve) => {
      release = resolve;
    });
    const started = Date.now();
    const hung = settle([wb.write('a', 1), wb.write('b', 2)]);
    await sleep(20);
    const behind = settle([wb.write('c', 3)]);
    const [a, b] = await hung;
    const [c] = await behind;
    for (const r of [a, b, c]) {
      expect(r!.status).toBe('rejected');
      expect(isStoreTimeoutError((r as PromiseRejectedResult).reason)).toBe(true);
    }
    // No write waited much longer than the deadline, the one behind the hung batch included.
    expect(Date.now() - started).toBeLessThan(50 + 20 + 50 + 200);
    // The batch behind was sent once the first one's deadline passed, without waiting for it.
    expect(control.batches).toEqual([2, 1]);
    control.hold = undefined;
    release();
    await expect(wb.write('d', 4)).resolves.toBeGreaterThan(0);
  });

  it('leaves a write aborted while it waits out of its batch', async () => {
    const { queue, control } = recordingQueue();
    const wb = make({ queue });
    let release!: () => void;
    control.hold = new Promise((resolve) => {
      release = resolve;
    });
    const first = wb.write('a', 1);
    await sleep(1);
    const controller = new AbortController();
    const aborted = wb.write('b', 2, { signal: controller.signal });
    const kept = wb.write('c', 3, { signal: new AbortController().signal });
    controller.abort(new Error('caller gave up'));
    await expect(aborted).rejects.toThrow('caller gave up');
    control.hold = undefined;
    release();
    await Promise.all([first, kept]);
    expect(control.batches).toEqual([1, 1]);
    await wb.flush();
    expect([...rows.keys()].sort()).toEqual(['a', 'c']);
  });
});
