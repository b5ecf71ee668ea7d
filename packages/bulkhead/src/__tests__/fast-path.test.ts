/**
 * The simple fast path of `execute(fn)`: one class, no key caps, no store, no adaptive limit, no
 * OpenTelemetry SDK, no options, and a free slot that is not the last. It frees the slot from
 * handlers on `fn`'s promise instead of an `async` wrapper; these tests pin that it frees the slot
 * exactly once in every way `fn` can end, and that it hands freed slots to the queue as the general
 * path does.
 */
import { describe, expect, it } from 'vitest';
import { bulkhead } from '../index.js';
import { caught, deferred, flush } from './helpers.js';

describe('bulkhead(): the simple fast path', () => {
  it('keeps the slot until fn settles and passes the value on', async () => {
    const b = bulkhead({ name: 'fast', maxConcurrent: 4 });
    const gate = deferred<string>();
    const result = b.execute(() => gate.promise);
    expect(b.active).toBe(1);
    await flush();
    expect(b.active).toBe(1);
    gate.resolve('done');
    await expect(result).resolves.toBe('done');
    expect(b.active).toBe(0);
  });

  it('returns a promise of its own, not the one fn returned', async () => {
    const b = bulkhead({ name: 'fast', maxConcurrent: 4 });
    const inner = Promise.resolve(1);
    const outer = b.execute(() => inner);
    expect(outer).not.toBe(inner);
    expect(outer).toBeInstanceOf(Promise);
    await expect(outer).resolves.toBe(1);
  });

  it('frees the slot when fn rejects, and rejects with the same error', async () => {
    const b = bulkhead({ name: 'fast', maxConcurrent: 4 });
    const boom = new Error('boom');
    const gate = deferred<string>();
    const result = caught(b.execute(() => gate.promise));
    expect(b.active).toBe(1);
    gate.reject(boom);
    expect(await result).toBe(boom);
    expect(b.active).toBe(0);
  });

  it('frees the slot when fn throws synchronously, and rejects rather than throws', async () => {
    const b = bulkhead({ name: 'fast', maxConcurrent: 4 });
    const boom = new Error('sync boom');
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = b.execute(() => {
        throw boom;
      });
    }).not.toThrow();
    expect(b.active).toBe(0);
    await expect(result).rejects.toBe(boom);
    expect(b.active).toBe(0);
  });

  it('accepts a plain value and a non-native thenable from fn', async () => {
    const b = bulkhead({ name: 'fast', maxConcurrent: 4 });
    await expect(b.execute(() => 7)).resolves.toBe(7);
    const thenable: PromiseLike<string> = {
      // biome-ignore lint/suspicious/noThenProperty: a thenable is what this test is about.
      then: (onFulfilled) => Promise.resolve(onFulfilled?.('thenable')) as never,
    };
    await expect(b.execute(() => thenable)).resolves.toBe('thenable');
    expect(b.active).toBe(0);
  });

  it('gives fn a never-aborting signal and no fencing token', async () => {
    const b = bulkhead({ name: 'fast', maxConcurrent: 4 });
    const ctx = await b.execute((context) => context);
    expect(ctx.signal.aborted).toBe(false);
    expect(ctx.fencingToken).toBeUndefined();
  });

  it('frees each slot once, however many calls run and however they end', async () => {
    const b = bulkhead({ name: 'fast', maxConcurrent: 10 });
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      const kind = i % 4;
      calls.push(
        caught(
          b.execute(async () => {
            if (kind === 0) throw new Error('async');
            return i;
          }),
        ),
      );
      if (kind === 1) {
        calls.push(
          caught(
            b.execute(() => {
              throw new Error('sync');
            }),
          ),
        );
      }
      await Promise.all(calls.splice(0));
      expect(b.active).toBe(0);
    }
  });

  it('hands a slot freed on the fast path to the head of the queue, never to a newcomer', async () => {
    const b = bulkhead({ name: 'fast', maxConcurrent: 3, maxQueue: 5 });
    const log: string[] = [];
    const start = (label: string) => {
      const gate = deferred<string>();
      const result = b.execute(() => {
        log.push(label);
        return gate.promise;
      });
      return { gate, result };
    };
    // The first two take the fast path; the third fills the last slot; the fourth waits.
    const a = start('a');
    const c = start('b');
    const d = start('c');
    const queued = start('queued');
    expect(b.active).toBe(3);
    expect(b.queued).toBe(1);
    a.gate.resolve('A');
    // A newcomer arriving as soon as the caller sees the result finds the slot taken.
    const newcomer = a.result.then(() => start('newcomer'));
    await expect(a.result).resolves.toBe('A');
    const late = await newcomer;
    expect(log).toEqual(['a', 'b', 'c', 'queued']);
    expect(b.queued).toBe(1);
    c.gate.reject(new Error('b failed'));
    await expect(c.result).rejects.toThrow('b failed');
    expect(log).toEqual(['a', 'b', 'c', 'queued', 'newcomer']);
    for (const call of [d, queued, late]) call.gate.resolve('');
    await Promise.all([d.result, queued.result, late.result]);
    expect(b.active).toBe(0);
    expect(b.queued).toBe(0);
  });

  it('a call with a signal keeps its abort semantics next to fast-path calls', async () => {
    const b = bulkhead({ name: 'fast', maxConcurrent: 4 });
    const fast = deferred<string>();
    const fastResult = b.execute(() => fast.promise);
    const controller = new AbortController();
    const gate = deferred<string>();
    let seen: AbortSignal | undefined;
    const withSignal = b.execute(
      ({ signal }) => {
        seen = signal;
        return gate.promise;
      },
      { signal: controller.signal },
    );
    expect(b.active).toBe(2);
    controller.abort(new Error('stop'));
    await expect(withSignal).rejects.toThrow('stop');
    expect(seen?.aborted).toBe(true);
    // The aborted call's slot stays taken until its fn settles.
    expect(b.active).toBe(2);
    gate.resolve('late');
    fast.resolve('fast');
    await expect(fastResult).resolves.toBe('fast');
    await flush();
    expect(b.active).toBe(0);
  });
});
