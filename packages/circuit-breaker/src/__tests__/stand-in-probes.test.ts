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
import { type CircuitBreaker, circuitBreaker } from '../circuit-breaker.js';
import { isBrokenCircuitError } from '../errors.js';
import type { CircuitBreakerOptions } from '../options.js';
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

/**
 * Runs `test` on a breaker over `store` that has just opened (one failure opens it for 1 s) and
 * whose break is over, then closes it: `onStoreError: 'local'`, and never degraded, so every
 * acquire after an outage reaches the store. `options` adds to or overrides those settings;
 * `watch` sees the breaker before it trips.
 */
async function withBrokenBreaker(
  store: BreakerStore,
  options: Partial<CircuitBreakerOptions>,
  test: (breaker: CircuitBreaker) => Promise<void>,
  watch: (breaker: CircuitBreaker) => void = () => {},
): Promise<void> {
  const breaker = circuitBreaker({
    name: 'payments',
    store,
    consecutiveFailures: 1,
    breakDurationMs: 1_000,
    halfOpen: { maxCalls: 1 },
    onStoreError: 'local',
    storeFailureThreshold: 100,
    syncIntervalMs: 100,
    ...options,
  });
  watch(breaker);
  try {
    await expect(
      breaker.execute(() => {
        throw new Error('down');
      }),
    ).rejects.toThrow('down');
    expect(breaker.state).toBe('open');
    await vi.advanceTimersByTimeAsync(1_001);
    await test(breaker);
  } finally {
    const closing = breaker.close();
    await vi.advanceTimersByTimeAsync(1_000);
    await closing;
  }
}

/** A call that runs until `finish` is called, counted in `running` when it starts. */
function longCall(counter: { running: number }): {
  fn: () => Promise<string>;
  finish: (value: string) => void;
} {
  const call = {
    finish: (_value: string) => {},
    fn: () => {
      counter.running++;
      return new Promise<string>((resolve) => {
        call.finish = resolve;
      });
    },
  };
  return call;
}

/** Whether `promise` rejects with a BrokenCircuitError. */
async function isRefused(promise: Promise<unknown>): Promise<boolean> {
  const rejection = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  return isBrokenCircuitError(rejection);
}

it('a probe the stand-in granted keeps the store from granting this replica another while it runs', async () => {
  const { store, control } = refusableStore();
  await withBrokenBreaker(store, {}, async (breaker) => {
    // The store refuses: the stand-in grants the probe, which keeps running.
    control.refused = true;
    const counter = { running: 0 };
    const probe = longCall(counter);
    const a = breaker.execute(probe.fn);
    await vi.advanceTimersByTimeAsync(0);
    expect(counter.running).toBe(1);

    // The store answers again and knows of no lease: it grants one once this replica's view of
    // the stand-in's answer is older than `syncIntervalMs`. This replica runs `maxCalls` probes
    // already, so the call is refused and the store's lease handed back.
    control.refused = false;
    await vi.advanceTimersByTimeAsync(250);
    expect(breaker.storeStatus).toBe('healthy');
    const b = breaker.execute(() => {
      counter.running++;
      return 'b';
    });
    expect(await isRefused(b)).toBe(true);
    expect(counter.running).toBe(1);

    // Once the stand-in's probe ended, the store grants the next one (the lease it granted the
    // refused call was handed back: it would hold the slot for `probeLeaseMs` otherwise).
    probe.finish('a');
    await expect(a).resolves.toBe('a');
    await expect(
      breaker.execute(() => {
        counter.running++;
        return 'c';
      }),
    ).resolves.toBe('c');
    expect(counter.running).toBe(2);
  });
});

it('a probe the store granted keeps the stand-in from granting this replica another while it runs', async () => {
  const { store, control } = refusableStore();
  await withBrokenBreaker(store, {}, async (breaker) => {
    // The store grants the probe, which keeps running.
    const counter = { running: 0 };
    const probe = longCall(counter);
    const a = breaker.execute(probe.fn);
    await vi.advanceTimersByTimeAsync(0);
    expect(counter.running).toBe(1);

    // The store refuses now; the stand-in, built from this replica's view, knows no lease.
    control.refused = true;
    await vi.advanceTimersByTimeAsync(250);
    const b = breaker.execute(() => {
      counter.running++;
      return 'b';
    });
    expect(await isRefused(b)).toBe(true);
    expect(counter.running).toBe(1);
    control.refused = false;
    probe.finish('a');
    await expect(a).resolves.toBe('a');
  });
});

it('a probe running past `probeLeaseMs` stops counting, as its lease in the store would', async () => {
  const { store, control } = refusableStore();
  await withBrokenBreaker(
    store,
    { halfOpen: { maxCalls: 1, probeLeaseMs: 2_000 } },
    async (breaker) => {
      control.refused = true;
      const probe = longCall({ running: 0 });
      const a = breaker.execute(probe.fn);
      await vi.advanceTimersByTimeAsync(0);
      control.refused = false;
      // Still within its lease: refused; past it: the store grants this replica the next probe.
      await vi.advanceTimersByTimeAsync(1_500);
      expect(await isRefused(breaker.execute(() => 'b'))).toBe(true);
      await vi.advanceTimersByTimeAsync(600);
      await expect(breaker.execute(() => 'c')).resolves.toBe('c');
      probe.finish('a');
      await expect(a).resolves.toBe('a');
    },
  );
});

it('a lease request that misses the deadline in half-open is answered by the stand-in as of now: no spurious open', async () => {
  const { store, control } = refusableStore();
  const states: string[] = [];
  await withBrokenBreaker(
    store,
    { storeDeadlineMs: 100 },
    async (breaker) => {
      // The store hangs: the lease request waits its deadline, then the stand-in, seeded from
      // this replica's view (the break is over), grants the probe.
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
      control.hung = false;
    },
    (breaker) => {
      breaker.onStateChange(({ to }) => states.push(to));
    },
  );
});
