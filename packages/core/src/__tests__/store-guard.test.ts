import { describe, expect, it, vi } from 'vitest';
import { isStoreError, isStoreTimeoutError, StoreError } from '../errors.js';
import { toStoreError } from '../store/calls.js';
import type { StoreFallbacks } from '../store/fallbacks.js';
import {
  type GuardStatusChange as StoreStatusChange,
  storeGuard,
  withDeadline,
} from '../store-guard.js';
import { abortListeners } from './leaks.js';

/**
 * Counts timers with vitest's fake timers: unlike the process-wide handle count, it sees only the
 * timers this code made, not those of the test runner.
 */
async function countingTimers(test: () => Promise<void>): Promise<void> {
  vi.useFakeTimers();
  try {
    await test();
  } finally {
    vi.useRealTimers();
  }
}

const base = { store: 'redis', operation: 'take' } as const;

/** A store operation that never answers unless aborted. */
function hanging(seen: AbortSignal[] = []): (signal: AbortSignal) => Promise<never> {
  return (signal) => {
    seen.push(signal);
    return new Promise<never>(() => {});
  };
}

describe('withDeadline()', () => {
  it('resolves with the value when the operation answers in time, leaving no timer', () =>
    countingTimers(async () => {
      await expect(withDeadline(async () => 42, { ...base, deadlineMs: 1000 })).resolves.toBe(42);
      expect(vi.getTimerCount()).toBe(0);
    }));

  it('rejects with a StoreTimeoutError and aborts the operation when the deadline passes', () =>
    countingTimers(async () => {
      const seen: AbortSignal[] = [];
      const pending = withDeadline(hanging(seen), { ...base, deadlineMs: 20 }).catch((e) => e);
      expect(vi.getTimerCount()).toBe(1);
      await vi.advanceTimersByTimeAsync(20);
      const error = await pending;
      expect(isStoreTimeoutError(error)).toBe(true);
      expect(error).toMatchObject({ store: 'redis', operation: 'take', deadlineMs: 20 });
      expect(error.message).toBe('redis take did not answer within 20 ms');
      expect(seen[0]?.aborted).toBe(true);
      expect(seen[0]?.reason).toBe(error);
      expect(vi.getTimerCount()).toBe(0);
    }));

  it('fires on time with fake timers', async () => {
    vi.useFakeTimers();
    try {
      let settled = false;
      const pending = withDeadline(hanging(), { ...base, deadlineMs: 500 }).catch((e) => {
        settled = true;
        return e;
      });
      await vi.advanceTimersByTimeAsync(499);
      expect(settled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(isStoreTimeoutError(await pending)).toBe(true);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('wraps other errors in a StoreError that keeps the cause', async () => {
    const boom = new Error('ECONNRESET');
    const error = await withDeadline(() => Promise.reject(boom), {
      ...base,
      deadlineMs: 100,
    }).catch((e) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(isStoreTimeoutError(error)).toBe(false);
    expect(error.cause).toBe(boom);
    expect(error.message).toBe('redis take failed: ECONNRESET');
  });

  it('wraps synchronous throws and non-Error rejections', async () => {
    const sync = await withDeadline<never>(
      () => {
        throw new TypeError('bad');
      },
      { ...base, deadlineMs: 100 },
    ).catch((e: StoreError) => e);
    expect(isStoreError(sync)).toBe(true);
    expect(sync.cause).toBeInstanceOf(TypeError);
    const odd = await withDeadline(() => Promise.reject('nope'), {
      ...base,
      deadlineMs: 100,
    }).catch((e) => e);
    expect(odd.message).toBe('redis take failed: nope');
  });

  it('passes StoreErrors through unwrapped', async () => {
    const original = new StoreError('conflict', { store: 'dynamodb', operation: 'cas' });
    await expect(
      withDeadline(() => Promise.reject(original), { ...base, deadlineMs: 100 }),
    ).rejects.toBe(original);
  });

  it('rejects with the reason of an already-aborted signal without calling the operation', async () => {
    const operation = vi.fn(async () => 1);
    const reason = new Error('caller gave up');
    await expect(
      withDeadline(operation, { ...base, deadlineMs: 100, signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    expect(operation).not.toHaveBeenCalled();
  });

  it('rejects with the reason when the caller aborts mid-flight, and cleans up', () =>
    countingTimers(async () => {
      const controller = new AbortController();
      const seen: AbortSignal[] = [];
      const pending = withDeadline(hanging(seen), {
        ...base,
        deadlineMs: 10_000,
        signal: controller.signal,
      });
      expect(abortListeners(controller.signal)).toBe(1);
      const reason = new Error('cancelled');
      controller.abort(reason);
      await expect(pending).rejects.toBe(reason);
      expect(seen[0]?.reason).toBe(reason);
      expect(abortListeners(controller.signal)).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
    }));

  it('removes the abort listener on success and on failure', async () => {
    const controller = new AbortController();
    const options = { ...base, deadlineMs: 100, signal: controller.signal };
    await withDeadline(async () => 'ok', options);
    await withDeadline(() => Promise.reject(new Error('x')), options).catch(() => {});
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('ignores a late rejection after the deadline (no unhandled rejection)', async () => {
    const error = await withDeadline(
      () => new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 30)),
      { ...base, deadlineMs: 5 },
    ).catch((e) => e);
    expect(isStoreTimeoutError(error)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 40));
  });

  it('validates its options, naming them', () => {
    const op = async () => 1;
    expect(() => withDeadline(op, { ...base, deadlineMs: 0 })).toThrow(
      'Expected `deadlineMs` to be a finite number > 0, got 0',
    );
    expect(() => withDeadline(op, { ...base, deadlineMs: 2 ** 31 })).toThrow(
      'Expected `deadlineMs` to be at most 2147483647, got 2147483648',
    );
    expect(() => withDeadline(op, { ...base, store: '', deadlineMs: 1 })).toThrow(/`store`/);
    expect(() => withDeadline(op, { ...base, operation: '', deadlineMs: 1 })).toThrow(
      /`operation`/,
    );
  });
});

describe('toStoreError()', () => {
  it('keeps StoreErrors and wraps the rest', () => {
    const original = new StoreError('x', { store: 's', operation: 'o' });
    expect(toStoreError(original, 'redis', 'op')).toBe(original);
    expect(toStoreError(new Error('y'), 'redis', 'op')).toMatchObject({
      store: 'redis',
      operation: 'op',
    });
  });
});

type Decision = { allowed: boolean; source: string };

const fallbacks: StoreFallbacks<Decision, string> = {
  failOpen: () => ({ allowed: true, source: 'fail-open' }),
  failClosed: () => ({ allowed: false, source: 'fail-closed' }),
  local: async (_error, arg) => ({ allowed: arg === 'local-ok', source: 'local' }),
};

const fromStore = async (_signal: AbortSignal, arg: string): Promise<Decision> => ({
  allowed: arg !== 'deny',
  source: 'store',
});
const failing = async (): Promise<Decision> => {
  throw new Error('connection refused');
};

describe('storeGuard()', () => {
  it('returns the store answer while healthy and passes the argument through', async () => {
    const guard = storeGuard({ store: 'redis', onStoreError: 'fail-closed' });
    expect(guard.status).toBe('healthy');
    expect(guard.deadlineMs).toBe(500);
    await expect(guard.run('take', fromStore, fallbacks, 'deny')).resolves.toEqual({
      allowed: false,
      source: 'store',
    });
  });

  it.each([
    ['fail-open', { allowed: true, source: 'fail-open' }],
    ['fail-closed', { allowed: false, source: 'fail-closed' }],
    ['local', { allowed: true, source: 'local' }],
  ] as const)('answers with the %s fallback when the store fails', async (mode, expected) => {
    const guard = storeGuard({ store: 'redis', onStoreError: mode });
    await expect(guard.run('take', failing, fallbacks, 'local-ok')).resolves.toEqual(expected);
    expect(guard.status).toBe('degraded');
    expect(isStoreError(guard.lastError)).toBe(true);
  });

  it('hands the StoreError to the fallback, which may throw', async () => {
    const guard = storeGuard({ store: 'dynamodb', onStoreError: 'fail-closed' });
    const rejection = new Error('rejected by policy');
    const failClosed = vi.fn((error: StoreError) => {
      expect(error.store).toBe('dynamodb');
      expect(error.operation).toBe('acquire');
      throw rejection;
    });
    await expect(guard.run('acquire', failing, { ...fallbacks, failClosed }, 'x')).rejects.toBe(
      rejection,
    );
    expect(failClosed).toHaveBeenCalledOnce();
  });

  it('treats a missed deadline as a store failure', async () => {
    const guard = storeGuard({ store: 'redis', onStoreError: 'fail-open', deadlineMs: 10 });
    await expect(guard.run('take', hanging(), fallbacks, 'x')).resolves.toMatchObject({
      source: 'fail-open',
    });
    expect(isStoreTimeoutError(guard.lastError)).toBe(true);
  });

  it('rethrows the caller abort reason instead of degrading', async () => {
    const guard = storeGuard({ store: 'redis', onStoreError: 'fail-open' });
    const reason = new Error('cancelled');
    await expect(
      guard.run('take', fromStore, fallbacks, 'x', AbortSignal.abort(reason)),
    ).rejects.toBe(reason);
    expect(guard.status).toBe('healthy');
  });

  it('notifies once per degradation and once per recovery', async () => {
    const changes: StoreStatusChange[] = [];
    const fromOption: StoreStatusChange[] = [];
    const guard = storeGuard({
      store: 'redis',
      onStoreError: 'local',
      onStatusChange: (change) => fromOption.push(change),
    });
    const dispose = guard.onStatusChange((change) => changes.push(change));

    await guard.run('take', fromStore, fallbacks, 'a');
    await guard.run('take', failing, fallbacks, 'a');
    await guard.run('take', failing, fallbacks, 'a');
    await guard.run('take', failing, fallbacks, 'a');
    expect(changes.map((c) => c.status)).toEqual(['degraded']);
    await guard.run('take', fromStore, fallbacks, 'a');
    await guard.run('take', fromStore, fallbacks, 'a');
    expect(changes.map((c) => c.status)).toEqual(['degraded', 'healthy']);
    expect(guard.status).toBe('healthy');
    expect(guard.lastError).toBeUndefined();

    const degraded = changes[0];
    expect(degraded?.status === 'degraded' && degraded.error.message).toBe(
      'redis take failed: connection refused',
    );
    expect(fromOption).toEqual(changes);

    dispose();
    await guard.run('take', failing, fallbacks, 'a');
    expect(changes).toHaveLength(2);
    expect(fromOption).toHaveLength(3);
  });

  it('keeps other subscribers and the call working when a listener throws', async () => {
    const warning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const guard = storeGuard({ store: 'redis', onStoreError: 'fail-open' });
      const seen: string[] = [];
      guard.onStatusChange(() => {
        throw new Error('listener bug');
      });
      guard.onStatusChange((change) => seen.push(change.status));
      await expect(guard.run('take', failing, fallbacks, 'a')).resolves.toMatchObject({
        source: 'fail-open',
      });
      expect(seen).toEqual(['degraded']);
      expect(warning).toHaveBeenCalledOnce();
    } finally {
      warning.mockRestore();
    }
  });

  it('while degraded, sends one probe at a time; other calls take the fallback at once', async () => {
    const guard = storeGuard({ store: 'redis', onStoreError: 'fail-open', deadlineMs: 50 });
    await guard.run('take', failing, fallbacks, 'a');
    expect(guard.status).toBe('degraded');

    let release!: (d: Decision) => void;
    const slow = vi.fn(
      () =>
        new Promise<Decision>((resolve) => {
          release = resolve;
        }),
    );
    const probe = guard.run('take', slow, fallbacks, 'a');
    const concurrent = vi.fn(fromStore);
    await expect(guard.run('take', concurrent, fallbacks, 'a')).resolves.toMatchObject({
      source: 'fail-open',
    });
    expect(concurrent).not.toHaveBeenCalled();
    release({ allowed: true, source: 'store' });
    await expect(probe).resolves.toMatchObject({ source: 'store' });
    expect(guard.status).toBe('healthy');
    await expect(guard.run('take', concurrent, fallbacks, 'a')).resolves.toMatchObject({
      source: 'store',
    });
  });

  it('leaves no timers or listeners behind', () =>
    countingTimers(async () => {
      const guard = storeGuard({ store: 'redis', onStoreError: 'fail-open', deadlineMs: 20 });
      const controller = new AbortController();
      await guard.run('take', fromStore, fallbacks, 'a', controller.signal);
      await guard.run('take', failing, fallbacks, 'a', controller.signal);
      const timedOut = guard.run('take', hanging(), fallbacks, 'a', controller.signal);
      await vi.advanceTimersByTimeAsync(20);
      await expect(timedOut).resolves.toMatchObject({ source: 'fail-open' });
      expect(vi.getTimerCount()).toBe(0);
      expect(abortListeners(controller.signal)).toBe(0);
    }));

  it('validates options with named errors', () => {
    expect(() => storeGuard({ store: 'redis', onStoreError: 'fail-open', deadlineMs: 0 })).toThrow(
      'Expected `deadlineMs` to be a finite number > 0, got 0',
    );
    expect(() =>
      storeGuard({ store: 'redis', onStoreError: 'ignore' as 'local', deadlineMs: 10 }),
    ).toThrow(
      "Expected `onStoreError` to be one of 'fail-open' | 'fail-closed' | 'local', got \"ignore\"",
    );
    expect(() => storeGuard({ store: '', onStoreError: 'local' })).toThrow(/`store`/);
    expect(() => storeGuard({ store: 'redis', onStoreError: 'local', degradedProbes: 0 })).toThrow(
      'Expected `degradedProbes` to be an integer >= 1, got 0',
    );
    expect(() =>
      storeGuard({ store: 'redis', onStoreError: 'local', onStatusChange: 1 as never }),
    ).toThrow(/`onStatusChange`/);
  });
});
