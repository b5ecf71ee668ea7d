import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type ExecuteOptions,
  type ExecutionContext,
  fallback,
  type Policy,
  pipeline,
  TimeoutError,
  timeout,
} from '../index.js';
import { abortListeners } from './leaks.js';

/** A policy that logs around the call and adds a field to the context, like retry's `attempt`. */
function tracing<const N extends string>(
  label: N,
  log: string[],
): Policy<ExecutionContext & { [K in N]: number }> {
  return {
    async execute<T>(
      fn: (ctx: ExecutionContext & { [K in N]: number }) => T | PromiseLike<T>,
      options?: ExecuteOptions,
    ): Promise<T> {
      log.push(`enter ${label}`);
      const signal = options?.signal ?? new AbortController().signal;
      try {
        return await fn({ signal, [label]: label.length } as ExecutionContext & {
          [K in N]: number;
        });
      } finally {
        log.push(`leave ${label}`);
      }
    },
  };
}

describe('pipeline()', () => {
  it('runs policies outermost first', async () => {
    const log: string[] = [];
    const composed = pipeline(tracing('outer', log), tracing('middle', log), tracing('inner', log));
    await composed.execute(() => log.push('fn'));
    expect(log).toEqual([
      'enter outer',
      'enter middle',
      'enter inner',
      'fn',
      'leave inner',
      'leave middle',
      'leave outer',
    ]);
  });

  it('gives fn the merged context of every policy, fully typed', async () => {
    const composed = pipeline(tracing('attempt', []), timeout({ ms: 100 }), tracing('lease', []));
    const seen = await composed.execute((ctx) => {
      expectTypeOf(ctx.attempt).toEqualTypeOf<number>();
      expectTypeOf(ctx.lease).toEqualTypeOf<number>();
      expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
      return { attempt: ctx.attempt, lease: ctx.lease, signal: ctx.signal };
    });
    expect(seen.attempt).toBe('attempt'.length);
    expect(seen.lease).toBe('lease'.length);
  });

  it('types the result as fn’s result plus every fallback’s value', async () => {
    const composed = pipeline(fallback({ value: 'fallback' as const }), timeout({ ms: 100 }));
    const result = await composed.execute(async () => 1);
    expectTypeOf(result).toEqualTypeOf<number | 'fallback'>();
    expect(result).toBe(1);
    // @ts-expect-error a pipeline only accepts policies
    expect(() => pipeline(timeout({ ms: 1 }), {})).toThrow(
      'Expected `policies[1]` to be a policy with an execute() method',
    );
  });

  it('a timeout inside a fallback is answered by the fallback', async () => {
    const composed = pipeline(fallback({ value: 'queued' }), timeout({ ms: 5 }));
    await expect(
      composed.execute(
        ({ signal }) =>
          new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      ),
    ).resolves.toBe('queued');
  });

  it('a fallback inside a timeout cannot hide the timeout', async () => {
    const composed = pipeline(timeout({ ms: 5, strategy: 'aggressive' }), fallback({ value: 0 }));
    await expect(composed.execute(() => new Promise(() => {}))).rejects.toBeInstanceOf(
      TimeoutError,
    );
  });

  it('an abort from outside reaches the innermost fn and rejects with signal.reason', async () => {
    const controller = new AbortController();
    const reason = new Error('client disconnected');
    let innermost: AbortSignal | undefined;
    const composed = pipeline(
      fallback({ value: 'never used for aborts' }),
      timeout({ ms: 1_000 }),
      tracing('inner', []),
    );
    const pending = composed.execute(
      ({ signal }) => {
        innermost = signal;
        return new Promise(() => {});
      },
      { signal: controller.signal },
    );
    await Promise.resolve();
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(innermost?.aborted).toBe(true);
    expect(innermost?.reason).toBe(reason);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('with one policy returns it; with none runs fn directly', async () => {
    const only = timeout({ ms: 10 });
    expect(pipeline(only)).toBe(only);
    await expect(pipeline().execute(({ signal }) => signal.aborted)).resolves.toBe(false);
    const controller = new AbortController();
    controller.abort(new Error('early'));
    await expect(pipeline().execute(() => 1, { signal: controller.signal })).rejects.toThrow(
      'early',
    );
  });

  it('pipelines nest', async () => {
    const log: string[] = [];
    const inner = pipeline(tracing('b', log), tracing('c', log));
    await pipeline(tracing('a', log), inner).execute(() => log.push('fn'));
    expect(log).toEqual(['enter a', 'enter b', 'enter c', 'fn', 'leave c', 'leave b', 'leave a']);
  });
});
