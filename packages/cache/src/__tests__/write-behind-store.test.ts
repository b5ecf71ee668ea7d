/**
 * Write-behind on core's store call path, with a queue that fails on demand: the store options,
 * the queue's degraded mode (writes and every queue operation answered at once, a probe bringing
 * it back), what a degraded queue does to a write with a cache, refusals that are answers and not
 * failures, a hung queue under close(), and the store telemetry. The same against real stores,
 * refused and hung: write-queue.degradation.test.ts and write-behind.degradation.test.ts.
 */
import {
  isStoreError,
  isStoreTimeoutError,
  type StoreStatusChange,
  StoreTimeoutError,
} from '@breakwater/core';
import { installOtel } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cache,
  isWriteBehindBacklogError,
  memoryStore,
  memoryWriteBehindQueue,
  WRITE_BEHIND_DEFAULTS,
  type WriteBehind,
  type WriteBehindOptions,
  type WriteBehindQueue,
  type WriteQueueScope,
  writeBehind,
} from '../index.js';
import { interceptedStore } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the flaky queue does with every operation, its probe included. */
type Mode = 'up' | 'down' | 'hung';

/**
 * A memory queue that fails (`down`) or never answers (`hung`) on demand, with a probe that does
 * the same, counting the operations that reached it.
 */
function flakyQueue(options: { appendMany?: boolean } = {}) {
  const inner = memoryWriteBehindQueue();
  const state = { mode: 'up' as Mode, reached: 0, probes: 0, operations: [] as string[] };
  const cause = new Error('connection refused');
  const gate = <R>(operation: string, run: () => Promise<R>): Promise<R> => {
    state.reached++;
    state.operations.push(operation);
    if (state.mode === 'down') return Promise.reject(cause);
    if (state.mode === 'hung') return new Promise<R>(() => {});
    return run();
  };
  const queue: WriteBehindQueue = {
    kind: 'memory',
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
    scope(name) {
      const scope = inner.scope(name);
      const flaky: WriteQueueScope = {
        probe: () => {
          state.probes++;
          if (state.mode === 'down') return Promise.reject(cause);
          if (state.mode === 'hung') return new Promise(() => {});
          return Promise.resolve();
        },
        append: (...args) => gate('append', () => scope.append(...args)),
        claim: (...args) => gate('claim', () => scope.claim(...args)),
        touch: (...args) => gate('touch', () => scope.touch(...args)),
        complete: (...args) => gate('complete', () => scope.complete(...args)),
        fail: (...args) => gate('fail', () => scope.fail(...args)),
        pending: () => gate('pending', () => scope.pending()),
        backlog: () => gate('backlog', () => scope.backlog()),
        listDeadLetters: (...args) => gate('listDeadLetters', () => scope.listDeadLetters(...args)),
        deleteDeadLetters: (...args) =>
          gate('deleteDeadLetters', () => scope.deleteDeadLetters(...args)),
      };
      if (options.appendMany !== false) {
        flaky.appendMany = (...args) => gate('appendMany', () => scope.appendMany!(...args));
      }
      return flaky;
    },
  };
  return { queue, state, cause };
}

const open: WriteBehind<unknown>[] = [];
function make(options: Partial<WriteBehindOptions<unknown>>): WriteBehind<unknown> {
  const wb = writeBehind<unknown>({
    name: 'orders',
    persist: () => {},
    flusher: false,
    storeDeadlineMs: 100,
    storeFailureThreshold: 2,
    storeProbeIntervalMs: 20,
    ...options,
  });
  open.push(wb);
  return wb;
}

afterEach(async () => {
  for (const wb of open.splice(0)) await wb.close({ timeoutMs: 200 }).catch(() => {});
});

/** Resolves with the next status event, or `undefined` after `ms`. */
function nextEvent(wb: WriteBehind<unknown>, ms: number): Promise<StoreStatusChange | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      dispose();
      resolve(undefined);
    }, ms);
    const dispose = wb.onStoreStatusChange((change) => {
      clearTimeout(timer);
      dispose();
      resolve(change);
    });
  });
}

describe("write-behind's store options", () => {
  it("are core's, with core's defaults, validated naming the option", () => {
    expect(WRITE_BEHIND_DEFAULTS).toMatchObject({
      storeDeadlineMs: 500,
      storeFailureThreshold: 3,
      storeProbeIntervalMs: 1_000,
    });
    const persist = () => {};
    expect(() => writeBehind({ name: 'x', persist, storeDeadlineMs: 0 })).toThrow(
      /`storeDeadlineMs`.*0/,
    );
    expect(() => writeBehind({ name: 'x', persist, storeDeadlineMs: 3e9 })).toThrow(
      /`storeDeadlineMs` to be at most 2147483647, got 3000000000/,
    );
    expect(() => writeBehind({ name: 'x', persist, storeFailureThreshold: 1.5 })).toThrow(
      /`storeFailureThreshold`.*1\.5/,
    );
    expect(() => writeBehind({ name: 'x', persist, storeProbeIntervalMs: -1 })).toThrow(
      /`storeProbeIntervalMs`.*-1/,
    );
    // The option of the queue's own deadline is gone: the store deadline is the one.
    expect(
      () => writeBehind({ name: 'x', persist, queue: { kind: 'memory', namespace() {} } as never }),
      'a queue written against namespace()',
    ).toThrow(/with scope\(\)/);
  });
});

describe.each([
  { batching: true, path: 'appendMany' },
  { batching: false, path: 'append' },
])('a failing queue ($path)', ({ batching }) => {
  it('degrades after storeFailureThreshold failures; then everything is refused at once, until the probe finds it back', async () => {
    const { queue, state, cause } = flakyQueue({ appendMany: batching });
    const wb = make({ queue });
    const events: StoreStatusChange[] = [];
    wb.onStoreStatusChange((change) => events.push(change));
    await expect(wb.write('k', 1)).resolves.toBeGreaterThan(0);
    expect(wb.storeStatus).toBe('healthy');

    state.mode = 'down';
    for (let i = 0; i < 2; i++) {
      const error = await wb.write('k', 2).catch((e: unknown) => e);
      expect(isStoreError(error), String(error)).toBe(true);
      expect(error).toMatchObject({ store: 'memory', operation: 'append', cause });
    }
    expect(events).toEqual([
      {
        policy: 'orders',
        pattern: 'write-behind',
        store: 'memory',
        status: 'degraded',
        error: expect.objectContaining({ operation: 'append', cause }),
      },
    ]);
    expect(wb.storeStatus).toBe('degraded');

    // Degraded: nothing reaches the queue, and nothing waits.
    const reached = state.reached;
    const started = performance.now();
    const refused = await wb.write('k', 3).catch((e: unknown) => e);
    expect(isStoreError(refused)).toBe(true);
    expect(String(refused)).toMatch(/append was not attempted: the store is degraded/);
    await expect(wb.pending()).rejects.toThrow(/pending was not attempted/);
    await expect(wb.flush()).rejects.toThrow(/not attempted/);
    await expect(wb.deadLetters.list()).rejects.toThrow(/list_dead_letters was not attempted/);
    await expect(wb.deadLetters.delete(['1'])).rejects.toThrow(/not attempted/);
    expect(performance.now() - started).toBeLessThan(50);
    expect(state.reached).toBe(reached);
    expect(wb.stats().accepted).toBe(1);

    // The probe runs in the background: no write is needed for the queue to come back.
    state.mode = 'up';
    const healthy = await nextEvent(wb, 500);
    expect(healthy).toEqual({
      policy: 'orders',
      pattern: 'write-behind',
      store: 'memory',
      status: 'healthy',
    });
    expect(state.probes).toBeGreaterThan(0);
    expect(wb.storeStatus).toBe('healthy');
    await expect(wb.write('k', 4)).resolves.toBeGreaterThan(0);
    expect(await wb.pending()).toBe(2);
  });

  it('treats a backlog refusal as the queue answer it is: never a store failure', async () => {
    const { queue } = flakyQueue({ appendMany: batching });
    const wb = make({ queue, maxPending: 1, storeFailureThreshold: 1 });
    const events: StoreStatusChange[] = [];
    wb.onStoreStatusChange((change) => events.push(change));
    await wb.write('a', 1);
    for (let i = 0; i < 3; i++) {
      await expect(wb.write(`b${i}`, i)).rejects.toSatisfy(isWriteBehindBacklogError);
    }
    expect(wb.storeStatus).toBe('healthy');
    expect(events).toEqual([]);
  });
});

describe('a degraded queue and the cache', () => {
  it('refuses a write before it touches the cache', async () => {
    const { queue, state } = flakyQueue();
    const c = cache({
      name: 'orders',
      store: memoryStore(),
      l1: { maxEntries: 100 },
      ttlMs: 60_000,
    });
    try {
      await c.set('k', 'database value');
      const wb = make({ queue, cache: c });
      state.mode = 'down';
      // Each failed write was pinned, then taken back out of the cache.
      for (let i = 0; i < 2; i++)
        await expect(wb.write('other', i)).rejects.toSatisfy(isStoreError);
      expect(await c.get('other')).toBeUndefined();
      expect(wb.storeStatus).toBe('degraded');
      const started = performance.now();
      await expect(wb.write('k', 'never queued')).rejects.toThrow(/append was not attempted/);
      expect(performance.now() - started).toBeLessThan(50);
      // Not pinned then unpinned (which would have left no value): never written at all.
      expect(await c.get('k')).toBe('database value');
    } finally {
      await c.close();
    }
  });
});

describe('a hung queue', () => {
  it('answers a write by the deadline, and close() completes with the flusher running', async () => {
    const { queue, state } = flakyQueue();
    const wb = make({ queue, flusher: true, flushIntervalMs: 10, storeFailureThreshold: 100 });
    await wb.write('k', 1);
    state.mode = 'hung';
    const started = performance.now();
    const error = await wb.write('k', 2).catch((e: unknown) => e);
    const waited = performance.now() - started;
    expect(isStoreTimeoutError(error), String(error)).toBe(true);
    expect(error).toBeInstanceOf(StoreTimeoutError);
    expect(waited).toBeGreaterThanOrEqual(95);
    expect(waited).toBeLessThan(100 + 150);
    // A write under way, a flusher cycle waiting on a claim: close() waits for the write (one
    // deadline) and never rejects. The write failed on the queue, so there is no drain (its first
    // queue call would have waited one more deadline); the claim ends by its own deadline.
    const writing = wb.write('k', 3).catch((e: unknown) => e);
    const closing = performance.now();
    const operationsBefore = state.operations.length;
    await expect(wb.close()).resolves.toBeUndefined();
    expect(performance.now() - closing).toBeLessThan(100 + 150);
    expect(isStoreTimeoutError(await writing)).toBe(true);
    expect(state.operations.slice(operationsBefore)).not.toContain('pending');
  });

  it('still drains on close when the write it waited for was given up by its caller', async () => {
    const { queue, state } = flakyQueue({ appendMany: false });
    const persisted: string[] = [];
    const wb = make({
      queue,
      persist: (batch) => {
        for (const entry of batch) persisted.push(entry.key);
      },
    });
    await wb.write('queued', 1);
    state.mode = 'hung';
    const controller = new AbortController();
    const writing = wb.write('given-up', 2, { signal: controller.signal }).catch((e: unknown) => e);
    await sleep(10);
    const closing = wb.close();
    state.mode = 'up';
    controller.abort(new Error('caller gave up'));
    expect(String(await writing)).toContain('caller gave up');
    await closing;
    expect(state.operations).toContain('pending');
    expect(persisted).toEqual(['queued']);
  });

  it.each([
    ["skips the drain when a write just failed on a cache store of the queue's kind", 'memory'],
    ['still drains when a write failed on a cache store of another kind', 'redis'],
  ])('%s', async (_, cacheKind) => {
    const { queue, state } = flakyQueue({ appendMany: false });
    const inner = memoryStore();
    let cacheDown = false;
    const failing = interceptedStore(
      inner,
      (call) => (cacheDown ? Promise.reject(new Error('cache store refused')) : call()),
      cacheKind,
    );
    const c = cache({ name: 'orders', store: failing, l1: false, onStoreError: 'fail-closed' });
    const persisted: string[] = [];
    try {
      const wb = make({
        queue,
        cache: c,
        persist: (batch) => {
          for (const entry of batch) persisted.push(entry.key);
        },
      });
      await wb.write('queued', 1);
      cacheDown = true;
      const writing = wb.write('refused', 2).catch((e: unknown) => e);
      await wb.close();
      const error = await writing;
      expect(isStoreError(error), String(error)).toBe(true);
      expect((error as { store: string }).store).toBe(cacheKind);
      const drained = cacheKind !== 'memory';
      expect(state.operations.includes('pending')).toBe(drained);
      expect(persisted).toEqual(drained ? ['queued'] : []);
    } finally {
      await c.close();
    }
  });

  it('lets a write abort while it waits, without counting a store failure', async () => {
    const { queue, state } = flakyQueue({ appendMany: false });
    const wb = make({ queue, storeFailureThreshold: 1 });
    state.mode = 'hung';
    const controller = new AbortController();
    const writing = wb.write('k', 1, { signal: controller.signal });
    await sleep(10);
    controller.abort(new Error('caller gave up'));
    await expect(writing).rejects.toThrow('caller gave up');
    expect(wb.storeStatus).toBe('healthy');
  });
});

describe("write-behind's store telemetry", () => {
  it("is core's: duration and errors by operation and outcome, and no counter of its own", async () => {
    const otel = installOtel();
    try {
      const { queue, state } = flakyQueue();
      const wb = make({ queue });
      await wb.write('k', 1);
      await wb.pending();
      state.mode = 'down';
      for (let i = 0; i < 3; i++) await wb.write('k', 2).catch(() => {});
      const operation = 'breakwater.store.operation';
      const outcome = 'breakwater.store.outcome';
      const ok = { [operation]: 'append', [outcome]: 'ok' };
      const duration = await otel.metric('breakwater.write_behind.store.duration');
      const okAppends = duration!.points.find(
        (point) => point.attributes[operation] === 'append' && point.attributes[outcome] === 'ok',
      );
      expect(okAppends?.attributes).toMatchObject({
        ...ok,
        'breakwater.policy.name': 'orders',
        'breakwater.store': 'memory',
      });
      const errors = 'breakwater.write_behind.store.errors';
      expect(await otel.sum(errors, { [operation]: 'append', [outcome]: 'error' })).toBe(2);
      expect(await otel.sum(errors, { [operation]: 'append', [outcome]: 'degraded' })).toBe(1);
      expect(await otel.metric('breakwater.write_behind.queue.errors')).toBeUndefined();
    } finally {
      await otel.uninstall();
    }
  });
});
