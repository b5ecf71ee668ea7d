import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type ExecuteOptions,
  type ExecutionContext,
  fallback,
  neverAbortedSignal,
  type OptionsOf,
  type PipelineOptions,
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

/**
 * A policy with per-call options of its own, typed as the patterns type theirs (a `Policy` whose
 * `execute` takes richer options), that records the options each call received.
 */
function withOptions<O extends ExecuteOptions>(
  seen: (O | undefined)[],
): Policy & {
  execute<T>(fn: (ctx: ExecutionContext) => T | PromiseLike<T>, options?: O): Promise<T>;
} {
  return {
    async execute<T>(fn: (ctx: ExecutionContext) => T | PromiseLike<T>, options?: O) {
      seen.push(options);
      const signal = options?.signal ?? new AbortController().signal;
      return fn({ signal });
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

  it('hands the caller’s options to every policy, each inner one with the signal around it', async () => {
    const outer: ({ key?: string; signal?: AbortSignal } | undefined)[] = [];
    const middle: ({ priority?: string; signal?: AbortSignal } | undefined)[] = [];
    const inner: ({ key?: string; signal?: AbortSignal } | undefined)[] = [];
    const composed = pipeline(
      withOptions<ExecuteOptions & { key?: string }>(outer),
      timeout({ ms: 1_000 }),
      withOptions<ExecuteOptions & { priority?: string }>(middle),
      withOptions<ExecuteOptions & { key?: string }>(inner),
    );
    const controller = new AbortController();
    const options = { signal: controller.signal, key: 'tenant-42', priority: 'batch' };
    let innermost: AbortSignal | undefined;
    await composed.execute(({ signal }) => {
      innermost = signal;
    }, options);
    // The outermost policy gets the caller's options as they are.
    expect(outer).toEqual([options]);
    // The others get every field, and the signal of the policy around them (the timeout's, which
    // follows the caller's), not the caller's own.
    for (const seen of [middle, inner]) {
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ key: 'tenant-42', priority: 'batch' });
      expect(seen[0]!.signal).toBeInstanceOf(AbortSignal);
      expect(seen[0]!.signal).not.toBe(controller.signal);
    }
    expect(inner[0]!.signal).toBe(innermost);
  });

  it('without fields beyond signal, hands each inner policy the context around it', async () => {
    const seen: (ExecuteOptions | undefined)[] = [];
    let outerContext: ExecutionContext | undefined;
    const recording: Policy = {
      async execute(fn, options) {
        outerContext = { signal: options?.signal ?? new AbortController().signal };
        return fn(outerContext);
      },
    };
    await pipeline(recording, withOptions(seen)).execute(() => 1, {
      signal: new AbortController().signal,
    });
    // No copy is made: the options are the outer context itself, so a lazily created signal stays
    // lazy until the inner policy reads it.
    expect(seen[0]).toBe(outerContext);
  });

  describe('keeps lazily created signals lazy', () => {
    /** Counts the AbortControllers created while `run` runs. */
    async function controllersCreatedBy(run: () => Promise<unknown>): Promise<number> {
      const Original = globalThis.AbortController;
      let created = 0;
      globalThis.AbortController = class extends Original {
        constructor() {
          super();
          created++;
        }
      };
      try {
        await run();
      } finally {
        globalThis.AbortController = Original;
      }
      return created;
    }

    /** Resolves with `value`, or rejects with the reason once `signal` aborts. */
    const honouring = (signal: AbortSignal) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));

    it('merging a timeout’s context with fields around it reads no signal', async () => {
      const caller = new AbortController();
      const composed = pipeline(tracing('attempt', []), timeout({ ms: 1_000 }));
      const options = { signal: caller.signal };
      expect(
        await controllersCreatedBy(() => composed.execute((ctx) => ctx.attempt, options)),
      ).toBe(0);
      let seen: AbortSignal | undefined;
      const created = await controllersCreatedBy(() =>
        composed.execute((ctx) => {
          seen = ctx.signal;
          return ctx.attempt;
        }, options),
      );
      expect(created).toBe(1);
      // The merged context's signal is the timeout's: it aborts when time is up.
      const short = pipeline(tracing('attempt', []), timeout({ ms: 5 }));
      const error = await short
        .execute((ctx) => (ctx.attempt === 7 ? honouring(ctx.signal) : 0), options)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TimeoutError);
      expect(seen).toBeInstanceOf(AbortSignal);
      expect(seen!.aborted).toBe(false);
    });

    it('the caller’s other options reach an inner timeout without reading the outer signal', async () => {
      const options = { key: 'tenant-42' } as ExecuteOptions;
      const composed = pipeline(timeout({ ms: 1_000 }), timeout({ ms: 1_000 }));
      expect(await controllersCreatedBy(() => composed.execute(() => 1, options))).toBe(0);
      // The outer timeout still reaches fn through the inner one.
      const outerFirst = pipeline(timeout({ ms: 5, name: 'outer' }), timeout({ ms: 1_000 }));
      const error = await outerFirst
        .execute(({ signal }) => honouring(signal), options)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error).toMatchObject({ policyName: 'outer' });
    });
  });

  it('hands the innermost policy fn itself when no context around it has fields to merge', async () => {
    const received: unknown[] = [];
    const recording: Policy = {
      execute(fn) {
        received.push(fn);
        return Promise.resolve(fn({ signal: neverAbortedSignal() }));
      },
    };
    const withField: Policy<ExecutionContext & { attempt: number }> = {
      async execute(fn) {
        return fn({ signal: neverAbortedSignal(), attempt: 1 });
      },
    };
    const fn = (ctx: ExecutionContext) => ctx;
    await pipeline(timeout({ ms: 1_000 }), recording).execute(fn);
    expect(received[0]).toBe(fn);
    // With a field to merge, the innermost policy calls a step that merges it for fn.
    const merged = await pipeline(withField, recording).execute(fn);
    expect(received[1]).not.toBe(fn);
    expect(merged).toMatchObject({ attempt: 1 });
  });

  it('hands an inner policy no options when the context around it holds only the never-aborted signal', async () => {
    const seen: (ExecuteOptions | undefined)[] = [];
    const idle: Policy = {
      async execute(fn) {
        return fn({ signal: neverAbortedSignal() });
      },
    };
    const withField: Policy<ExecutionContext & { attempt: number }> = {
      async execute(fn) {
        return fn({ signal: neverAbortedSignal(), attempt: 1 });
      },
    };
    await pipeline(idle, withOptions(seen)).execute(() => 1);
    await pipeline(withField, withOptions(seen)).execute(() => 1);
    expect(seen[0]).toBeUndefined();
    // A context with fields of its own is still handed on as it is.
    expect(seen[1]).toMatchObject({ attempt: 1 });
  });

  it('types its options as the union of every policy’s options', () => {
    const a = withOptions<ExecuteOptions & { key?: string; cost?: number }>([]);
    const b = withOptions<ExecuteOptions & { priority?: string }>([]);
    expectTypeOf<OptionsOf<typeof a>>().toEqualTypeOf<
      ExecuteOptions & { key?: string; cost?: number }
    >();
    expectTypeOf<OptionsOf<ReturnType<typeof timeout>>>().toEqualTypeOf<ExecuteOptions>();
    type Both = PipelineOptions<[typeof a, typeof b]>;
    expectTypeOf<{ key: string; cost: number; priority: string }>().toMatchTypeOf<Both>();
    const composed = pipeline(a, timeout({ ms: 10 }), b);
    // @ts-expect-error: no policy of the pipeline has this option
    void composed.execute(() => 1, { bogus: true });
    expectTypeOf(composed.execute<number>)
      .parameter(1)
      .toEqualTypeOf<
        PipelineOptions<[typeof a, ReturnType<typeof timeout>, typeof b]> | undefined
      >();
  });
});
