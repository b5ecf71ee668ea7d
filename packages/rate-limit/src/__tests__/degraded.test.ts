import {
  isStoreError,
  isStoreTimeoutError,
  memoryReplicaBackend,
  type StoreStatusChange,
} from '@breakwater/core';
import { fakeClock } from '@breakwater/testkit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isRateLimitedError, type RateLimiter, rateLimiter } from '../index.js';
import { scriptedStore } from './helpers.js';

/** The limiter's store status changes, as its listeners receive them. */
function statusChanges(limiter: RateLimiter): StoreStatusChange[] {
  const changes: StoreStatusChange[] = [];
  limiter.onStoreStatusChange((change) => changes.push(change));
  return changes;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

afterEach(() => {
  vi.useRealTimers();
});

describe('onStoreError', () => {
  it("'fail-open' admits while the store fails; degraded after `storeFailureThreshold` failures, recovered by the background probe", async () => {
    const clock = fakeClock(0);
    const store = scriptedStore({ probe: true });
    const limiter = rateLimiter({
      name: 'open',
      limit: 1,
      intervalMs: 60_000,
      store,
      clock,
      onStoreError: 'fail-open',
      storeFailureThreshold: 3,
      storeProbeIntervalMs: 20,
    });
    const changes = statusChanges(limiter);
    store.failure = new Error('ECONNREFUSED');
    for (let i = 0; i < 2; i++) {
      expect(await limiter.limit('k')).toMatchObject({ allowed: true, source: 'degraded' });
    }
    expect(limiter.storeStatus).toBe('healthy');
    expect(await limiter.limit('k')).toMatchObject({ allowed: true, source: 'degraded' });
    expect(limiter.storeStatus).toBe('degraded');
    // Degraded: decisions no longer call the store.
    for (let i = 0; i < 5; i++) {
      expect(await limiter.limit('k')).toMatchObject({ allowed: true, source: 'degraded' });
    }
    expect(store.calls.consume).toBe(3);
    store.failure = undefined;
    // No decision is needed to notice the recovery: the background probe does.
    await vi.waitFor(() => expect(limiter.storeStatus).toBe('healthy'), { timeout: 1000 });
    expect(store.calls.probe).toBeGreaterThanOrEqual(1);
    expect(store.calls.consume).toBe(3);
    expect(await limiter.limit('k')).toMatchObject({ allowed: true, source: 'store' });
    expect(changes.map((change) => change.status)).toEqual(['degraded', 'healthy']);
    await limiter.close();
  });

  it('reports status changes in core’s shape, and the disposer unsubscribes', async () => {
    const store = scriptedStore({ probe: true });
    const limiter = rateLimiter({
      name: 'shape',
      limit: 10,
      intervalMs: 1000,
      store,
      storeFailureThreshold: 1,
      storeProbeIntervalMs: 20,
    });
    const changes = statusChanges(limiter);
    const disposed: StoreStatusChange[] = [];
    const dispose = limiter.onStoreStatusChange((change) => disposed.push(change));
    dispose();
    const refused = new Error('ECONNREFUSED');
    store.failure = refused;
    await limiter.limit('k');
    expect(changes).toHaveLength(1);
    const [degraded] = changes;
    expect(degraded).toMatchObject({
      policy: 'shape',
      pattern: 'rate-limit',
      store: 'scripted',
      status: 'degraded',
    });
    expect(degraded?.error).toMatchObject({ operation: 'consume', store: 'scripted' });
    expect(degraded?.error?.cause).toBe(refused);
    store.failure = undefined;
    await vi.waitFor(() => expect(changes).toHaveLength(2), { timeout: 1000 });
    expect(changes[1]).toEqual({
      policy: 'shape',
      pattern: 'rate-limit',
      store: 'scripted',
      status: 'healthy',
    });
    expect(disposed).toEqual([]);
    expect(() => limiter.onStoreStatusChange('nope' as never)).toThrow(
      'Expected `listener` to be a function',
    );
    await limiter.close();
  });

  it("'fail-closed' denies, and execute() rejects with the store error as cause", async () => {
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'closed',
      limit: 100,
      intervalMs: 1000,
      store,
      onStoreError: 'fail-closed',
      storeDeadlineMs: 250,
    });
    store.failure = new Error('ECONNREFUSED');
    expect(await limiter.limit('k')).toMatchObject({
      allowed: false,
      retryAfterMs: 250,
      source: 'degraded',
    });
    const error = await limiter.execute(() => 'never', { key: 'k' }).catch((e: unknown) => e);
    expect(isRateLimitedError(error)).toBe(true);
    expect(isStoreError((error as Error).cause)).toBe(true);
  });

  it("'local' limits each replica to limit × localShare in memory while the store is down", async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'local',
      limit: 100,
      intervalMs: 1000,
      burst: 99,
      store,
      clock,
      onStoreError: 'local',
      localShare: 0.25,
    });
    store.failure = new Error('ECONNREFUSED');
    let allowed = 0;
    for (let i = 0; i < 100; i++) {
      const decision = await limiter.limit('k');
      expect(decision.source).toBe('degraded');
      if (decision.allowed) allowed++;
    }
    // 100 × 0.25 = 25 per second, burst 99 × 0.25 → 25.75 at once.
    expect(allowed).toBe(25);
    await clock.advance(40);
    expect(await limiter.limit('k')).toMatchObject({ allowed: true, source: 'degraded' });
  });

  it("'local' without `localShare` limits each replica to limit / N, N the fleet's last known size", async () => {
    const clock = fakeClock(0);
    const replicas = memoryReplicaBackend();
    const store = scriptedStore({ replicas });
    const fleet = Array.from({ length: 4 }, () =>
      rateLimiter({
        name: 'fleet-sized',
        limit: 100,
        intervalMs: 1000,
        burst: 99,
        store,
        clock,
        replicaRenewIntervalMs: 10,
        replicaTtlMs: 60_000,
        storeProbeIntervalMs: 20,
      }),
    );
    // Every replica's second heartbeat sees all four.
    await vi.waitFor(() =>
      expect(fleet.map((limiter) => limiter.replicas?.count)).toEqual([4, 4, 4, 4]),
    );
    expect(fleet[0]!.replicas).toMatchObject({ count: 4, localShare: 0.25 });
    expect(fleet[0]!.replicas!.ageMs).toBeLessThan(1000);
    store.failure = new Error('ECONNREFUSED');
    const heartbeats = store.calls.heartbeat;
    let allowed = 0;
    for (const limiter of fleet) {
      for (let i = 0; i < 100; i++) {
        const decision = await limiter.limit('k');
        expect(decision.source).toBe('degraded');
        if (decision.allowed) allowed++;
      }
    }
    // Each enforces 100 / 4 per second, burst 99 / 4: 25 at once, 100 for the fleet — not 400.
    expect(allowed).toBe(100);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Heartbeats fail (or are not even attempted, degraded) and N stays at its last known value.
    expect(store.calls.heartbeat).toBeGreaterThanOrEqual(heartbeats);
    expect(fleet.map((limiter) => limiter.replicas?.count)).toEqual([4, 4, 4, 4]);
    expect(fleet[0]!.replicas!.ageMs).toBeGreaterThanOrEqual(40);
    store.failure = undefined;
    // Each replica's next attempt after `storeProbeIntervalMs` finds the store again.
    await vi.waitFor(async () => {
      for (const limiter of fleet) await limiter.limit('again');
      expect(fleet.map((limiter) => limiter.storeStatus)).toEqual(Array(4).fill('healthy'));
    });
    for (const limiter of fleet.slice(1)) await limiter.close();
    // Back up: the three that closed left the registry; the last one is alone again.
    await vi.waitFor(() => expect(fleet[0]!.replicas).toMatchObject({ count: 1, localShare: 1 }));
    await fleet[0]!.close();
  });

  it('keeps no replica registry when `localShare` is given, or without `onStoreError: local`', async () => {
    const store = scriptedStore({ replicas: memoryReplicaBackend() });
    const base = { name: 'no-registry', limit: 10, intervalMs: 1000, store };
    const limiters = [
      rateLimiter({ ...base, localShare: 0.5 }),
      rateLimiter({ ...base, onStoreError: 'fail-open' }),
      rateLimiter({ ...base, onStoreError: 'fail-closed' }),
    ];
    await limiters[0]!.limit('k');
    expect(limiters.map((limiter) => limiter.replicas)).toEqual([undefined, undefined, undefined]);
    expect(store.calls.heartbeat).toBe(0);
    for (const limiter of limiters) await limiter.close();
    expect(store.calls.leave).toBe(0);
  });

  it('bounds a hung store by the deadline; once degraded, no decision waits, and a hung probe is bounded too', async () => {
    const store = scriptedStore({ probe: true });
    const limiter = rateLimiter({
      name: 'hang',
      limit: 10,
      intervalMs: 1000,
      store,
      storeDeadlineMs: 50,
      storeFailureThreshold: 2,
      storeProbeIntervalMs: 30,
      onStoreError: 'fail-closed',
    });
    store.failure = 'hang';
    let started = performance.now();
    expect(await limiter.limit('k')).toMatchObject({ allowed: false, source: 'degraded' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(limiter.storeStatus).toBe('healthy');
    const second = await failure(limiter.execute(() => 'never', { key: 'k' }));
    expect(isStoreTimeoutError((second as Error).cause)).toBe(true);
    expect(limiter.storeStatus).toBe('degraded');

    started = performance.now();
    for (let i = 0; i < 10; i++) {
      expect(await limiter.limit(`k${i}`)).toMatchObject({ allowed: false, source: 'degraded' });
    }
    expect(performance.now() - started).toBeLessThan(25);
    expect(store.calls.consume).toBe(2);
    // Probes hang as well: each is abandoned at the deadline, the next one follows.
    await vi.waitFor(() => expect(store.calls.probe).toBeGreaterThanOrEqual(2), { timeout: 2000 });
    expect(limiter.storeStatus).toBe('degraded');
    store.failure = undefined;
    await vi.waitFor(() => expect(limiter.storeStatus).toBe('healthy'), { timeout: 2000 });
    expect(await limiter.limit('c')).toMatchObject({ allowed: true, source: 'store' });
    await limiter.close();
  });

  it('a store without a probe is tried by one real decision per `storeProbeIntervalMs`', async () => {
    vi.useFakeTimers();
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'no-probe',
      limit: 10,
      intervalMs: 1000,
      store,
      storeFailureThreshold: 1,
      storeProbeIntervalMs: 1000,
    });
    store.failure = new Error('ECONNREFUSED');
    await limiter.limit('a');
    expect(limiter.storeStatus).toBe('degraded');
    for (let i = 0; i < 5; i++) await limiter.limit('a');
    expect(store.calls.consume).toBe(1);
    store.failure = undefined;
    await vi.advanceTimersByTimeAsync(1000);
    // Nothing probed in the background: the next decision is the probe.
    expect(limiter.storeStatus).toBe('degraded');
    expect(await limiter.limit('a')).toMatchObject({ source: 'store' });
    expect(limiter.storeStatus).toBe('healthy');
    expect(store.calls.consume).toBe(2);
  });
});

describe('reset()', () => {
  it('while degraded, rejects at once with a StoreError naming reset, the last failure as cause', async () => {
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'reset-degraded',
      limit: 10,
      intervalMs: 1000,
      store,
      storeDeadlineMs: 40,
      storeFailureThreshold: 1,
    });
    store.failure = 'hang';
    await limiter.limit('k');
    expect(limiter.storeStatus).toBe('degraded');
    const started = performance.now();
    const error = await failure(limiter.reset('k'));
    expect(performance.now() - started).toBeLessThan(20);
    expect(store.calls.reset).toBe(0);
    expect(isStoreError(error)).toBe(true);
    expect(isStoreTimeoutError(error)).toBe(false);
    expect(error).toMatchObject({ operation: 'reset', store: 'scripted' });
    const cause = (error as Error).cause;
    expect(isStoreTimeoutError(cause)).toBe(true);
    expect(cause).toMatchObject({ operation: 'consume' });
    expect((error as Error).message).toBe(
      'scripted reset was not attempted: the store is degraded (last failure: scripted consume did not answer within 40 ms)',
    );
  });

  it('rejects with a StoreError naming reset when the store fails or hangs', async () => {
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'reset-fails',
      limit: 10,
      intervalMs: 1000,
      store,
      storeDeadlineMs: 40,
    });
    const refused = new Error('ECONNREFUSED');
    store.failure = refused;
    const error = await failure(limiter.reset('k'));
    expect(error).toMatchObject({ name: 'StoreError', operation: 'reset' });
    expect((error as Error).cause).toBe(refused);
    store.failure = 'hang';
    const started = performance.now();
    const late = await failure(limiter.reset('k'));
    expect(performance.now() - started).toBeLessThan(40 + 200);
    expect(isStoreTimeoutError(late)).toBe(true);
    expect(late).toMatchObject({ operation: 'reset' });
  });
});
