// The local cap of `onStoreError: 'local'` sized by the fleet: replicas counted by a replica
// registry (core's, on an in-process backend shared by the replicas of one test), a store that
// the test takes down and brings back.
import { memoryReplicaBackend, type ReplicaBackend } from '@breakwater/core';
import { describe, expect, it } from 'vitest';
import { type Bulkhead, bulkhead, DEFAULTS, memoryStore, type PermitStore } from '../index.js';
import { until } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One fleet: permits in one in-process store, replicas counted on one in-process registry
 * backend. While `down`, every store operation fails (permits and heartbeats alike), as when
 * Redis is unreachable.
 */
function fleet() {
  const permits = memoryStore();
  const registry = memoryReplicaBackend();
  const state = { down: false, heartbeats: 0, ids: new Set<string>() };
  const failure = () => Promise.reject(new Error('store down'));
  const backend: ReplicaBackend = {
    heartbeat(id, ttlMs, signal) {
      state.heartbeats++;
      state.ids.add(id);
      return state.down ? failure() : registry.heartbeat(id, ttlMs, signal);
    },
    leave: (id, signal) => (state.down ? failure() : registry.leave(id, signal)),
  };
  const store: PermitStore = {
    kind: 'faulty',
    scope(options) {
      const scope = permits.scope(options);
      return {
        acquire: (request, signal) => (state.down ? failure() : scope.acquire(request, signal)),
        renew: (lease, ttl, signal) => (state.down ? failure() : scope.renew(lease, ttl, signal)),
        release: (lease, signal) => (state.down ? failure() : scope.release(lease, signal)),
        get wakeups() {
          return scope.wakeups;
        },
        waitForRelease: (ms, signal, seen) => scope.waitForRelease(ms, signal, seen),
        replicaBackend: () => backend,
        close: () => scope.close(),
      };
    },
    close: () => permits.close(),
    [Symbol.asyncDispose]: () => permits.close(),
  };
  return { store, state };
}

type Options = Omit<Parameters<typeof bulkhead>[0], 'store' | 'limit'>;

function replica(store: PermitStore, options: Partial<Options> = {}): Bulkhead<'default'> {
  return bulkhead({
    name: 'db',
    maxConcurrent: 6,
    maxQueue: 100,
    wakeupPollMs: 10,
    replicaRenewIntervalMs: 20,
    replicaTtlMs: 200,
    storeProbeIntervalMs: 20,
    store,
    ...options,
  } as Parameters<typeof bulkhead>[0]) as Bulkhead<'default'>;
}

/** Calls running now, and the most that ran at once: per replica, or shared by several. */
interface Gauge {
  inflight: number;
  peak: number;
}

/** Runs `calls` calls of `ms` each at once; resolves the most that ran at once, and the tokens. */
async function peakOf(
  b: Bulkhead,
  calls: number,
  ms = 15,
  gauge: Gauge = { inflight: 0, peak: 0 },
) {
  const tokens = await Promise.all(
    Array.from({ length: calls }, () =>
      b.execute(async ({ fencingToken }) => {
        gauge.inflight++;
        gauge.peak = Math.max(gauge.peak, gauge.inflight);
        await sleep(ms);
        gauge.inflight--;
        return fencingToken;
      }),
    ),
  );
  return { peak: gauge.peak, tokens };
}

describe("onStoreError: 'local' sized by the fleet", () => {
  it('caps each replica at max(1, floor(maxConcurrent / N)) while the store is down, re-sized as N changes', async () => {
    const { store, state } = fleet();
    const [a, b, c] = [replica(store), replica(store), replica(store)];
    await until(() => a.replicas?.count === 3, 2_000);
    expect(a.replicas).toMatchObject({ count: 3, localMaxConcurrent: 2 });
    expect(a.replicas?.ageMs).toBeGreaterThanOrEqual(0);

    state.down = true;
    const first = await peakOf(a, 6);
    expect(first.peak).toBe(2);
    // Every call ran, none with a permit.
    expect(first.tokens).toEqual(Array(6).fill(undefined));
    expect(a.storeStatus).toBe('degraded');
    // The count survives the outage as its last known value.
    expect(a.replicas?.count).toBe(3);

    state.down = false;
    await c.close();
    await until(() => a.storeStatus === 'healthy' && a.replicas?.count === 2, 2_000);
    expect(a.replicas?.localMaxConcurrent).toBe(3);
    state.down = true;
    expect((await peakOf(a, 6)).peak).toBe(3);

    // A replica alone runs up to the whole limit.
    state.down = false;
    await b.close();
    await until(() => a.storeStatus === 'healthy' && a.replicas?.count === 1, 2_000);
    expect(a.replicas?.localMaxConcurrent).toBe(6);
    await a.close();
  });

  it('gives each replica at least one call when there are more replicas than maxConcurrent', async () => {
    const { store } = fleet();
    const replicas = Array.from({ length: 3 }, () => replica(store, { maxConcurrent: 2 }));
    await until(() => replicas.every((r) => r.replicas?.count === 3), 2_000);
    // floor(2 / 3) is 0: each replica keeps one call, so the fleet runs at most max(2, 3).
    expect(replicas.map((r) => r.replicas?.localMaxConcurrent)).toEqual([1, 1, 1]);
    await Promise.all(replicas.map((r) => r.close()));
  });

  it('counts the calls this replica runs with a permit against its local cap', async () => {
    const { store, state } = fleet();
    const [a, b, c] = [replica(store), replica(store), replica(store)];
    await until(() => a.replicas?.count === 3, 2_000);
    let finishLeased = () => {};
    const gate = new Promise<void>((resolve) => {
      finishLeased = resolve;
    });
    const leased = [a.execute(() => gate), a.execute(() => gate)];
    await until(() => a.active === 2);
    state.down = true;
    let started = false;
    const late = a.execute(() => {
      started = true;
    });
    await sleep(60);
    // Two calls already run here (with permits): the local cap of 2 is full.
    expect(started).toBe(false);
    finishLeased();
    await Promise.all(leased);
    await late;
    expect(started).toBe(true);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('uses localMaxConcurrent as given, with no replica registry', async () => {
    const { store, state } = fleet();
    const others = [replica(store), replica(store)];
    await until(() => others[0]!.replicas?.count === 2, 2_000);
    const a = replica(store, { localMaxConcurrent: 4 });
    expect(a.replicas).toBeUndefined();
    await sleep(60);
    // Only the two other replicas ever sent a heartbeat.
    expect(state.ids.size).toBe(2);
    state.down = true;
    expect((await peakOf(a, 6)).peak).toBe(4);
    state.down = false;
    await Promise.all([a.close(), ...others.map((r) => r.close())]);
  });

  it('starts a waiting call as soon as a call without a permit ends, not at the next poll', async () => {
    const { store, state } = fleet();
    const a = replica(store, { localMaxConcurrent: 1, wakeupPollMs: 60_000 });
    state.down = true;
    const started = performance.now();
    // The second call waits for the first (cap 1); nothing but this process can wake it.
    const { peak } = await peakOf(a, 2, 20);
    expect(peak).toBe(1);
    expect(performance.now() - started).toBeLessThan(1_000);
    await a.close();
  });

  it('keeps no registry for fail-open, fail-closed, or a store without a replica backend', async () => {
    const { store, state } = fleet();
    const closed = replica(store, { onStoreError: 'fail-closed' });
    const open = replica(store, { onStoreError: 'fail-open' });
    await sleep(50);
    expect(state.heartbeats).toBe(0);
    expect(closed.replicas).toBeUndefined();
    expect(open.replicas).toBeUndefined();
    state.down = true;
    await expect(closed.execute(() => 1)).rejects.toMatchObject({ reason: 'store-unavailable' });
    // fail-open has no cap of its own beyond the local slots.
    expect((await peakOf(open, 6)).peak).toBe(6);
    await Promise.all([closed.close(), open.close()]);
  });

  it('leaves the registry on close(), and stops its heartbeats', async () => {
    const { store, state } = fleet();
    const [a, b] = [replica(store), replica(store)];
    await until(() => a.replicas?.count === 2 && b.replicas?.count === 2, 2_000);
    await b.close();
    // Gone at once (at a's next heartbeat), not after the TTL (200 ms).
    await until(() => a.replicas?.count === 1, 100);
    await a.close();
    const after = state.heartbeats;
    await sleep(60);
    expect(state.heartbeats).toBe(after);
  });
});

describe('the memory store and the defaults', () => {
  it("defaults to 'local'; the memory store keeps no registry and hands out permits as before", async () => {
    expect(DEFAULTS.onStoreError).toBe('local');
    const store = memoryStore();
    const [a, b] = [
      bulkhead({ name: 'db', maxConcurrent: 2, maxQueue: 10, store }),
      bulkhead({ name: 'db', maxConcurrent: 2, maxQueue: 10, store }),
    ];
    expect(a.replicas).toBeUndefined();
    const both: Gauge = { inflight: 0, peak: 0 };
    const [x, y] = await Promise.all([peakOf(a, 3, 10, both), peakOf(b, 3, 10, both)]);
    // One fleet limit of 2 for both, each call with a fencing token.
    expect(both.peak).toBe(2);
    expect([...x.tokens, ...y.tokens].every((t) => typeof t === 'number')).toBe(true);
    await Promise.all([a.close(), b.close()]);
  });

  it('rejects bad replica timing and local caps at construction, naming the option', () => {
    const store = memoryStore();
    const base = { maxConcurrent: 2, store };
    expect(() => bulkhead({ ...base, replicaRenewIntervalMs: 1_000, replicaTtlMs: 1_000 })).toThrow(
      'Expected `replicaTtlMs` to be longer than `replicaRenewIntervalMs` (1000), got 1000',
    );
    expect(() => bulkhead({ ...base, replicaTtlMs: 500 })).toThrow(
      'Expected `replicaTtlMs` to be longer than `replicaRenewIntervalMs` (5000), got 500',
    );
    expect(() => bulkhead({ ...base, replicaRenewIntervalMs: 0 })).toThrow(
      /`replicaRenewIntervalMs`.*got 0/,
    );
    expect(() => bulkhead({ ...base, replicaRenewIntervalMs: -5 })).toThrow(
      /`replicaRenewIntervalMs`.*got -5/,
    );
    expect(() => bulkhead({ ...base, replicaTtlMs: Number.NaN })).toThrow(
      /`replicaTtlMs`.*got NaN/,
    );
    expect(() => bulkhead({ ...base, localMaxConcurrent: 0 })).toThrow(
      /`localMaxConcurrent`.*got 0/,
    );
    expect(() => bulkhead({ ...base, localMaxConcurrent: 1.5 })).toThrow(
      /`localMaxConcurrent`.*got 1.5/,
    );
    // A larger renew interval moves the default TTL with it (3 ×).
    expect(() => bulkhead({ ...base, replicaRenewIntervalMs: 10_000 })).not.toThrow();
  });
});
