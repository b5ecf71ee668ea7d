import { describe, expect, expectTypeOf, it } from 'vitest';
import { fallback, isTimeoutError, TimeoutError } from '../index.js';
import { abortListeners } from './leaks.js';

describe('fallback()', () => {
  it('returns the fallback value on a handled error', async () => {
    const policy = fallback({ value: 'cached' });
    const result = await policy.execute((): Promise<number> => Promise.reject(new Error('down')));
    expectTypeOf(result).toEqualTypeOf<number | string>();
    expect(result).toBe('cached');
  });

  it('passes successful results through and does not call the handler', async () => {
    let calls = 0;
    const policy = fallback({
      handler: () => {
        calls++;
        return 0;
      },
    });
    await expect(policy.execute(() => 7)).resolves.toBe(7);
    expect(calls).toBe(0);
  });

  it('gives the handler the error and the signal; handles synchronous throws', async () => {
    const boom = new Error('boom');
    const policy = fallback({
      handler: async ({ error, signal }) => `${(error as Error).message}/${signal.aborted}`,
    });
    await expect(
      policy.execute(() => {
        throw boom;
      }),
    ).resolves.toBe('boom/false');
  });

  it('lets unhandled errors through', async () => {
    const policy = fallback({ value: 0, shouldHandle: isTimeoutError });
    const other = new Error('other');
    await expect(policy.execute(() => Promise.reject(other))).rejects.toBe(other);
    await expect(
      policy.execute(() =>
        Promise.reject(new TimeoutError('t', { policyName: 'x', timeoutMs: 1 })),
      ),
    ).resolves.toBe(0);
  });

  it('surfaces an error thrown by shouldHandle or the handler', async () => {
    const bad = fallback({
      value: 0,
      shouldHandle: () => {
        throw new Error('predicate broke');
      },
    });
    await expect(bad.execute(() => Promise.reject(new Error('x')))).rejects.toThrow(
      'predicate broke',
    );
    const badHandler = fallback({
      handler: () => {
        throw new Error('handler broke');
      },
    });
    await expect(badHandler.execute(() => Promise.reject(new Error('x')))).rejects.toThrow(
      'handler broke',
    );
  });

  it('never answers a call the caller aborted: rejects at once with signal.reason', async () => {
    const controller = new AbortController();
    const reason = new Error('caller left');
    const pending = fallback({ value: 'nope' }).execute(() => new Promise<string>(() => {}), {
      signal: controller.signal,
    });
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('removes its abort listener after every call', async () => {
    const controller = new AbortController();
    const policy = fallback({ value: 1 });
    await policy.execute(() => 2, { signal: controller.signal });
    await policy.execute(() => Promise.reject(new Error('x')), { signal: controller.signal });
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('rejects bad options, naming the option and the value', () => {
    expect(() => fallback({ handler: 42 as unknown as () => number })).toThrow(
      'Expected `handler` to be a function, got 42',
    );
    expect(() => fallback({} as { value: number })).toThrow('Expected `handler` to be a function');
    expect(() => fallback({ value: 1, shouldHandle: 'yes' as unknown as () => boolean })).toThrow(
      'Expected `shouldHandle` to be a function, got "yes"',
    );
    expect(() => fallback({ value: 1, handler: () => 2 } as unknown as { value: number })).toThrow(
      'got both',
    );
  });
});
