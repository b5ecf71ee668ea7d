/**
 * The breaker on core's store call path, with a store the test controls (an asynchronous wrapper
 * of the memory store that can refuse or hang) and vitest's fake timers: the deadline, the
 * degraded-mode rule (`storeFailureThreshold`, the background probe every `storeProbeIntervalMs`,
 * one real operation per interval for a store without a probe), the status events, and the
 * memory store's synchronous answers passing straight through.
 */
import { isStoreError, isStoreTimeoutError, type StoreStatusChange } from '@breakwater/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type CircuitBreaker, circuitBreaker } from '../circuit-breaker.js';
import type { CircuitBreakerOptions } from '../options.js';
import type { BreakerScope, BreakerStore, MaybePromise } from '../store.js';
import { memoryStore } from '../stores/memory.js';

beforeEach(() => {
  vi.useFakeTimers();
});

const ok = () => 'ok';

interface Control {
  /** How the store answers: normally, with a refusal, or never. */
  mode: 'up' | 'refused' | 'hung';
  /** Store operations (not probes) that reached the store. */
  operations: number;
  /** Probes that reached the store. */
  probes: number;
}

/** A store answering asynchronously from a memory store, that the test can break. */
function controlledStore(withProbe: boolean): { store: BreakerStore; control: Control } {
  const inner = memoryStore();
  const control: Control = { mode: 'up', operations: 0, probes: 0 };
  const answer = <T>(value: () => MaybePromise<T>): Promise<T> => {
    if (control.mode === 'refused') return Promise.reject(new Error('connect ECONNREFUSED'));
    if (control.mode === 'hung') return new Promise<never>(() => {});
    return Promise.resolve().then(value);
  };
  const operation = <T>(value: () => MaybePromise<T>): Promise<T> => {
    control.operations++;
    return answer(value);
  };
  const close = async (): Promise<void> => {};
  const store: BreakerStore = {
    kind: 'controlled',
    defaultSyncIntervalMs: 100,
    scope(name, rules) {
      const s = inner.scope(name, rules);
      const scope: BreakerScope = {
        read: (now) => operation(() => s.read(now)),
        record: (batch, replica, now) => operation(() => s.record(batch, replica, now)),
        acquireProbe: (token, now) => operation(() => s.acquireProbe(token, now)),
        releaseProbe: (token, result, now) => operation(() => s.releaseProbe(token, result, now)),
        command: (command, now) => operation(() => s.command(command, now)),
        seed: (seed, now) => operation(() => s.seed(seed, now)),
      };
      if (withProbe) {
        scope.probe = () => {
          control.probes++;
          return answer(() => 1);
        };
      }
      return scope;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  return { store, control };
}

const open: CircuitBreaker[] = [];
afterEach(async () => {
  // Closed under the fake clock: a flush to a hung store ends at its (fake) deadline.
  const closing = Promise.all(open.splice(0).map((breaker) => breaker.close()));
  await vi.advanceTimersByTimeAsync(1000);
  await closing;
  vi.useRealTimers();
});

function breakerOn(store: BreakerStore, options: CircuitBreakerOptions = {}) {
  const breaker = circuitBreaker({
    name: 'payments',
    store,
    // No sync timer: the test decides which store operations run.
    syncIntervalMs: 60_000,
    ...options,
  });
  open.push(breaker);
  const statuses: StoreStatusChange[] = [];
  breaker.onStoreStatusChange((change) => statuses.push(change));
  return { breaker, statuses };
}

/** What `promise` settled with, once the fake time has advanced by `ms`. */
async function after<T>(ms: number, promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await vi.advanceTimersByTimeAsync(ms);
  return outcome;
}

describe('the store deadline', () => {
  it('is 500 ms by default: a hung control rejects with a StoreTimeoutError then, not before', async () => {
    const { store, control } = controlledStore(true);
    const { breaker } = breakerOn(store, { onStoreError: 'fail-closed' });
    await breaker.execute(ok);
    control.mode = 'hung';
    let settled = false;
    const reset = breaker.reset().finally(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(499);
    expect(settled).toBe(false);
    const { error } = await after(1, reset);
    expect(isStoreTimeoutError(error)).toBe(true);
    expect(error).toMatchObject({ store: 'controlled', operation: 'command', deadlineMs: 500 });
  });

  it('bounds isolate(), reset() and disable() by `storeDeadlineMs`', async () => {
    const { store, control } = controlledStore(true);
    const { breaker } = breakerOn(store, { onStoreError: 'fail-closed', storeDeadlineMs: 100 });
    await breaker.execute(ok);
    control.mode = 'hung';
    for (const control of [() => breaker.isolate(), () => breaker.disable()]) {
      const pending = control();
      await vi.advanceTimersByTimeAsync(99);
      const { error } = await after(1, pending);
      expect(isStoreTimeoutError(error)).toBe(true);
    }
  });
});

describe('the degraded-mode rule', () => {
  it('degrades after `storeFailureThreshold` consecutive failures, with one event of core’s shape', async () => {
    const { store, control } = controlledStore(true);
    const { breaker, statuses } = breakerOn(store, { onStoreError: 'fail-closed' });
    await breaker.execute(ok);
    control.mode = 'refused';
    for (let i = 0; i < 2; i++) {
      expect(isStoreError((await after(0, breaker.reset())).error)).toBe(true);
      expect(breaker.storeStatus).toBe('healthy');
    }
    // A call in between is not a store operation: the closed path still runs it.
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    const { error } = await after(0, breaker.reset());
    expect(breaker.storeStatus).toBe('degraded');
    expect(statuses).toEqual([
      {
        policy: 'payments',
        pattern: 'circuit-breaker',
        store: 'controlled',
        status: 'degraded',
        error,
      },
    ]);
    expect((error as Error).cause).toMatchObject({ message: 'connect ECONNREFUSED' });
  });

  it('a success in between restarts the count', async () => {
    const { store, control } = controlledStore(true);
    const { breaker } = breakerOn(store, { onStoreError: 'fail-closed' });
    await breaker.execute(ok);
    for (let round = 0; round < 3; round++) {
      control.mode = 'refused';
      await after(0, breaker.reset());
      await after(0, breaker.reset());
      control.mode = 'up';
      await breaker.reset();
    }
    expect(breaker.storeStatus).toBe('healthy');
  });

  it('while degraded, nothing waits on the store, and a background probe runs once per interval until it answers', async () => {
    const { store, control } = controlledStore(true);
    const { breaker, statuses } = breakerOn(store, {
      onStoreError: 'fail-closed',
      storeFailureThreshold: 1,
      storeProbeIntervalMs: 1000,
    });
    await breaker.execute(ok);
    control.mode = 'hung';
    await after(500, breaker.reset());
    expect(breaker.storeStatus).toBe('degraded');
    const operations = control.operations;
    // Answered at once (no fake time passes), without calling the store.
    const skipped = await after(0, breaker.reset());
    expect((skipped.error as Error).message).toBe(
      'controlled command was not attempted: the store is degraded (last failure: controlled command did not answer within 500 ms)',
    );
    expect(await after(0, breaker.execute(ok))).toMatchObject({
      error: { name: 'BrokenCircuitError' },
    });
    expect(control.operations).toBe(operations);
    // One probe per interval, each under the deadline.
    expect(control.probes).toBe(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(control.probes).toBe(1);
    await vi.advanceTimersByTimeAsync(500 + 1000);
    expect(control.probes).toBe(2);
    control.mode = 'up';
    await vi.advanceTimersByTimeAsync(500 + 1000);
    expect(control.probes).toBe(3);
    expect(statuses.map((s) => s.status)).toEqual(['degraded', 'healthy']);
    expect(statuses[1]).toEqual({
      policy: 'payments',
      pattern: 'circuit-breaker',
      store: 'controlled',
      status: 'healthy',
    });
    // Recovered: the breaker re-reads the shared state at once, and calls run again.
    expect(control.operations).toBe(operations + 1);
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(control.probes).toBe(3);
  });

  it('a store without a probe lets one real operation through per interval', async () => {
    const { store, control } = controlledStore(false);
    const { breaker } = breakerOn(store, {
      onStoreError: 'fail-closed',
      storeFailureThreshold: 1,
      storeProbeIntervalMs: 1000,
    });
    await breaker.execute(ok);
    control.mode = 'refused';
    await after(0, breaker.reset());
    expect(breaker.storeStatus).toBe('degraded');
    const operations = control.operations;
    await after(0, breaker.reset());
    expect(control.operations).toBe(operations);
    await vi.advanceTimersByTimeAsync(1000);
    control.mode = 'up';
    await after(0, breaker.reset());
    expect(breaker.storeStatus).toBe('healthy');
    // The control, let through as the probe, and the re-read that follows a recovery.
    expect(control.operations).toBe(operations + 2);
  });

  it("with 'local', a degraded store answers from this process's stand-in, and store errors never count as failures", async () => {
    const { store, control } = controlledStore(true);
    const { breaker } = breakerOn(store, { storeFailureThreshold: 1, consecutiveFailures: 2 });
    await breaker.execute(ok);
    control.mode = 'refused';
    await breaker.isolate();
    expect(breaker.storeStatus).toBe('degraded');
    expect(breaker.state).toBe('isolated');
    await breaker.reset();
    expect(breaker.state).toBe('closed');
    for (let i = 0; i < 5; i++) await breaker.execute(ok);
    expect(breaker.stats().failures).toBe(0);
    // Still a breaker: local failures open it.
    for (let i = 0; i < 2; i++)
      await breaker.execute(() => Promise.reject(new Error('x'))).catch(() => {});
    expect(breaker.state).toBe('open');
  });
});

describe('calls that wait on the store', () => {
  it("'fail-closed': a new breaker's first calls wait for its first read, and are rejected when it fails", async () => {
    const { store, control } = controlledStore(true);
    control.mode = 'hung';
    // The first read starts with the breaker.
    const { breaker } = breakerOn(store, { onStoreError: 'fail-closed' });
    let ran = 0;
    const { error } = await after(
      500,
      breaker.execute(() => {
        ran++;
        return 'ok';
      }),
    );
    expect(ran).toBe(0);
    expect(error).toMatchObject({ name: 'BrokenCircuitError', state: 'closed' });
    expect((error as Error).message).toBe(
      'Circuit breaker "payments" rejects calls while its store is unavailable',
    );
    expect(isStoreTimeoutError((error as Error).cause)).toBe(true);
    expect((error as Error).cause).toMatchObject({ operation: 'read' });
    // Later calls no longer wait for a first answer: the closed path runs them (eventual).
    await expect(breaker.execute(ok)).resolves.toBe('ok');
  });

  it("'fail-closed': a strict call whose read fails is rejected, the StoreError as its cause, and not run", async () => {
    const { store, control } = controlledStore(true);
    const { breaker } = breakerOn(store, {
      onStoreError: 'fail-closed',
      consistency: 'strict',
      syncIntervalMs: 0,
    });
    await breaker.execute(ok);
    control.mode = 'refused';
    let ran = 0;
    const { error } = await after(
      0,
      breaker.execute(() => {
        ran++;
        return 'ok';
      }),
    );
    expect(ran).toBe(0);
    expect(error).toMatchObject({ name: 'BrokenCircuitError' });
    expect(isStoreError((error as Error).cause)).toBe(true);
    expect((error as Error).cause).toMatchObject({
      operation: 'read',
      cause: { message: 'connect ECONNREFUSED' },
    });
    control.mode = 'up';
    await expect(breaker.execute(ok)).resolves.toBe('ok');
  });

  for (const onStoreError of ['fail-open', 'local'] as const) {
    it(`'${onStoreError}': a strict call waits on a hung store one deadline, not one for its read and one for its write`, async () => {
      // 900 ms into a second: the hung call's outcome is the first of a new time bucket, which a
      // breaker with `syncIntervalMs: 0` also writes before the call returns.
      vi.setSystemTime(1_700_000_000_900);
      const { store, control } = controlledStore(true);
      const { breaker, statuses } = breakerOn(store, {
        onStoreError,
        consistency: 'strict',
        syncIntervalMs: 0,
        storeFailureThreshold: 5,
      });
      await breaker.execute(ok);
      control.mode = 'hung';
      const operations = control.operations;
      let settled = false;
      const call = breaker.execute(ok).finally(() => {
        settled = true;
      });
      await vi.advanceTimersByTimeAsync(499);
      expect(settled).toBe(false);
      expect(await after(1, call)).toEqual({ value: 'ok' });
      // Its read, and no write: the outcome waits in the local counts.
      expect(control.operations).toBe(operations + 1);
      expect(statuses).toEqual([]);
      // Once the store answers again, the next call's write carries it.
      control.mode = 'up';
      await breaker.execute(ok);
      expect(breaker.stats()).toMatchObject({ calls: 3, failures: 0 });
    });
  }
});

describe('the memory store', () => {
  it('answers synchronously through the store call path: no promise to wait for, no timer', async () => {
    const breaker = circuitBreaker({ consecutiveFailures: 1 });
    open.push(breaker);
    const isolated = breaker.isolate();
    // Applied before isolate() returned: the store's answer did not go through a promise.
    expect(breaker.state).toBe('isolated');
    await isolated;
    void breaker.reset();
    expect(breaker.state).toBe('closed');
    await breaker.execute(() => Promise.reject(new Error('x'))).catch(() => {});
    expect(breaker.state).toBe('open');
    // No deadline timer was ever armed.
    expect(vi.getTimerCount()).toBe(0);
  });
});
