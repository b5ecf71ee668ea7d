/**
 * Inside a pipeline a local bulkhead follows the outer policy's lazy abort controller instead of
 * reading its signal (issue #18): no AbortSignal is created unless `fn` reads `ctx.signal`, and an
 * outer abort still ends the call at once while its slot stays taken until `fn` settles.
 */
import { LazyAbortController, lazyContext, pipeline, timeout } from '@breakwater/core';
import { countSignalReads, type SignalReads } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { bulkhead } from '../index.js';

let reads: SignalReads | undefined;
afterEach(() => reads?.restore());

describe('bulkhead() under an outer policy’s lazy context', () => {
  it('creates no signal when fn does not read ctx.signal', async () => {
    reads = countSignalReads();
    const policy = bulkhead({ maxConcurrent: 4, maxQueue: 4 });
    const composed = pipeline(timeout({ ms: 1_000 }), policy);
    await expect(composed.execute(() => 1)).resolves.toBe(1);
    const boom = new Error('boom');
    await expect(composed.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    // The last free slot takes the timed path.
    const one = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    await expect(pipeline(timeout({ ms: 1_000 }), one).execute(() => 2)).resolves.toBe(2);
    await expect(
      pipeline(timeout({ ms: 1_000 }), one).execute(() => Promise.reject(boom)),
    ).rejects.toBe(boom);
    expect(reads.count).toBe(0);
    // fn reading its signal gets the outer one, created then.
    const outer = new LazyAbortController();
    await expect(policy.execute(({ signal }) => signal, lazyContext(outer))).resolves.toBe(
      outer.signal,
    );
    expect(policy.active).toBe(0);
    await Promise.all([policy.close(), one.close()]);
  });

  it('rejects at once with the outer reason, aborts fn’s signal, frees the slot when fn settles', async () => {
    const policy = bulkhead({ maxConcurrent: 2, maxQueue: 0 });
    const outer = new LazyAbortController();
    let seen: AbortSignal | undefined;
    let finish = () => {};
    const pending = policy.execute(({ signal }) => {
      seen = signal;
      return new Promise<void>((resolve) => (finish = resolve));
    }, lazyContext(outer));
    const reason = new Error('outer gave up');
    outer.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBe(reason);
    // The work still runs: its slot is taken until it ends.
    expect(policy.active).toBe(1);
    finish();
    await new Promise((resolve) => setImmediate(resolve));
    expect(policy.active).toBe(0);
    await policy.close();
  });

  it('does not run fn when the outer context already aborted', async () => {
    const policy = bulkhead({ maxConcurrent: 2, maxQueue: 0 });
    const outer = new LazyAbortController();
    const reason = new Error('already');
    outer.abort(reason);
    let called = false;
    await expect(
      policy.execute(() => {
        called = true;
      }, lazyContext(outer)),
    ).rejects.toBe(reason);
    expect(called).toBe(false);
    expect(policy.active).toBe(0);
    await policy.close();
  });

  it('a queued call still follows the outer abort (through its signal)', async () => {
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    let finish = () => {};
    const running = policy.execute(() => new Promise<void>((resolve) => (finish = resolve)));
    const outer = new LazyAbortController();
    let ran = false;
    const queued = policy.execute(() => {
      ran = true;
    }, lazyContext(outer));
    const reason = new Error('stop waiting');
    outer.abort(reason);
    await expect(queued).rejects.toBe(reason);
    finish();
    await running;
    expect(ran).toBe(false);
    await policy.close();
  });
});
