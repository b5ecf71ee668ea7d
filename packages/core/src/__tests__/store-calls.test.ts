import { installOtel } from '@breakwater/testkit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StoreConflictError } from '../dynamodb/store-conflict-error.js';
import { isStoreError, isStoreTimeoutError, StoreError, StoreTimeoutError } from '../errors.js';
import { StoreCalls, toStoreError } from '../store/calls.js';
import type { StoreFallbacks } from '../store/fallbacks.js';
import {
  type OnStoreError,
  resolveStoreOptions,
  STORE_DEFAULTS,
  type StoreOptions,
} from '../store/options.js';
import type { StoreStatusChange } from '../store/status.js';
import { getTelemetry } from '../telemetry.js';
import { abortListeners, flush } from './leaks.js';

const TELEMETRY = { name: '@breakwater/core-test', version: '0.0.0' };

function storeCalls(
  options: StoreOptions & {
    probe?: (signal: AbortSignal) => Promise<unknown>;
  } = {},
): StoreCalls {
  const { probe, ...storeOptions } = options;
  return new StoreCalls({
    pattern: 'rate-limit',
    policy: 'payments',
    store: 'redis',
    settings: resolveStoreOptions(
      { storeDeadlineMs: 50, storeProbeIntervalMs: 100, ...storeOptions },
      { onStoreError: 'fail-closed' },
    ),
    telemetry: getTelemetry(TELEMETRY),
    probe,
  });
}

const never = (): Promise<never> => new Promise(() => {});
const refused = (): Promise<never> => Promise.reject(new Error('connect ECONNREFUSED'));

async function outcome<T>(value: T | Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await value };
  } catch (error) {
    return { error };
  }
}

function statusEvents(calls: StoreCalls): StoreStatusChange[] {
  const events: StoreStatusChange[] = [];
  calls.onStatusChange((change) => events.push(change));
  return events;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('StoreCalls: one call', () => {
  it('passes a synchronous answer straight through, with no promise and no deadline', () => {
    const calls = storeCalls();
    const get = calls.operation('get', (key: string) => `value of ${key}`);
    const answer = get.run('a');
    expect(answer).toBe('value of a');
    expect(calls.inFlight).toBe(0);
  });

  it('resolves an asynchronous answer and leaves nothing in flight', async () => {
    const calls = storeCalls();
    const get = calls.operation('get', async (key: string) => `value of ${key}`);
    const answer = get.run('a');
    expect(answer).toBeInstanceOf(Promise);
    expect(calls.inFlight).toBe(1);
    await expect(answer).resolves.toBe('value of a');
    expect(calls.inFlight).toBe(0);
  });

  it('rejects with a StoreTimeoutError naming the operation when the deadline passes', async () => {
    const calls = storeCalls();
    const consume = calls.operation('consume', never);
    const started = performance.now();
    const { error } = await outcome(consume.run());
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(isStoreTimeoutError(error)).toBe(true);
    expect(error).toMatchObject({ store: 'redis', operation: 'consume', deadlineMs: 50 });
    expect((error as Error).message).toBe('redis consume did not answer within 50 ms');
  });

  it('normalises a rejection and a synchronous throw to a StoreError with the cause', async () => {
    const calls = storeCalls();
    const cause = new Error('connect ECONNREFUSED');
    const rejected = calls.operation('consume', () => Promise.reject(cause));
    const thrown = calls.operation('peek', () => {
      throw cause;
    });
    for (const [op, name] of [
      [rejected, 'consume'],
      [thrown, 'peek'],
    ] as const) {
      const { error } = await outcome(op.run());
      expect(isStoreError(error)).toBe(true);
      expect(isStoreTimeoutError(error)).toBe(false);
      expect(error).toMatchObject({ operation: name, cause });
      expect((error as Error).message).toBe(`redis ${name} failed: connect ECONNREFUSED`);
    }
  });

  it('keeps a StoreError the store threw as it is', async () => {
    const calls = storeCalls();
    const own = new StoreError('redis consume failed: CROSSSLOT', {
      store: 'redis',
      operation: 'consume',
    });
    const op = calls.operation('consume', () => Promise.reject(own));
    expect((await outcome(op.run())).error).toBe(own);
  });

  it('ignores a late answer after the deadline, and a late rejection never surfaces', async () => {
    const calls = storeCalls();
    let settle: (value: string) => void = () => {};
    let fail: (error: Error) => void = () => {};
    const late = calls.operation(
      'get',
      (which: 'resolve' | 'reject') =>
        new Promise<string>((resolve, reject) => {
          if (which === 'resolve') settle = resolve;
          else fail = reject;
        }),
    );
    const first = outcome(late.run('resolve'));
    const second = outcome(late.run('reject'));
    expect(isStoreTimeoutError((await first).error)).toBe(true);
    expect(isStoreTimeoutError((await second).error)).toBe(true);
    settle('too late');
    fail(new Error('too late'));
    await flush();
    expect(calls.inFlight).toBe(0);
  });

  it('arms one timer for all calls in flight, not one per call', async () => {
    vi.useFakeTimers();
    const calls = storeCalls({ storeFailureThreshold: 1000 });
    const hung = calls.operation('consume', never);
    const before = vi.getTimerCount();
    const pending = Array.from({ length: 100 }, () => outcome(hung.run()));
    expect(vi.getTimerCount() - before).toBe(1);
    await vi.advanceTimersByTimeAsync(60);
    const results = await Promise.all(pending);
    expect(results.every((r) => isStoreTimeoutError(r.error))).toBe(true);
    expect(vi.getTimerCount()).toBe(before);
  });
});

describe('StoreCalls: signals', () => {
  it('gives an abortable operation a signal of its own, aborted by the deadline', async () => {
    const calls = storeCalls();
    let seen: AbortSignal | undefined;
    const op = calls.operation(
      'acquire',
      (_: unknown, signal) => {
        seen = signal;
        return never();
      },
      { abortable: true },
    );
    const caller = new AbortController();
    const { error } = await outcome(op.run(undefined, caller.signal));
    expect(seen).toBeDefined();
    expect(seen).not.toBe(caller.signal);
    expect(seen!.aborted).toBe(true);
    expect(seen!.reason).toBe(error);
    expect(abortListeners(caller.signal)).toBe(0);
  });

  it('passes the caller signal to an operation that is not abortable, creating no controller', async () => {
    const calls = storeCalls();
    let seen: AbortSignal | undefined;
    const op = calls.operation('get', async (_: unknown, signal) => {
      seen = signal;
      return 1;
    });
    const caller = new AbortController();
    await op.run(undefined, caller.signal);
    expect(seen).toBe(caller.signal);
    expect(abortListeners(caller.signal)).toBe(0);
  });

  it("rejects with the caller's reason when it aborts; that is not a store failure", async () => {
    const calls = storeCalls({ storeFailureThreshold: 1 });
    const events = statusEvents(calls);
    let seen: AbortSignal | undefined;
    const op = calls.operation(
      'acquire',
      (_: unknown, signal) => {
        seen = signal;
        return never();
      },
      { abortable: true },
    );
    const caller = new AbortController();
    const pending = outcome(op.run(undefined, caller.signal));
    const reason = new Error('caller left');
    caller.abort(reason);
    expect((await pending).error).toBe(reason);
    expect(seen!.reason).toBe(reason);
    expect(calls.status).toBe('healthy');
    expect(events).toEqual([]);
    expect(calls.inFlight).toBe(0);
    expect(abortListeners(caller.signal)).toBe(0);
  });

  it('rejects at once for a signal that is already aborted, without calling the store', async () => {
    const calls = storeCalls();
    const invoke = vi.fn(async () => 1);
    const op = calls.operation('get', invoke);
    const reason = new Error('gone');
    expect((await outcome(op.run(undefined, AbortSignal.abort(reason)))).error).toBe(reason);
    expect(invoke).not.toHaveBeenCalled();
  });
});

describe('StoreCalls: the degraded-mode rule', () => {
  it('degrades after `storeFailureThreshold` consecutive failures, with one event of one shape', async () => {
    const calls = storeCalls({ storeFailureThreshold: 3 });
    const events = statusEvents(calls);
    const op = calls.operation('consume', refused);
    await outcome(op.run());
    await outcome(op.run());
    expect(calls.status).toBe('healthy');
    expect(events).toEqual([]);
    const { error: third } = await outcome(op.run());
    expect(calls.status).toBe('degraded');
    expect(events).toEqual([
      {
        policy: 'payments',
        pattern: 'rate-limit',
        store: 'redis',
        status: 'degraded',
        error: third,
      },
    ]);
    await outcome(op.run());
    expect(events).toHaveLength(1);
  });

  it('a success in between resets the count', async () => {
    const calls = storeCalls({ storeFailureThreshold: 2 });
    let fail = true;
    const op = calls.operation('consume', () => (fail ? refused() : Promise.resolve(1)));
    await outcome(op.run());
    fail = false;
    await op.run();
    fail = true;
    await outcome(op.run());
    expect(calls.status).toBe('healthy');
    await outcome(op.run());
    expect(calls.status).toBe('degraded');
  });

  it('while degraded, calls answer at once, with an error naming their own operation', async () => {
    const calls = storeCalls({ storeFailureThreshold: 1 });
    const invoke = vi.fn(never);
    const consume = calls.operation('consume', invoke);
    const reset = calls.operation('reset', invoke);
    const { error: timeout } = await outcome(consume.run());
    expect(calls.status).toBe('degraded');
    const started = performance.now();
    const { error } = await outcome(reset.run());
    expect(performance.now() - started).toBeLessThan(20);
    expect(invoke).toHaveBeenCalledTimes(1);
    expect(isStoreError(error)).toBe(true);
    expect(isStoreTimeoutError(error)).toBe(false);
    expect(error).toMatchObject({ operation: 'reset', store: 'redis' });
    expect((error as Error).cause).toBe(timeout);
    expect((error as Error).message).toBe(
      'redis reset was not attempted: the store is degraded (last failure: redis consume did not answer within 50 ms)',
    );
  });

  it('a lost optimistic race is answered as a failure but does not degrade the store', async () => {
    const calls = storeCalls({ storeFailureThreshold: 1 });
    const conflict = new StoreConflictError('dynamodb take gave up after 5 attempts', {
      store: 'dynamodb',
      operation: 'take',
      tableName: 't',
      attempts: 5,
    });
    const op = calls.operation('take', () => Promise.reject(conflict));
    expect((await outcome(op.run())).error).toBe(conflict);
    expect(calls.status).toBe('healthy');
  });

  it('an answer that arrives while degraded (a call already in flight) recovers the store', async () => {
    const calls = storeCalls({ storeFailureThreshold: 1, storeDeadlineMs: 200 });
    const events = statusEvents(calls);
    let answer: (value: number) => void = () => {};
    const slow = calls.operation(
      'get',
      () =>
        new Promise<number>((resolve) => {
          answer = resolve;
        }),
    );
    const inFlight = slow.run();
    await outcome(calls.operation('consume', refused).run());
    expect(calls.status).toBe('degraded');
    answer(7);
    expect(await inFlight).toBe(7);
    expect(calls.status).toBe('healthy');
    expect(events.map((e) => e.status)).toEqual(['degraded', 'healthy']);
  });
});

describe('StoreCalls: probes', () => {
  it('probes in the background once per interval while degraded, and recovers on success', async () => {
    vi.useFakeTimers();
    let up = false;
    const probe = vi.fn(() => (up ? Promise.resolve() : refused()));
    const calls = storeCalls({ storeFailureThreshold: 1, probe });
    const events = statusEvents(calls);
    const op = calls.operation('consume', () => (up ? Promise.resolve('ok') : refused()));
    await outcome(op.run());
    expect(calls.status).toBe('degraded');
    expect(probe).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(100);
    expect(probe).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(250);
    expect(probe).toHaveBeenCalledTimes(3);
    // Calls meanwhile never reach the store.
    await outcome(op.run());
    up = true;
    expect(calls.status).toBe('degraded');
    await vi.advanceTimersByTimeAsync(100);
    expect(calls.status).toBe('healthy');
    expect(events.map((e) => e.status)).toEqual(['degraded', 'healthy']);
    expect(await op.run()).toBe('ok');
    await vi.advanceTimersByTimeAsync(1000);
    expect(probe).toHaveBeenCalledTimes(4);
  });

  it('a probe that hangs is bounded by the deadline and aborted', async () => {
    vi.useFakeTimers();
    const signals: AbortSignal[] = [];
    const probe = vi.fn((signal: AbortSignal) => {
      signals.push(signal);
      return never();
    });
    const calls = storeCalls({ storeFailureThreshold: 1, probe });
    await outcome(calls.operation('consume', refused).run());
    await vi.advanceTimersByTimeAsync(100);
    expect(calls.inFlight).toBe(1);
    await vi.advanceTimersByTimeAsync(60);
    expect(calls.inFlight).toBe(0);
    expect(isStoreTimeoutError(signals[0]!.reason)).toBe(true);
    expect(calls.lastError?.operation).toBe('probe');
    await vi.advanceTimersByTimeAsync(100);
    expect(probe).toHaveBeenCalledTimes(2);
  });

  it('the probe timer never keeps the process alive, and close() stops it', async () => {
    const probe = vi.fn(refused);
    const calls = storeCalls({ storeFailureThreshold: 1, storeProbeIntervalMs: 30, probe });
    const timers = vi.spyOn(globalThis, 'setTimeout');
    await outcome(calls.operation('consume', refused).run());
    const probeTimer = timers.mock.results.at(-1)?.value as NodeJS.Timeout;
    timers.mockRestore();
    expect(probeTimer.hasRef()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 80));
    const probesBeforeClose = probe.mock.calls.length;
    expect(probesBeforeClose).toBeGreaterThanOrEqual(1);
    await calls.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(probe).toHaveBeenCalledTimes(probesBeforeClose);
  });

  it('without a probe, one real call per interval goes to the store while degraded', async () => {
    vi.useFakeTimers();
    const invoke = vi.fn(refused);
    const calls = storeCalls({ storeFailureThreshold: 1 });
    const op = calls.operation('consume', invoke);
    await outcome(op.run());
    for (let i = 0; i < 5; i++) await outcome(op.run());
    expect(invoke).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(100);
    for (let i = 0; i < 5; i++) await outcome(op.run());
    expect(invoke).toHaveBeenCalledTimes(2);
  });
});

describe('StoreCalls: guarded operations', () => {
  const fallbacks: StoreFallbacks<string, string> = {
    failOpen: (error, arg) => `open ${arg} after ${error.operation}`,
    failClosed: (error) => {
      throw new Error('refused', { cause: error });
    },
    local: async (_error, arg) => `local ${arg}`,
  };

  it.each([
    ['fail-open', { value: 'open a after acquire' }],
    ['local', { value: 'local a' }],
  ] as const)('answers the %s fallback on a failure', async (mode, expected) => {
    const calls = storeCalls({ onStoreError: mode });
    const op = calls.guarded('acquire', refused, fallbacks);
    expect(await outcome(op.run('a'))).toEqual(expected);
  });

  it("rejects with what the 'fail-closed' fallback throws, the store error as its cause", async () => {
    const calls = storeCalls({ onStoreError: 'fail-closed' });
    const op = calls.guarded('acquire', refused, fallbacks);
    const { error } = await outcome(op.run('a'));
    expect((error as Error).message).toBe('refused');
    expect(isStoreError((error as Error).cause)).toBe(true);
  });

  it('answers the fallback synchronously while degraded, never throwing', async () => {
    const calls = storeCalls({ onStoreError: 'fail-open', storeFailureThreshold: 1 });
    const op = calls.guarded('acquire', refused, fallbacks);
    await op.run('a');
    expect(op.run('b')).toBe('open b after acquire');
    const closed = storeCalls({ onStoreError: 'fail-closed', storeFailureThreshold: 1 });
    const closedOp = closed.guarded('acquire', refused, fallbacks);
    await outcome(closedOp.run('a'));
    let answer: unknown;
    expect(() => {
      answer = closedOp.run('b');
    }).not.toThrow();
    await expect(answer).rejects.toThrow('refused');
  });

  it('takes one function as the fallback of every mode', async () => {
    for (const mode of ['fail-open', 'fail-closed', 'local'] as OnStoreError[]) {
      const calls = storeCalls({ onStoreError: mode });
      const op = calls.guarded('release', refused, () => false);
      expect(await op.run()).toBe(false);
    }
  });
});

describe('StoreCalls: close and idle', () => {
  it('close() waits for the calls in flight, which end by their deadline at the latest', async () => {
    const calls = storeCalls({ storeDeadlineMs: 60 });
    const hung = outcome(calls.operation('release', never).run());
    const started = performance.now();
    await calls.close();
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(50);
    expect(waited).toBeLessThan(500);
    expect(isStoreTimeoutError((await hung).error)).toBe(true);
  });

  it('idle() resolves at once with nothing in flight', async () => {
    const calls = storeCalls();
    await expect(calls.idle()).resolves.toBeUndefined();
  });
});

describe('StoreCalls: telemetry', () => {
  it('records durations and errors with the same attribute names for every pattern', async () => {
    const otel = installOtel();
    try {
      const calls = storeCalls({ storeFailureThreshold: 2 });
      const get = calls.operation('get', async () => 1);
      const consume = calls.operation('consume', refused);
      const peek = calls.operation('peek', never);
      await get.run();
      await outcome(consume.run());
      await outcome(peek.run());
      await outcome(consume.run());
      const base = { 'breakwater.policy.name': 'payments', 'breakwater.store': 'redis' };
      const duration = await otel.metric('breakwater.rate_limit.store.duration');
      expect(duration?.unit).toBe('s');
      expect(
        await otel.sum('breakwater.rate_limit.store.duration', {
          ...base,
          'breakwater.store.operation': 'get',
          'breakwater.store.outcome': 'ok',
        }),
      ).toBe(1);
      const errors = async (operation: string, outcome: string) =>
        otel.sum('breakwater.rate_limit.store.errors', {
          ...base,
          'breakwater.store.operation': operation,
          'breakwater.store.outcome': outcome,
        });
      expect(await errors('consume', 'error')).toBe(1);
      expect(await errors('peek', 'timeout')).toBe(1);
      expect(await errors('consume', 'degraded')).toBe(1);
      const histogram = duration!.points[0]!.value as { buckets: { boundaries: number[] } };
      expect(histogram.buckets.boundaries).toContain(0.001);
      expect(histogram.buckets.boundaries.at(-1)).toBeLessThanOrEqual(10);
    } finally {
      await otel.uninstall();
    }
  });

  it('adds the status event to the active span', async () => {
    const otel = installOtel();
    try {
      const calls = storeCalls({ storeFailureThreshold: 1 });
      await otel.tracer.startActiveSpan('request', async (span) => {
        await outcome(calls.operation('consume', refused).run());
        span.end();
      });
      const [span] = otel.spans();
      expect(span?.events.map((e) => [e.name, e.attributes?.['breakwater.store.status']])).toEqual([
        ['breakwater.rate_limit.store.status', 'degraded'],
      ]);
    } finally {
      await otel.uninstall();
    }
  });
});

describe('store options', () => {
  it('fills in the shared defaults and the pattern’s own', () => {
    expect(resolveStoreOptions({}, { onStoreError: 'local' })).toEqual({
      onStoreError: 'local',
      deadlineMs: STORE_DEFAULTS.deadlineMs,
      failureThreshold: STORE_DEFAULTS.failureThreshold,
      probeIntervalMs: STORE_DEFAULTS.probeIntervalMs,
    });
    expect(resolveStoreOptions({}, { onStoreError: 'fail-open', deadlineMs: 100 }).deadlineMs).toBe(
      100,
    );
  });

  it.each([
    [{ storeDeadlineMs: 0 }, 'Expected `storeDeadlineMs` to be a finite number > 0, got 0'],
    [
      { storeDeadlineMs: Number.NaN },
      'Expected `storeDeadlineMs` to be a finite number > 0, got NaN',
    ],
    [
      { storeDeadlineMs: 2 ** 31 },
      'Expected `storeDeadlineMs` to be at most 2147483647, got 2147483648',
    ],
    [{ storeDeadlineMs: '100' }, 'Expected `storeDeadlineMs` to be a finite number > 0, got "100"'],
    [
      { storeFailureThreshold: 0.5 },
      'Expected `storeFailureThreshold` to be an integer >= 1, got 0.5',
    ],
    [
      { storeProbeIntervalMs: -1 },
      'Expected `storeProbeIntervalMs` to be a finite number > 0, got -1',
    ],
    [
      { onStoreError: 'fail-safe' },
      "Expected `onStoreError` to be one of 'fail-open' | 'fail-closed' | 'local', got \"fail-safe\"",
    ],
  ])('names the option and the value: %j', (options, message) => {
    expect(() => resolveStoreOptions(options as StoreOptions, { onStoreError: 'local' })).toThrow(
      message,
    );
  });
});

describe('toStoreError', () => {
  it('wraps anything thrown, naming the store and the operation', () => {
    const error = toStoreError('boom', 'dynamodb', 'take');
    expect(error).toBeInstanceOf(StoreError);
    expect(error.message).toBe('dynamodb take failed: boom');
    const timeout = new StoreTimeoutError('late', {
      store: 'redis',
      operation: 'x',
      deadlineMs: 1,
    });
    expect(toStoreError(timeout, 'redis', 'y')).toBe(timeout);
  });
});
