/**
 * A bulkhead that is safe to compose: its options need a limit (the types say so, and the run-time
 * check names it), `priority` is typed from the keys of `classes`, `execute(nonFunction)` rejects
 * with core's named error before taking anything, and a call given the shared never-aborted signal
 * (what an outer policy passes for a call that had none) adds no listener to it, running, queued
 * or waiting for a fleet permit.
 */
import {
  type ExecutionContext,
  neverAbortedSignal,
  type Pipeline,
  pipeline,
  timeout,
} from '@breakwater/core';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  adaptive,
  type Bulkhead,
  type BulkheadExecuteOptions,
  type BulkheadOptions,
  type BulkheadRejection,
  bulkhead,
  memoryStore,
  type PriorityClassOptions,
} from '../index.js';
import { abortListeners, deferred, flush, until } from './helpers.js';

const CONCURRENT = 50;

/** Records the process warnings emitted while a test runs; none may be a listener leak. */
const warnings: string[] = [];
const onWarning = (warning: Error) => warnings.push(warning.name);
process.on('warning', onWarning);
afterEach(async () => {
  await flush();
  const emitted = warnings.splice(0);
  expect(emitted).not.toContain('MaxListenersExceededWarning');
});

describe('bulkhead() options: a limit is required', () => {
  it('does not type-check without `maxConcurrent` or `limit`, nor with both', () => {
    // Type-level only: each line below must fail to compile (checked by the package's tsc).
    const build = (): void => {
      // @ts-expect-error -- classes alone: no limit
      bulkhead({ classes: { critical: { reserved: 1 }, batch: {} } });
      // @ts-expect-error -- no limit at all
      bulkhead({ name: 'db' });
      // @ts-expect-error -- both limits
      bulkhead({ maxConcurrent: 4, limit: adaptive() });
      // @ts-expect-error -- `defaultPriority` must be a key of `classes`
      bulkhead({ maxConcurrent: 4, classes: { critical: {}, batch: {} }, defaultPriority: 'bulk' });
    };
    expect(build).toBeTypeOf('function');

    expectTypeOf<{ maxConcurrent: 4 }>().toExtend<BulkheadOptions>();
    expectTypeOf<{ limit: ReturnType<typeof adaptive> }>().toExtend<BulkheadOptions>();
    expectTypeOf<{ classes: { a: PriorityClassOptions } }>().not.toExtend<BulkheadOptions>();
    expectTypeOf<{
      maxConcurrent: 4;
      limit: ReturnType<typeof adaptive>;
    }>().not.toExtend<BulkheadOptions>();
  });

  it('still refuses them at run time with a named error, for JavaScript callers', () => {
    expect(() => bulkhead({ classes: { critical: { reserved: 1 }, batch: {} } } as never)).toThrow(
      new TypeError(
        'Expected `maxConcurrent` to be an integer >= 1 (or an adaptive `limit`), got undefined',
      ),
    );
    expect(() => bulkhead({ maxConcurrent: 4, limit: adaptive() } as never)).toThrow(
      'Expected either `maxConcurrent` or `limit`, got both (maxConcurrent 4 and an adaptive limit)',
    );
    expect(() => bulkhead({ limit: 8 } as never)).toThrow(
      'Expected `limit` to be an adaptive limit built by adaptive(), got 8',
    );
    expect(() => bulkhead(undefined as never)).toThrow(TypeError);
  });
});

describe('bulkhead() types: priority from the keys of classes', () => {
  it('types the bulkhead with its class names', () => {
    const b = bulkhead({ maxConcurrent: 4, classes: { critical: { reserved: 1 }, batch: {} } });
    expectTypeOf(b).toEqualTypeOf<Bulkhead<'critical' | 'batch'>>();
    expectTypeOf(b.execute)
      .parameter(1)
      .toEqualTypeOf<BulkheadExecuteOptions<'critical' | 'batch'> | undefined>();
    expectTypeOf<Parameters<typeof b.onRejected>[0]>().toEqualTypeOf<
      (rejection: BulkheadRejection<'critical' | 'batch'>) => void
    >();
    // Without classes, the one class is 'default'.
    expectTypeOf(bulkhead({ maxConcurrent: 4 })).toEqualTypeOf<Bulkhead<'default'>>();
    expectTypeOf(bulkhead({ limit: adaptive(), classes: { a: {}, b: {} } })).toEqualTypeOf<
      Bulkhead<'a' | 'b'>
    >();
    // Classes only known at run time: any string (checked when the call is made).
    const dynamic: Record<string, PriorityClassOptions> = { a: {} };
    expectTypeOf(bulkhead({ maxConcurrent: 4, classes: dynamic })).toEqualTypeOf<
      Bulkhead<string>
    >();
    // A bulkhead with classes is still a `Bulkhead` (and a core Policy).
    expectTypeOf(b).toExtend<Bulkhead>();
    expectTypeOf<Pipeline<[typeof b]>>().toExtend<{
      execute(fn: (ctx: ExecutionContext) => unknown, options?: { priority?: 'batch' }): unknown;
    }>();
  });

  it('refuses an unknown priority in the types and at run time, directly and in a pipeline', async () => {
    const b = bulkhead({ maxConcurrent: 4, classes: { critical: { reserved: 1 }, batch: {} } });
    await expect(b.execute(() => 'ok', { priority: 'critical' })).resolves.toBe('ok');
    // @ts-expect-error -- not a class of this bulkhead
    const direct = b.execute(() => 'ok', { priority: 'urgent' });
    await expect(direct).rejects.toThrow(
      "Expected `priority` to be one of 'critical' | 'batch', got \"urgent\"",
    );
    const composed = pipeline(timeout({ ms: 1_000 }), b);
    await expect(composed.execute(() => 'ok', { priority: 'batch' })).resolves.toBe('ok');
    // @ts-expect-error -- the pipeline's options carry the bulkhead's classes
    const piped = composed.execute(() => 'ok', { priority: 'urgent' });
    await expect(piped).rejects.toBeInstanceOf(RangeError);
  });
});

describe('execute() with something that is not a function', () => {
  const notFunctions: [string, unknown][] = [
    ['42', 42],
    ['undefined', undefined],
    ['"fn"', 'fn'],
    ['null', null],
  ];

  it.each(notFunctions)(
    'rejects %s with the named TypeError, on every path',
    async (shown, bad) => {
      const expected = new TypeError(`Expected \`fn\` to be a function, got ${shown}`);
      const simple = bulkhead({ maxConcurrent: 4 });
      const classes = bulkhead({
        maxConcurrent: 4,
        classes: { critical: { reserved: 1 }, batch: {} },
        perKey: { maxConcurrent: 1 },
      });
      await expect(simple.execute(bad as never)).rejects.toThrow(expected);
      await expect(simple.execute(bad as never, { signal: neverAbortedSignal() })).rejects.toThrow(
        expected,
      );
      await expect(classes.execute(bad as never, { priority: 'batch', key: 't' })).rejects.toThrow(
        expected,
      );
      // Checked first: before the priority, before the caller's aborted signal.
      await expect(classes.execute(bad as never, { priority: 'nope' as 'batch' })).rejects.toThrow(
        expected,
      );
      await expect(
        classes.execute(bad as never, { signal: AbortSignal.abort(new Error('aborted')) }),
      ).rejects.toThrow(expected);
    },
  );

  it('takes no slot, enters no queue and reports no rejection, even when the bulkhead is full', async () => {
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const rejections: unknown[] = [];
    b.onRejected((rejection) => rejections.push(rejection));
    const gate = deferred<string>();
    const running = b.execute(() => gate.promise);
    for (let i = 0; i < 5; i++) {
      await expect(b.execute(42 as never)).rejects.toThrow('Expected `fn` to be a function');
    }
    expect(b.active).toBe(1);
    expect(b.queued).toBe(0);
    expect(rejections).toEqual([]);
    // The one queue place is still free.
    const queued = b.execute(() => 'queued');
    expect(b.queued).toBe(1);
    gate.resolve('ran');
    await expect(running).resolves.toBe('ran');
    await expect(queued).resolves.toBe('queued');
  });

  it('takes no fleet permit', async () => {
    const store = memoryStore();
    const b = bulkhead({ name: 'not-a-function', maxConcurrent: 1, store });
    try {
      await expect(b.execute(42 as never)).rejects.toThrow('Expected `fn` to be a function');
      // The fleet's only permit is free: a real call gets it at once.
      await expect(b.execute(() => 'ok')).resolves.toBe('ok');
      expect(b.active).toBe(0);
    } finally {
      await b.close();
      await store.close();
    }
  });
});

describe('given the shared never-aborted signal', () => {
  it(`adds no listener to it, over ${CONCURRENT} concurrent calls with free slots`, async () => {
    const never = neverAbortedSignal();
    const gate = deferred<string>();
    const b = bulkhead({ maxConcurrent: 100, classes: { critical: {}, batch: {} } });
    const calls = Array.from({ length: CONCURRENT }, (_, i) =>
      b.execute(() => gate.promise, {
        signal: never,
        ...(i % 2 === 0 && { priority: 'critical' as const }),
      }),
    );
    await flush();
    expect(b.active).toBe(CONCURRENT);
    expect(abortListeners(never)).toBe(0);
    gate.resolve('done');
    await expect(Promise.all(calls)).resolves.toEqual(Array(CONCURRENT).fill('done'));
  });

  it(`adds no listener to it, over ${CONCURRENT} queued calls (with per-key caps)`, async () => {
    const never = neverAbortedSignal();
    const gate = deferred<string>();
    const b = bulkhead({ maxConcurrent: 2, maxQueue: 100, perKey: { maxConcurrent: 1 } });
    const calls = Array.from({ length: CONCURRENT }, (_, i) =>
      b.execute(() => gate.promise, { signal: never, key: `tenant-${i % 3}` }),
    );
    await flush();
    expect(b.active).toBe(2);
    expect(b.queued).toBe(CONCURRENT - 2);
    expect(abortListeners(never)).toBe(0);
    gate.resolve('done');
    await expect(Promise.all(calls)).resolves.toEqual(Array(CONCURRENT).fill('done'));
    expect(abortListeners(never)).toBe(0);
  });

  it(`adds no listener to it, over ${CONCURRENT} calls waiting for a fleet permit`, async () => {
    const never = neverAbortedSignal();
    const store = memoryStore();
    const options = { name: 'never-aborted', maxConcurrent: CONCURRENT, maxQueue: 100, store };
    const holder = bulkhead(options);
    const waiter = bulkhead(options);
    const held = deferred<string>();
    const gate = deferred<string>();
    try {
      // One replica holds every fleet permit; the other's calls take a local slot each and wait
      // for a permit.
      const holding = Array.from({ length: CONCURRENT }, () =>
        holder.execute(() => held.promise, { signal: never }),
      );
      await until(() => holder.active === CONCURRENT);
      const waiting = Array.from({ length: CONCURRENT }, () =>
        waiter.execute(() => gate.promise, { signal: never }),
      );
      await until(() => waiter.queued === CONCURRENT);
      expect(abortListeners(never)).toBe(0);
      held.resolve('held');
      await Promise.all(holding);
      await until(() => waiter.active === CONCURRENT);
      expect(abortListeners(never)).toBe(0);
      gate.resolve('done');
      await expect(Promise.all(waiting)).resolves.toEqual(Array(CONCURRENT).fill('done'));
    } finally {
      held.resolve('held');
      gate.resolve('done');
      await holder.close();
      await waiter.close();
      await store.close();
    }
  });

  it('a real caller signal still aborts a queued call, and its listener goes with it', async () => {
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 10 });
    const gate = deferred<string>();
    const running = b.execute(() => gate.promise);
    const controller = new AbortController();
    const ran: string[] = [];
    const queued = b.execute(() => ran.push('queued'), { signal: controller.signal });
    expect(b.queued).toBe(1);
    expect(abortListeners(controller.signal)).toBe(1);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(queued).rejects.toBe(reason);
    expect(b.queued).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
    gate.resolve('done');
    await expect(running).resolves.toBe('done');
    expect(ran).toEqual([]);
  });
});
