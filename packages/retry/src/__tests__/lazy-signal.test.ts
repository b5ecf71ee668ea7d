/**
 * Inside a pipeline a retry follows the outer policy's lazy abort controller instead of reading
 * its signal (issue #18): no AbortSignal is created unless `fn` reads `ctx.signal`, and an outer
 * abort still stops the call, its retries and its backoff waits.
 */
import { LazyAbortController, lazyContext, pipeline, timeout } from '@breakwater/core';
import { countSignalReads, type SignalReads } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { constant, retry } from '../index.js';

let reads: SignalReads | undefined;
afterEach(() => reads?.restore());

const never = () => new Promise<never>(() => {});

describe('retry() under an outer policy’s lazy context', () => {
  it('creates no signal when fn does not read ctx.signal, on success and across retries', async () => {
    reads = countSignalReads();
    const policy = retry({ maxAttempts: 3, backoff: constant({ delayMs: 0 }) });
    await expect(policy.execute(() => 'ok', lazyContext(new LazyAbortController()))).resolves.toBe(
      'ok',
    );
    const attempts: number[] = [];
    const result = await pipeline(timeout({ ms: 1_000 }), policy).execute(({ attempt }) => {
      attempts.push(attempt);
      if (attempt < 3) throw new Error(`attempt ${attempt} fails`);
      return attempt;
    });
    expect(result).toBe(3);
    expect(attempts).toEqual([1, 2, 3]);
    expect(reads.count).toBe(0);
  });

  it('hands fn a signal that is the outer policy’s, aborted with its reason', async () => {
    const outer = new LazyAbortController();
    let seen: { signal: AbortSignal; attempt: number } | undefined;
    const pending = retry({ maxAttempts: 2 }).execute((ctx) => {
      seen = { signal: ctx.signal, attempt: ctx.attempt };
      return never();
    }, lazyContext(outer));
    expect(seen?.attempt).toBe(1);
    expect(seen?.signal).toBe(outer.signal);
    const reason = new Error('outer gave up');
    outer.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(seen?.signal.aborted).toBe(true);
    expect(seen?.signal.reason).toBe(reason);
  });

  it('rejects with the outer reason at once while an attempt that ignores the signal hangs', async () => {
    reads = countSignalReads();
    const outer = new LazyAbortController();
    let calls = 0;
    const pending = retry({ maxAttempts: 5 }).execute(() => {
      calls++;
      return never();
    }, lazyContext(outer));
    const reason = new Error('stop');
    outer.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(calls).toBe(1);
    expect(reads.count).toBe(0);
  });

  it('stops during a backoff wait and does not retry after the outer abort', async () => {
    const outer = new LazyAbortController();
    let calls = 0;
    const pending = retry({ maxAttempts: 5, backoff: constant({ delayMs: 60_000 }) }).execute(
      () => {
        calls++;
        throw new Error('fails');
      },
      lazyContext(outer),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    const reason = new Error('stop waiting');
    outer.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(calls).toBe(1);
  });

  it('does not call fn when the outer context already aborted', async () => {
    const outer = new LazyAbortController();
    const reason = new Error('already');
    outer.abort(reason);
    let called = false;
    await expect(
      retry().execute(() => {
        called = true;
      }, lazyContext(outer)),
    ).rejects.toBe(reason);
    expect(called).toBe(false);
  });

  it('a timeout around it still ends the call when fn honours the signal', async () => {
    const composed = pipeline(timeout({ ms: 10 }), retry({ maxAttempts: 3 }));
    const error = await composed
      .execute(
        ({ signal }) =>
          new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      )
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'TimeoutError' });
  });
});
