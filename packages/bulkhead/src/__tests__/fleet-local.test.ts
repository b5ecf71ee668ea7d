import { fakeClock } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import {
  adaptive,
  type BulkheadContext,
  bulkhead,
  isLeaseLostError,
  LeaseLostError,
  memoryStore,
  type PermitScope,
  type PermitStore,
} from '../index.js';
import { activeTimers, caught, deferred, flush } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Wraps a store, counting the calls of each operation and optionally failing some. */
function instrumented(inner: PermitStore, failures: { acquire?: boolean; renew?: boolean } = {}) {
  const counts = { acquire: 0, renew: 0, release: 0 };
  const store: PermitStore = {
    kind: inner.kind,
    scope(options) {
      const scope = inner.scope(options);
      const wrapped: PermitScope = {
        acquire: (request, signal) => {
          counts.acquire++;
          if (failures.acquire) return Promise.reject(new Error('store down'));
          return scope.acquire(request, signal);
        },
        renew: (lease, ttl, signal) => {
          counts.renew++;
          if (failures.renew) return Promise.reject(new Error('store down'));
          return scope.renew(lease, ttl, signal);
        },
        release: (lease, signal) => {
          counts.release++;
          return scope.release(lease, signal);
        },
        get wakeups() {
          return scope.wakeups;
        },
        waitForRelease: (ms, signal, seen) => scope.waitForRelease(ms, signal, seen),
        close: () => scope.close(),
      };
      return wrapped;
    },
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
  return { store, counts, failures };
}

describe('fleet bulkhead (in-process store)', () => {
  it('shares one limit between replicas and wakes waiters when a permit frees', async () => {
    const store = memoryStore();
    const replicas = [0, 1, 2].map(() =>
      bulkhead({ name: 'db', maxConcurrent: 3, maxQueue: 100, store, wakeupPollMs: 60_000 }),
    );
    let inflight = 0;
    let peak = 0;
    const calls = Array.from({ length: 30 }, (_, i) =>
      replicas[i % 3]!.execute(async () => {
        inflight++;
        peak = Math.max(peak, inflight);
        await sleep(2);
        inflight--;
        return i;
      }),
    );
    const started = Date.now();
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(peak).toBe(3);
    // Woken by releases, not by the (one minute) fallback poll.
    expect(Date.now() - started).toBeLessThan(5_000);
    await Promise.all(replicas.map((r) => r.close()));
  });

  it('wakes a waiter promptly and leaves no timer behind once calls are done', async () => {
    const before = activeTimers();
    const store = memoryStore();
    const a = bulkhead({ name: 'db', maxConcurrent: 1, store, leaseTtlMs: 60_000 });
    const b = bulkhead({ name: 'db', maxConcurrent: 1, maxQueue: 5, maxWaitMs: 60_000, store });
    const gate = deferred();
    const holding = a.execute(() => gate.promise);
    await flush();
    const controller = new AbortController();
    const waiting = caught(b.execute(() => 1, { signal: controller.signal }));
    const queued = b.execute(() => 2);
    await flush();
    expect(activeTimers()).toBeGreaterThan(before);
    controller.abort(new Error('gone'));
    await waiting;
    gate.resolve();
    await holding;
    const releasedAt = Date.now();
    await expect(queued).resolves.toBe(2);
    // Woken by the release, not by the one-second fallback poll.
    expect(Date.now() - releasedAt).toBeLessThan(500);
    await a.close();
    await b.close();
    await flush();
    expect(activeTimers()).toBeLessThanOrEqual(before);
  });

  it('takes exactly one store round trip to acquire and one to release', async () => {
    const { store, counts } = instrumented(memoryStore());
    const b = bulkhead({ name: 'db', maxConcurrent: 2, store });
    for (let i = 0; i < 10; i++) await b.execute(() => i);
    await b.close();
    expect(counts).toEqual({ acquire: 10, renew: 0, release: 10 });
  });

  it('sends the adaptive limit with each acquire', async () => {
    const limit = adaptive({ algorithm: 'aimd', min: 1, max: 10, initial: 3 });
    const store = memoryStore();
    const b = bulkhead({ name: 'db', limit, store });
    const other = store.scope({ name: 'db', classes: ['default'] });
    const held = [];
    const never = new AbortController().signal;
    for (let i = 0; i < 2; i++) {
      held.push(
        await other.acquire(
          {
            classIndex: 0,
            layout: { limit: 10, reserved: [0], max: [Infinity] },
            ttlMs: 60_000,
            leaseId: `x${i}`,
            refusedWaitMs: 1_000,
          },
          never,
        ),
      );
    }
    // Two of the fleet's permits are taken elsewhere; the limit of 3 leaves one.
    const gate = deferred();
    const first = b.execute(() => gate.promise);
    await flush();
    await expect(b.execute(() => 1)).rejects.toMatchObject({ reason: 'queue-full' });
    gate.resolve();
    await first;
    // A failure shrinks the limit to 2: the two foreign leases now fill the fleet.
    await b.execute(() => Promise.reject(new Error('overload'))).catch(() => {});
    expect(b.maxConcurrent).toBe(2);
    await expect(b.execute(() => 1)).rejects.toMatchObject({ reason: 'queue-full' });
    expect(held.every((r) => r.granted)).toBe(true);
    await other.close();
    await b.close();
  });

  it('hands fn a fencing token', async () => {
    const b = bulkhead({ name: 'db', maxConcurrent: 2, store: memoryStore() });
    const tokens: (number | undefined)[] = [];
    for (let i = 0; i < 3; i++) await b.execute(({ fencingToken }) => tokens.push(fencingToken));
    expect(tokens).toEqual([1, 2, 3]);
    await b.close();
  });

  it('renews the lease while fn runs', async () => {
    const clock = fakeClock(1_000_000);
    const { store, counts } = instrumented(memoryStore({ clock }));
    const b = bulkhead({ name: 'db', maxConcurrent: 1, store, leaseTtlMs: 300, clock });
    let signal: AbortSignal | undefined;
    const running = b.execute(async (ctx) => {
      signal = ctx.signal;
      await clock.sleep(1_000);
    });
    for (let i = 0; i < 10; i++) await clock.advance(100);
    await running;
    expect(counts.renew).toBeGreaterThanOrEqual(9);
    expect(signal?.aborted).toBe(false);
    await b.close();
  });

  it('aborts ctx.signal with LeaseLostError when renewal fails past the lease end', async () => {
    const clock = fakeClock(1_000_000);
    const { store, failures } = instrumented(memoryStore({ clock }));
    const b = bulkhead({ name: 'db', maxConcurrent: 1, store, leaseTtlMs: 300, clock });
    let ctx: BulkheadContext | undefined;
    const gate = deferred();
    const running = b.execute(async (c) => {
      ctx = c;
      await gate.promise;
      return 'done';
    });
    await flush();
    failures.renew = true;
    await clock.advance(250);
    expect(ctx?.signal.aborted).toBe(false);
    await clock.advance(100);
    expect(ctx?.signal.aborted).toBe(true);
    expect(ctx?.signal.reason).toBeInstanceOf(LeaseLostError);
    expect(isLeaseLostError(ctx?.signal.reason)).toBe(true);
    expect(ctx?.signal.reason).toMatchObject({ policyName: 'db', fencingToken: 1 });
    gate.resolve();
    await running;
    await b.close();
  });

  it('aborts at once when the store says the lease is gone', async () => {
    const clock = fakeClock(1_000_000);
    const memory = memoryStore({ clock });
    const b = bulkhead({ name: 'db', maxConcurrent: 1, store: memory, leaseTtlMs: 300, clock });
    const other = memory.scope({ name: 'db', classes: ['default'] });
    let ctx: BulkheadContext | undefined;
    const gate = deferred();
    const running = b.execute(async (c) => {
      ctx = c;
      await gate.promise;
    });
    await flush();
    // Somebody else's release cannot touch our lease; an expiry can: stall renewals by jumping.
    clock.set(clock.now() + 1_000);
    await clock.advance(100);
    expect(ctx?.signal.reason).toBeInstanceOf(LeaseLostError);
    gate.resolve();
    await running;
    await other.close();
    await b.close();
  });

  it('onStoreError: fail-closed rejects, fail-open runs without a permit, local caps the replica', async () => {
    const down = () => instrumented(memoryStore(), { acquire: true }).store;
    const closed = bulkhead({
      name: 'db',
      maxConcurrent: 2,
      store: down(),
      onStoreError: 'fail-closed',
    });
    const statuses: string[] = [];
    closed.onStoreStatusChange((change) => statuses.push(change.status));
    const error = await caught(closed.execute(() => 1));
    expect(error).toMatchObject({ name: 'BulkheadRejectedError', reason: 'store-unavailable' });
    expect((error as Error).cause).toMatchObject({
      name: 'StoreError',
      store: 'memory',
      operation: 'acquire',
    });
    // Degraded only after `storeFailureThreshold` (3) consecutive failures.
    expect(statuses).toEqual([]);
    await caught(closed.execute(() => 1));
    await caught(closed.execute(() => 1));
    expect(statuses).toEqual(['degraded']);
    expect(closed.storeStatus).toBe('degraded');

    const open = bulkhead({
      name: 'db',
      maxConcurrent: 2,
      store: down(),
      onStoreError: 'fail-open',
    });
    await expect(open.execute(({ fencingToken }) => fencingToken)).resolves.toBeUndefined();

    const local = bulkhead({
      name: 'db',
      maxConcurrent: 4,
      maxQueue: 10,
      store: down(),
      onStoreError: 'local',
      localMaxConcurrent: 1,
      wakeupPollMs: 5,
    });
    let inflight = 0;
    let peak = 0;
    const calls = Array.from({ length: 4 }, () =>
      local.execute(async () => {
        inflight++;
        peak = Math.max(peak, inflight);
        await sleep(5);
        inflight--;
      }),
    );
    await Promise.all(calls);
    expect(peak).toBe(1);
  });

  it('gives back at once a lease granted to an acquire that missed its deadline or was aborted', async () => {
    const memory = memoryStore();
    const slow: PermitStore = {
      kind: 'memory',
      close: () => memory.close(),
      [Symbol.asyncDispose]: () => memory.close(),
      scope(options) {
        const scope = memory.scope(options);
        return {
          ...scope,
          wakeups: 0,
          // Granted in the store, answered too late.
          acquire: async (request, signal) => {
            const result = await scope.acquire(request, signal);
            await sleep(100);
            return result;
          },
          release: (lease, signal) => scope.release(lease, signal),
          renew: (lease, ttl, signal) => scope.renew(lease, ttl, signal),
          waitForRelease: (ms, signal, seen) => scope.waitForRelease(ms, signal, seen),
          close: () => scope.close(),
        };
      },
    };
    const b = bulkhead({
      name: 'db',
      maxConcurrent: 1,
      store: slow,
      onStoreError: 'fail-closed',
      storeDeadlineMs: 20,
      leaseTtlMs: 60_000,
    });
    await expect(b.execute(() => 1)).rejects.toMatchObject({ reason: 'store-unavailable' });
    const controller = new AbortController();
    const aborted = b.execute(() => 1, { signal: controller.signal });
    await sleep(5);
    controller.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');
    await b.close();
    await sleep(150);
    // Neither orphan holds the fleet's only permit: another replica gets it at once.
    const other = bulkhead({ name: 'db', maxConcurrent: 1, store: memory });
    await expect(other.execute(() => 'free')).resolves.toBe('free');
    await other.close();
  });

  it('close() waits one store deadline at most, also when an acquire in flight misses it', async () => {
    // A hung store: nothing it is asked ever answers.
    let releases = 0;
    const never = <T>() => new Promise<T>(() => {});
    const hung: PermitStore = {
      kind: 'hung',
      close: async () => {},
      [Symbol.asyncDispose]: async () => {},
      scope: () => ({
        acquire: () => never(),
        renew: () => never(),
        release: () => {
          releases++;
          return never();
        },
        wakeups: 0,
        waitForRelease: () => never(),
        close: async () => {},
      }),
    };
    const deadlineMs = 300;
    const b = bulkhead({
      name: 'db',
      maxConcurrent: 1,
      store: hung,
      onStoreError: 'fail-closed',
      storeDeadlineMs: deadlineMs,
      storeFailureThreshold: 5,
    });
    const call = caught(b.execute(() => 1));
    await flush();
    const started = performance.now();
    await b.close();
    const closeMs = performance.now() - started;
    // The acquire ends at its deadline and the call with it; the release of the lease it may
    // still have been granted is sent then, under a deadline of its own, without holding up
    // close() for a second deadline.
    expect(closeMs).toBeLessThan(deadlineMs + 150);
    expect(await call).toMatchObject({ reason: 'store-unavailable' });
    expect(releases).toBe(1);
  });

  it('rejects with queue-timeout when no fleet permit frees within maxWaitMs', async () => {
    const store = memoryStore();
    const a = bulkhead({ name: 'db', maxConcurrent: 1, store });
    const b = bulkhead({ name: 'db', maxConcurrent: 1, maxQueue: 5, maxWaitMs: 50, store });
    const gate = deferred();
    const holding = a.execute(() => gate.promise);
    await flush();
    await expect(b.execute(() => 1)).rejects.toMatchObject({ reason: 'queue-timeout' });
    // maxQueue 0: no waiting for a fleet permit at all.
    await expect(a.execute(() => 1)).rejects.toMatchObject({ reason: 'queue-full' });
    gate.resolve();
    await holding;
    await a.close();
    await b.close();
  });
});
