/**
 * `pipeline()` merges contexts two ways: by the fields a policy declares under `CONTEXT_FIELDS`
 * (copied by name, the fast path) and by enumerating a context whose policy declares nothing (the
 * general path). Both must hand `fn` the same context, whatever mix of declared and undeclared,
 * lazy and eager, fielded and bare layers a pipeline holds, nested or not.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONTEXT_FIELDS,
  type ExecuteOptions,
  type ExecutionContext,
  LazyAbortController,
  LazyExecutionContext,
  lazyAbortSourceOf,
  type Policy,
  pipeline,
} from '../index.js';

/** A layer: the fields its context carries beyond `signal`, and how it makes that context. */
interface LayerSpec {
  readonly fields: readonly string[];
  /** A lazy context (a `LazyExecutionContext` of its own controller) or a plain object. */
  readonly lazy: boolean;
  /** Whether the policy declares its fields under `CONTEXT_FIELDS`. */
  readonly declares: boolean;
}

/** A context of `LazyExecutionContext`'s kind with fields of its own, as retry's attempts are. */
class FieldedLazyContext extends LazyExecutionContext {
  constructor(controller: LazyAbortController, values: Record<string, unknown>) {
    super(controller);
    Object.assign(this, values);
  }
}

/** A policy whose context holds its fields with values that say which layer set them. */
function layerOf(spec: LayerSpec, index: number, declares: boolean): Policy {
  const values: Record<string, unknown> = {};
  for (const field of spec.fields) values[field] = `${field}@${index}`;
  const policy: Policy = {
    execute<T>(fn: (ctx: ExecutionContext) => T | PromiseLike<T>, options?: ExecuteOptions) {
      const outer = lazyAbortSourceOf(options);
      const ctx = spec.lazy
        ? new FieldedLazyContext(outer ?? new LazyAbortController(), values)
        : { signal: options?.signal ?? new AbortController().signal, ...values };
      return Promise.resolve(fn(ctx));
    },
  };
  return declares ? { ...policy, [CONTEXT_FIELDS]: spec.fields } : policy;
}

/** What `fn` saw: its own enumerable fields (sorted by name) and whether its signal was lazy. */
async function contextSeen(policies: readonly Policy[], nested: boolean): Promise<unknown> {
  const composed =
    nested && policies.length > 2
      ? pipeline(policies[0]!, pipeline(...policies.slice(1)))
      : pipeline(...policies);
  return composed.execute((ctx) => {
    const fields = Object.entries(ctx).sort(([a], [b]) => a.localeCompare(b));
    return {
      fields: fields.filter(([key]) => key !== 'signal'),
      lazySignal: lazyAbortSourceOf(ctx) !== undefined,
      aborted: ctx.signal.aborted,
    };
  });
}

const layerSpecs = fc.record({
  fields: fc.uniqueArray(fc.constantFrom('attempt', 'fencingToken', 'hedge', 'tenant'), {
    maxLength: 3,
  }),
  lazy: fc.boolean(),
  declares: fc.boolean(),
});

describe('pipeline() merging declared context fields', () => {
  it('hands fn the same context as enumerating every layer’s context', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(layerSpecs, { minLength: 2, maxLength: 5 }),
        fc.boolean(),
        async (specs, nested) => {
          const declared = specs.map((spec, index) => layerOf(spec, index, spec.declares));
          const enumerated = specs.map((spec, index) => layerOf(spec, index, false));
          expect(await contextSeen(declared, nested)).toEqual(
            await contextSeen(enumerated, nested),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('copies only the declared fields of a context that has more', async () => {
    const leaky: Policy = {
      [CONTEXT_FIELDS]: ['attempt'],
      execute: (fn) =>
        Promise.resolve(fn({ signal: new AbortController().signal, attempt: 1 } as never)),
    };
    const innerWithExtra: Policy = {
      [CONTEXT_FIELDS]: ['fencingToken'],
      execute: (fn, options) =>
        Promise.resolve(
          fn({ signal: options?.signal as AbortSignal, fencingToken: 7, internal: 'x' } as never),
        ),
    };
    const seen = await pipeline(leaky, innerWithExtra).execute((ctx) => ({ ...ctx }));
    expect(seen).toEqual({ signal: expect.any(AbortSignal), attempt: 1, fencingToken: 7 });
  });

  it('ignores a declaration that is not a list of field names', async () => {
    const odd: Policy = {
      [CONTEXT_FIELDS]: ['signal'] as never,
      execute: (fn) =>
        Promise.resolve(fn({ signal: new AbortController().signal, attempt: 2 } as never)),
    };
    const bare: Policy = {
      execute: (fn) => Promise.resolve(fn({ signal: new AbortController().signal })),
    };
    const seen = await pipeline(odd, bare).execute((ctx) => ({ ...ctx }));
    expect(seen).toMatchObject({ attempt: 2 });
  });

  it('a pipeline declares the union of its layers’ fields, or nothing if one layer declares none', () => {
    const declaring = (fields: string[]): Policy => ({
      [CONTEXT_FIELDS]: fields,
      execute: (fn) => Promise.resolve(fn({ signal: new AbortController().signal })),
    });
    const silent: Policy = {
      execute: (fn) => Promise.resolve(fn({ signal: new AbortController().signal })),
    };
    expect(
      pipeline(declaring(['attempt']), declaring(['fencingToken', 'attempt']))[CONTEXT_FIELDS],
    ).toEqual(['attempt', 'fencingToken']);
    expect(pipeline(declaring(['attempt']), silent)[CONTEXT_FIELDS]).toBeUndefined();
    expect(pipeline()[CONTEXT_FIELDS]).toEqual([]);
  });
});
