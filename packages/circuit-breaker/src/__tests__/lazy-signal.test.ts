/**
 * Inside a pipeline a breaker follows the outer policy's lazy abort controller instead of reading
 * its signal (issue #18): no AbortSignal is created unless `fn` reads `ctx.signal`, and an outer
 * abort still ends the call, which then counts neither as a success nor as a failure.
 */
import {
  isTimeoutError,
  LazyAbortController,
  lazyContext,
  pipeline,
  timeout,
} from '@breakwater/core';
import { countSignalReads, type SignalReads } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { circuitBreaker } from '../index.js';

let reads: SignalReads | undefined;
afterEach(() => reads?.restore());

const never = () => new Promise<never>(() => {});

describe.each([
  ['without timeoutMs', {}],
  ['with timeoutMs', { timeoutMs: 60_000 }],
])('circuitBreaker() %s under an outer policy’s lazy context', (_, extra) => {
  const breaker = () => circuitBreaker({ name: 'lazy', ...extra });

  it('creates no signal when fn does not read ctx.signal', async () => {
    reads = countSignalReads();
    const policy = breaker();
    await expect(policy.execute(() => 1, lazyContext(new LazyAbortController()))).resolves.toBe(1);
    await expect(pipeline(timeout({ ms: 1_000 }), policy).execute(() => 2)).resolves.toBe(2);
    const boom = new Error('boom');
    await expect(
      pipeline(timeout({ ms: 1_000 }), policy).execute(() => Promise.reject(boom)),
    ).rejects.toBe(boom);
    expect(reads.count).toBe(0);
    expect(policy.stats()).toMatchObject({ calls: 3, failures: 1 });
    await policy.close();
  });

  it('hands fn a signal that aborts with the outer reason', async () => {
    const policy = breaker();
    const outer = new LazyAbortController();
    let seen: AbortSignal | undefined;
    const pending = policy.execute(({ signal }) => {
      seen = signal;
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(new Error('x'))),
      );
    }, lazyContext(outer));
    const reason = new Error('outer gave up');
    outer.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(seen?.aborted).toBe(true);
    await policy.close();
  });

  it('rejects at once with the outer reason while fn ignores it, and does not count the call', async () => {
    reads = countSignalReads();
    const policy = breaker();
    const outer = new LazyAbortController();
    const pending = policy.execute(never, lazyContext(outer));
    const reason = new Error('stop');
    outer.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(policy.stats()).toMatchObject({ calls: 0, failures: 0 });
    expect(reads.count).toBe(0);
    await policy.close();
  });

  it('does not call fn when the outer context already aborted', async () => {
    const policy = breaker();
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
    await policy.close();
  });

  it('a fallback function still receives the outer signal', async () => {
    const outer = new LazyAbortController();
    let fallbackSignal: AbortSignal | undefined;
    const policy = circuitBreaker({
      name: 'lazy-fallback',
      ...extra,
      fallback: ({ signal }) => {
        fallbackSignal = signal;
        return 'fb';
      },
    });
    await expect(
      policy.execute(() => Promise.reject(new Error('down')), lazyContext(outer)),
    ).resolves.toBe('fb');
    expect(fallbackSignal).toBe(outer.signal);
    await policy.close();
  });
});

describe('circuitBreaker() with timeoutMs around other policies', () => {
  it('hands them a lazy context: no signal is created unless fn reads one', async () => {
    reads = countSignalReads();
    const policy = circuitBreaker({ name: 'timed-outer', timeoutMs: 60_000 });
    const composed = pipeline(policy, timeout({ ms: 1_000 }));
    await expect(composed.execute(() => 1)).resolves.toBe(1);
    const boom = new Error('boom');
    await expect(composed.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    expect(reads.count).toBe(0);
    await expect(composed.execute(({ signal }) => signal.aborted)).resolves.toBe(false);
    expect(reads.count).toBeGreaterThan(0);
    await policy.close();
  });

  it('ends the call inside at its deadline, and fn’s signal aborts with its TimeoutError', async () => {
    const policy = circuitBreaker({ name: 'timed-outer-deadline', timeoutMs: 40 });
    let seen: AbortSignal | undefined;
    const composed = pipeline(policy, timeout({ ms: 60_000 }));
    const pending = composed.execute(({ signal }) => {
      seen = signal;
      return never();
    });
    const error = await pending.catch((caught: unknown) => caught);
    expect(isTimeoutError(error)).toBe(true);
    expect((error as Error).message).toMatch(/Circuit breaker "timed-outer-deadline" timed out/);
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBe(error);
    await policy.close();
  });
});
