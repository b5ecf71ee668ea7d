import { countSignalReads, type SignalReads } from '@breakwater/testkit';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  fallback,
  LazyAbortController,
  lazyAbortSourceOf,
  lazyContext,
  neverAbortedSignal,
  pipeline,
  raceLazyAbortThen,
  timeout,
} from '../index.js';

let reads: SignalReads | undefined;
afterEach(() => reads?.restore());

describe('LazyAbortController', () => {
  it('creates no signal until read, and a late read sees the abort', () => {
    reads = countSignalReads();
    const controller = new LazyAbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    controller.abort(new Error('ignored'));
    expect(reads.count).toBe(0);
    expect(controller.aborted).toBe(true);
    expect(controller.signal.aborted).toBe(true);
    expect(controller.signal.reason).toBe(reason);
    expect(reads.count).toBeGreaterThan(0);
  });

  it('aborts an already-read signal and runs callbacks once; unsubscribed callbacks do not run', () => {
    const controller = new LazyAbortController();
    const signal = controller.signal;
    const seen: unknown[] = [];
    controller.onAbort((r) => seen.push(['a', r]));
    const unsubscribe = controller.onAbort((r) => seen.push(['b', r]));
    unsubscribe();
    controller.abort('why');
    expect(signal.aborted).toBe(true);
    expect(seen).toEqual([['a', 'why']]);
    controller.onAbort((r) => seen.push(['late', r]));
    expect(seen).toEqual([
      ['a', 'why'],
      ['late', 'why'],
    ]);
  });

  it('defaults the reason to an AbortError DOMException', () => {
    const controller = new LazyAbortController();
    controller.abort();
    expect(controller.reason).toBeInstanceOf(DOMException);
    expect((controller.reason as DOMException).name).toBe('AbortError');
  });

  it('lazy contexts expose their controller to inner policies and a signal to fn', () => {
    const controller = new LazyAbortController();
    const ctx = lazyContext(controller);
    expect(lazyAbortSourceOf(ctx)).toBe(controller);
    expect(lazyAbortSourceOf({ signal: new AbortController().signal })).toBeUndefined();
    expect(lazyAbortSourceOf(undefined)).toBeUndefined();
    expect(ctx.signal).toBe(controller.signal);
  });
});

describe('LazyAbortController callbacks', () => {
  // Callbacks live in three fields, then an array whose newest entry is popped on removal: any
  // order of adds and removes must still run each remaining registration exactly once.
  it('runs every registration left once on abort, whatever the order of adds and removes', () => {
    const steps = fc.array(
      fc.record({ add: fc.boolean(), callback: fc.integer({ min: 0, max: 5 }) }),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(steps, (sequence) => {
        const controller = new LazyAbortController();
        const runs = Array.from({ length: 6 }, () => 0);
        const callbacks = runs.map((_, index) => () => {
          runs[index]! += 1;
        });
        // The model: how many registrations of each callback are left.
        const registered = Array.from({ length: 6 }, () => 0);
        for (const { add, callback } of sequence) {
          if (add) {
            controller.addAbortListener(callbacks[callback]!);
            registered[callback]! += 1;
          } else {
            controller.removeAbortListener(callbacks[callback]!);
            if (registered[callback]! > 0) registered[callback]! -= 1;
          }
        }
        controller.abort(new Error('stop'));
        expect(runs).toEqual(registered);
        controller.abort(new Error('again'));
        expect(runs).toEqual(registered);
      }),
      { numRuns: 500 },
    );
  });
});

describe('raceLazyAbortThen', () => {
  const handlers = () => {
    const seen: string[] = [];
    return {
      seen,
      onFulfilled: (value: number) => {
        seen.push(`value ${value}`);
        return value * 2;
      },
      onRejected: (error: unknown) => {
        seen.push(`error ${(error as Error).message}`);
        return -1;
      },
    };
  };

  it('passes the outcome to one handler, and settles with what it returns', async () => {
    const a = handlers();
    await expect(
      raceLazyAbortThen(
        Promise.resolve(21),
        new LazyAbortController(),
        a.onFulfilled,
        a.onRejected,
      ),
    ).resolves.toBe(42);
    const b = handlers();
    await expect(
      raceLazyAbortThen(
        Promise.reject(new Error('boom')),
        new LazyAbortController(),
        b.onFulfilled,
        b.onRejected,
      ),
    ).resolves.toBe(-1);
    expect([...a.seen, ...b.seen]).toEqual(['value 21', 'error boom']);
  });

  it('hands onRejected the abort reason as soon as the controller aborts, and nothing after', async () => {
    const controller = new LazyAbortController();
    const h = handlers();
    let settle!: (value: number) => void;
    const result = raceLazyAbortThen(
      new Promise<number>((resolve) => {
        settle = resolve;
      }),
      controller,
      h.onFulfilled,
      h.onRejected,
    );
    controller.abort(new Error('stop'));
    await expect(result).resolves.toBe(-1);
    settle(1);
    await Promise.resolve();
    expect(h.seen).toEqual(['error stop']);
  });

  it('stops following the controller once settled, and rejects with what a handler throws', async () => {
    const controller = new LazyAbortController();
    const h = handlers();
    await raceLazyAbortThen(Promise.resolve(1), controller, h.onFulfilled, h.onRejected);
    controller.abort(new Error('late'));
    await Promise.resolve();
    expect(h.seen).toEqual(['value 1']);
    const thrown = new Error('handler failed');
    await expect(
      raceLazyAbortThen(
        Promise.resolve(1),
        new LazyAbortController(),
        () => {
          throw thrown;
        },
        () => 0,
      ),
    ).rejects.toBe(thrown);
  });

  it('answers an already-aborted controller through onRejected without creating a signal', async () => {
    reads = countSignalReads();
    const controller = new LazyAbortController();
    controller.abort(new Error('already'));
    const h = handlers();
    await expect(
      raceLazyAbortThen(Promise.resolve(1), controller, h.onFulfilled, h.onRejected),
    ).resolves.toBe(-1);
    expect(h.seen).toEqual(['error already']);
    expect(reads.count).toBe(0);
  });
});

describe('policies keep signals lazy', () => {
  it('timeout and fallback, alone and in a pipeline, create no signal fn does not read', async () => {
    neverAbortedSignal(); // one shared signal for calls given none, created once per process
    reads = countSignalReads();
    await timeout({ ms: 1_000 }).execute(() => 1);
    await fallback({ value: 0 }).execute(() => 1);
    await pipeline(timeout({ ms: 1_000 }), fallback({ value: 0 })).execute(() => 1);
    await pipeline(fallback({ value: 0 }), timeout({ ms: 1_000 })).execute(() => 1);
    expect(reads.count).toBe(0);
  });

  it('a timeout above a fallback still stops the call and the fallback does not answer it', async () => {
    reads = countSignalReads();
    const composed = pipeline(
      timeout({ ms: 5, strategy: 'aggressive' }),
      fallback({ value: 'fb' }),
    );
    await expect(composed.execute(() => new Promise(() => {}))).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    expect(reads.count).toBe(0);
  });

  it('fn that reads ctx.signal inside a pipeline sees the outer timeout', async () => {
    const composed = pipeline(timeout({ ms: 5 }), fallback({ value: 'fb' }));
    const result = await composed
      .execute(
        ({ signal }) =>
          new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      )
      .catch((e: unknown) => e);
    expect(result).toMatchObject({ name: 'TimeoutError' });
  });
});
