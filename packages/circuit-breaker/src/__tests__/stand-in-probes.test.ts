/**
 * Half-open probes of one replica across a store outage (`onStoreError: 'local'`): a probe the
 * stand-in granted while the store failed is still this replica's probe when the store answers
 * again, so the store's lease is not granted on top of it (and the reverse) — `halfOpen.maxCalls`
 * bounds one replica's probes whoever granted them. (testkit's nemesis saw 4 probes at once in a
 * fleet of 3 with `maxCalls: 1`: a replica probing on the stand-in's lease was granted a store
 * lease too.) And a stand-in that answers for a store past its deadline decides at that moment:
 * a half-open breaker whose lease request missed the deadline does not flip to open.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { circuitBreaker } from '../circuit-breaker.js';
import { isBrokenCircuitError } from '../errors.js';
import type { BreakerScope, BreakerStore, MaybePromise } from '../store.js';
import { memoryStore } from '../stores/memory.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/**
 * A memory store answering asynchronously, that refuses every operation while `refused` and never
 * answers while `hung`.
 */
function refusableStore(): { store: BreakerStore; control: { refused: boolean; hung: boolean } } {
  const inner = memoryStore();
  const control = { refused: false, hung: false };
  const answer = <T>(value: () => MaybePromise<T>): Promise<T> =>
    control.hung
      ? new Promise<never>(() => {})
      : control.refused
        ? Promise.reject(new Error('connect ECONNREFUSED'))
        : Promise.resolve().then(value);
  const close = async (): Promise<void> => {};
  const store: BreakerStore = {
    kind: 'refusable',
    defaultSyncIntervalMs: 100,
    scope(name, rules) {
      const s = inner.scope(name, rules);
      const scope: BreakerScope = {
        read: (now) => answer(() => s.read(now)),
        record: (batch, replica, now) => answer(() => s.record(batch, replica, now)),
        acquireProbe: (token, now) => answer(() => s.acquireProbe(token, now)),
        releaseProbe: (token, result, now) => answer(() => s.releaseProbe(token, result, now)),
        command: (command, now) => answer(() => s.command(command, now)),
        seed: (seed, now) => answer(() => s.seed(seed, now)),
      };
      return scope;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  return { store, control };
}

it('a probe the stand-in granted keeps the store from granting this replica another while it runs', async () => {
  const { store, control } = refusableStore();
  const breaker = circuitBreaker({
    name: 'payments',
    store,
    consecutiveFailures: 1,
    breakDurationMs: 1_000,
    halfOpen: { maxCalls: 1 },
    onStoreError: 'local',
    // Never degraded in this test: every acquire after the outage reaches the store.
    storeFailureThreshold: 100,
    syncIntervalMs: 100,
  });
  try {
    await expect(
      breaker.execute(() => {
        throw new Error('down');
      }),
    ).rejects.toThrow('down');
    expect(breaker.state).toBe('open');
    await vi.advanceTimersByTimeAsync(1_001);

    // The store refuses: the stand-in grants the probe, which keeps running.
    control.refused = true;
    let finishA: (value: string) => void = () => {};
    let running = 0;
    const a = breaker.execute(() => {
      running++;
      return new Promise<string>((resolve) => {
        finishA = resolve;
      });
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(running).toBe(1);

    // The store answers again and knows of no lease: it grants one once this replica's view of
    // the stand-in's answer is older than `syncIntervalMs`. This replica runs `maxCalls` probes
    // already, so the call is refused and the store's lease handed back.
    control.refused = false;
    await vi.advanceTimersByTimeAsync(250);
    expect(breaker.storeStatus).toBe('healthy');
    const b = breaker.execute(() => {
      running++;
      return 'b';
    });
    const rejection = await b.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(running).toBe(1);
    expect(isBrokenCircuitError(rejection)).toBe(true);

    // Once the stand-in's probe ended, the store grants the next one (the lease it granted the
    // refused call was handed back: it would hold the slot for `probeLeaseMs` otherwise).
    finishA('a');
    await expect(a).resolves.toBe('a');
    await expect(
      breaker.execute(() => {
        running++;
        return 'c';
      }),
    ).resolves.toBe('c');
    expect(running).toBe(2);
  } finally {
    const closing = breaker.close();
    await vi.advanceTimersByTimeAsync(1_000);
    await closing;
  }
});

it('a probe the store granted keeps the stand-in from granting this replica another while it runs', async () => {
  const { store, control } = refusableStore();
  const breaker = circuitBreaker({
    name: 'payments',
    store,
    consecutiveFailures: 1,
    breakDurationMs: 1_000,
    halfOpen: { maxCalls: 1 },
    onStoreError: 'local',
    storeFailureThreshold: 100,
    syncIntervalMs: 100,
  });
  try {
    await expect(
      breaker.execute(() => {
        throw new Error('down');
      }),
    ).rejects.toThrow('down');
    await vi.advanceTimersByTimeAsync(1_001);

    // The store grants the probe, which keeps running.
    let finishA: (value: string) => void = () => {};
    let running = 0;
    const a = breaker.execute(() => {
      running++;
      return new Promise<string>((resolve) => {
        finishA = resolve;
      });
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(running).toBe(1);

    // The store refuses now; the stand-in, built from this replica's view, knows no lease.
    control.refused = true;
    await vi.advanceTimersByTimeAsync(250);
    const b = breaker.execute(() => {
      running++;
      return 'b';
    });
    const rejection = await b.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(running).toBe(1);
    expect(isBrokenCircuitError(rejection)).toBe(true);
    control.refused = false;
    finishA('a');
    await expect(a).resolves.toBe('a');
  } finally {
    const closing = breaker.close();
    await vi.advanceTimersByTimeAsync(1_000);
    await closing;
  }
});

it('a probe running past `probeLeaseMs` stops counting, as its lease in the store would', async () => {
  const { store, control } = refusableStore();
  const breaker = circuitBreaker({
    name: 'payments',
    store,
    consecutiveFailures: 1,
    breakDurationMs: 1_000,
    halfOpen: { maxCalls: 1, probeLeaseMs: 2_000 },
    onStoreError: 'local',
    storeFailureThreshold: 100,
    syncIntervalMs: 100,
  });
  try {
    await expect(
      breaker.execute(() => {
        throw new Error('down');
      }),
    ).rejects.toThrow('down');
    await vi.advanceTimersByTimeAsync(1_001);
    control.refused = true;
    let finishA: (value: string) => void = () => {};
    const a = breaker.execute(
      () =>
        new Promise<string>((resolve) => {
          finishA = resolve;
        }),
    );
    await vi.advanceTimersByTimeAsync(0);
    control.refused = false;
    // Still within its lease: refused; past it: the store grants this replica the next probe.
    await vi.advanceTimersByTimeAsync(1_500);
    await expect(breaker.execute(() => 'b')).rejects.toSatisfy(isBrokenCircuitError);
    await vi.advanceTimersByTimeAsync(600);
    await expect(breaker.execute(() => 'c')).resolves.toBe('c');
    finishA('a');
    await expect(a).resolves.toBe('a');
  } finally {
    const closing = breaker.close();
    await vi.advanceTimersByTimeAsync(1_000);
    await closing;
  }
});

it('a lease request that misses the deadline in half-open is answered by the stand-in as of now: no spurious open', async () => {
  const { store, control } = refusableStore();
  const breaker = circuitBreaker({
    name: 'payments',
    store,
    consecutiveFailures: 1,
    breakDurationMs: 1_000,
    halfOpen: { maxCalls: 1 },
    onStoreError: 'local',
    storeDeadlineMs: 100,
    storeFailureThreshold: 100,
    syncIntervalMs: 100,
  });
  const states: string[] = [];
  breaker.onStateChange(({ to }) => states.push(to));
  try {
    await expect(
      breaker.execute(() => {
        throw new Error('down');
      }),
    ).rejects.toThrow('down');
    await vi.advanceTimersByTimeAsync(1_001);
    // The store hangs: the lease request waits its deadline, then the stand-in, seeded from this
    // replica's view (the break is over), grants the probe.
    control.hung = true;
    const probe = breaker
      .execute(() => 'probed')
      .then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
    // Its release waits a deadline too.
    await vi.advanceTimersByTimeAsync(500);
    expect(await probe).toEqual({ value: 'probed' });
    expect(states).toEqual(['open', 'half-open', 'closed']);
  } finally {
    control.hung = false;
    const closing = breaker.close();
    await vi.advanceTimersByTimeAsync(1_000);
    await closing;
  }
});
