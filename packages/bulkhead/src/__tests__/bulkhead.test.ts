import { STORE_DEFAULTS } from '@breakwater/core';
import { fakeClock } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import {
  BulkheadRejectedError,
  bulkhead,
  DEFAULTS,
  isBulkheadRejectedError,
  memoryStore,
} from '../index.js';
import { abortListeners, activeTimers, caught, type Deferred, deferred, flush } from './helpers.js';

/** Starts a call that runs until its deferred settles; records when it started. */
function hold(b: ReturnType<typeof bulkhead>, log: string[], label: string, options = {}) {
  const gate: Deferred<string> = deferred();
  const result = b.execute(() => {
    log.push(label);
    return gate.promise;
  }, options);
  return { gate, result };
}

describe('bulkhead(): local slots', () => {
  it('runs up to maxConcurrent at once and passes results and errors through', async () => {
    const b = bulkhead({ name: 'db', maxConcurrent: 2 });
    const log: string[] = [];
    const a = hold(b, log, 'a');
    const c = hold(b, log, 'b');
    expect(log).toEqual(['a', 'b']);
    expect(b.active).toBe(2);
    a.gate.resolve('A');
    await expect(a.result).resolves.toBe('A');
    const boom = new Error('boom');
    c.gate.reject(boom);
    await expect(c.result).rejects.toBe(boom);
    expect(b.active).toBe(0);
    await expect(b.execute(() => 42)).resolves.toBe(42);
    await expect(
      b.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(b.active).toBe(0);
  });

  it('rejects with queue-full when no slot is free and the queue is full', async () => {
    const b = bulkhead({ name: 'db', maxConcurrent: 1, maxQueue: 1 });
    const log: string[] = [];
    const first = hold(b, log, 'first');
    const second = hold(b, log, 'second');
    const rejections: string[] = [];
    b.onRejected((r) => rejections.push(`${r.reason}/${r.priority}`));
    const error = await caught(b.execute(() => 'never'));
    expect(error).toBeInstanceOf(BulkheadRejectedError);
    expect(isBulkheadRejectedError(error)).toBe(true);
    expect(error).toMatchObject({
      name: 'BulkheadRejectedError',
      reason: 'queue-full',
      policyName: 'db',
      priority: 'default',
    });
    expect(rejections).toEqual(['queue-full/default']);
    expect(b.queued).toBe(1);
    first.gate.resolve('1');
    await first.result;
    expect(log).toEqual(['first', 'second']);
    second.gate.resolve('2');
    await expect(second.result).resolves.toBe('2');
  });

  it('rejects at once by default (maxQueue 0)', async () => {
    const b = bulkhead({ maxConcurrent: 1 });
    const first = hold(b, [], 'first');
    await expect(b.execute(() => 1)).rejects.toMatchObject({ reason: 'queue-full' });
    first.gate.resolve('');
    await first.result;
  });

  it('serves the queue in fifo order, and in lifo order when asked', async () => {
    for (const order of ['fifo', 'lifo'] as const) {
      const b = bulkhead({ maxConcurrent: 1, maxQueue: 10, order });
      const log: string[] = [];
      const blocker = hold(b, log, 'blocker');
      const calls = ['1', '2', '3'].map((label) =>
        b.execute(() => {
          log.push(label);
        }),
      );
      blocker.gate.resolve('');
      await Promise.all([blocker.result, ...calls]);
      expect(log).toEqual(
        order === 'fifo' ? ['blocker', '1', '2', '3'] : ['blocker', '3', '2', '1'],
      );
    }
  });

  it('hands a freed slot to the head of the queue, never to a newcomer', async () => {
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 10 });
    const log: string[] = [];
    const blocker = hold(b, log, 'blocker');
    const queued = hold(b, log, 'queued');
    blocker.gate.resolve('');
    // The newcomer arrives in the same tick as the release takes effect.
    const newcomer = blocker.result.then(() => hold(b, log, 'newcomer'));
    await blocker.result;
    const late = await newcomer;
    expect(log).toEqual(['blocker', 'queued']);
    queued.gate.resolve('');
    await queued.result;
    expect(log).toEqual(['blocker', 'queued', 'newcomer']);
    late.gate.resolve('');
    await late.result;
  });

  it('removes an aborted caller from the queue at once, leaving no listener or timer', async () => {
    const timersBefore = activeTimers();
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 5, maxWaitMs: 60_000 });
    const log: string[] = [];
    const blocker = hold(b, log, 'blocker');
    const controller = new AbortController();
    const aborted = caught(b.execute(() => log.push('aborted ran'), { signal: controller.signal }));
    const next = hold(b, log, 'next');
    expect(b.queued).toBe(2);
    expect(abortListeners(controller.signal)).toBe(1);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    expect(b.queued).toBe(1);
    expect(await aborted).toBe(reason);
    expect(abortListeners(controller.signal)).toBe(0);
    blocker.gate.resolve('');
    await blocker.result;
    expect(log).toEqual(['blocker', 'next']);
    next.gate.resolve('');
    await next.result;
    expect(activeTimers()).toBe(timersBefore);
  });

  it('rejects with the reason of an already aborted signal without running fn', async () => {
    const b = bulkhead({ maxConcurrent: 1 });
    const reason = new Error('already');
    let ran = false;
    await expect(
      b.execute(
        () => {
          ran = true;
        },
        { signal: AbortSignal.abort(reason) },
      ),
    ).rejects.toBe(reason);
    expect(ran).toBe(false);
  });

  it('rejects a running call at once when its caller aborts, but keeps the slot until fn settles', async () => {
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const controller = new AbortController();
    const gate = deferred<string>();
    let seen: AbortSignal | undefined;
    const running = b.execute(
      ({ signal }) => {
        seen = signal;
        return gate.promise;
      },
      { signal: controller.signal },
    );
    controller.abort(new Error('stop'));
    await expect(running).rejects.toThrow('stop');
    expect(seen?.aborted).toBe(true);
    expect(b.active).toBe(1);
    const log: string[] = [];
    const next = b.execute(() => log.push('next'));
    await flush();
    expect(log).toEqual([]);
    gate.resolve('late');
    await next;
    expect(log).toEqual(['next']);
  });

  it('rejects with queue-timeout after maxWaitMs and estimates retryAfterMs', async () => {
    const clock = fakeClock();
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 5, maxWaitMs: 100, clock });
    // One measured call (admitted from the queue) teaches the bulkhead a duration.
    const first = b.execute(() => clock.sleep(40));
    const second = b.execute(() => clock.sleep(40));
    await clock.advance(40);
    await first;
    await clock.advance(40);
    await second;
    const blocker = b.execute(() => clock.sleep(1_000));
    const waiting = caught(b.execute(() => 'never'));
    await clock.advance(99);
    expect(b.queued).toBe(1);
    await clock.advance(1);
    const error = await waiting;
    expect(error).toMatchObject({ reason: 'queue-timeout', name: 'BulkheadRejectedError' });
    expect((error as BulkheadRejectedError).retryAfterMs).toBeGreaterThan(0);
    expect(b.queued).toBe(0);
    await clock.advance(1_000);
    await blocker;
  });

  it('names the option and the value for bad input', () => {
    expect(() => bulkhead({ maxConcurrent: 0 })).toThrow(
      'Expected `maxConcurrent` to be an integer >= 1, got 0',
    );
    expect(() => bulkhead({ maxConcurrent: 1.5 })).toThrow(RangeError);
    // @ts-expect-error -- neither `maxConcurrent` nor `limit`: refused by the types, and at run time
    expect(() => bulkhead({})).toThrow(/`maxConcurrent`/);
    expect(() => bulkhead({ maxConcurrent: 2, maxQueue: -1 })).toThrow('`maxQueue`');
    expect(() => bulkhead({ maxConcurrent: 2, maxWaitMs: -5 })).toThrow(
      'Expected `maxWaitMs` to be a finite number >= 0, got -5',
    );
    expect(() => bulkhead({ maxConcurrent: 2, order: 'random' as 'fifo' })).toThrow('`order`');
    expect(() =>
      bulkhead({
        maxConcurrent: 10,
        classes: { critical: { reserved: 8 }, standard: { reserved: 4 } },
      }),
    ).toThrow(
      'Expected the reserved slots of `classes` to fit in `maxConcurrent` (10), got 12 reserved',
    );
    expect(() =>
      bulkhead({
        maxConcurrent: 10,
        classes: { critical: { reserved: 10 }, background: { max: 2 } },
      }),
    ).toThrow(/class `background` to be able to run/);
    expect(() => bulkhead({ maxConcurrent: 10, classes: { a: { reserved: 3, max: 2 } } })).toThrow(
      '`classes.a.max`',
    );
    expect(() => bulkhead({ maxConcurrent: 10, perKey: { maxConcurrent: 0 } })).toThrow(
      '`perKey.maxConcurrent`',
    );
    // @ts-expect-error -- `defaultPriority` must be a key of `classes`
    expect(() => bulkhead({ maxConcurrent: 10, classes: { a: {} }, defaultPriority: 'b' })).toThrow(
      '`defaultPriority`',
    );
  });

  it('names the store option and the value for bad store settings, with or without a store', () => {
    for (const store of [undefined, memoryStore()]) {
      expect(() => bulkhead({ maxConcurrent: 2, store, storeDeadlineMs: 0 })).toThrow(
        'Expected `storeDeadlineMs` to be a finite number > 0, got 0',
      );
      expect(() => bulkhead({ maxConcurrent: 2, store, storeDeadlineMs: 2 ** 31 })).toThrow(
        'Expected `storeDeadlineMs` to be at most 2147483647, got 2147483648',
      );
      expect(() => bulkhead({ maxConcurrent: 2, store, storeFailureThreshold: 0.5 })).toThrow(
        '`storeFailureThreshold`',
      );
      expect(() => bulkhead({ maxConcurrent: 2, store, storeProbeIntervalMs: Number.NaN })).toThrow(
        '`storeProbeIntervalMs`',
      );
      expect(() => bulkhead({ maxConcurrent: 2, store, onStoreError: 'retry' as 'local' })).toThrow(
        /`onStoreError`.*"retry"/,
      );
    }
  });

  it('shares the store defaults of every pattern and keeps its own onStoreError', () => {
    expect(DEFAULTS).toMatchObject({
      onStoreError: 'local',
      storeDeadlineMs: STORE_DEFAULTS.deadlineMs,
      storeFailureThreshold: STORE_DEFAULTS.failureThreshold,
      storeProbeIntervalMs: STORE_DEFAULTS.probeIntervalMs,
    });
    expect(DEFAULTS.storeDeadlineMs).toBe(500);
  });

  it('has a healthy store status, a disposer for store status listeners and a no-op close without a store', async () => {
    const b = bulkhead({ maxConcurrent: 2 });
    expect(b.storeStatus).toBe('healthy');
    const dispose = b.onStoreStatusChange(() => {});
    dispose();
    expect(() => b.onStoreStatusChange('nope' as never)).toThrow(
      'Expected `listener` to be a function',
    );
    expect(() => b.onRejected(42 as never)).toThrow('Expected `listener` to be a function');
    await b.close();
    await b[Symbol.asyncDispose]();
  });

  it('rejects an unknown priority at call time with a named error', async () => {
    const b = bulkhead({ maxConcurrent: 2, classes: { critical: { reserved: 1 }, standard: {} } });
    // @ts-expect-error -- not a class of this bulkhead: refused by the types, and at run time
    await expect(b.execute(() => 1, { priority: 'urgent' })).rejects.toThrow(
      "Expected `priority` to be one of 'critical' | 'standard', got \"urgent\"",
    );
  });
});
