/**
 * The bulkhead declares its context's fields under core's `CONTEXT_FIELDS`, and `pipeline()`
 * copies exactly those: every path of `execute` must hand `fn` a context with these fields and no
 * other enumerable one, or a pipeline would drop (or leak) a field.
 */
import {
  CONTEXT_FIELDS,
  type ExecutionContext,
  LazyAbortController,
  lazyContext,
} from '@breakwater/core';
import { describe, expect, it } from 'vitest';
import { adaptive, bulkhead, memoryStore } from '../index.js';

const fieldsOf = (ctx: ExecutionContext) => Object.keys(ctx).filter((key) => key !== 'signal');

describe('bulkhead context fields', () => {
  it('every path hands fn exactly the declared fields', async () => {
    const store = memoryStore();
    const local = bulkhead({ maxConcurrent: 1, maxQueue: 10 });
    const classes = bulkhead({
      maxConcurrent: 2,
      maxQueue: 10,
      classes: { high: { reserved: 1 }, low: {} },
    });
    const fleet = bulkhead({ name: 'ctx-fields', maxConcurrent: 2, maxQueue: 10, store });
    const tuned = bulkhead({ limit: adaptive({ initial: 2, min: 1, max: 4 }), maxQueue: 5 });
    const signal = new AbortController().signal;
    const seen: string[][] = [];
    const record = (ctx: ExecutionContext) => {
      seen.push(fieldsOf(ctx));
      return 1;
    };
    // A call that waits in the queue behind a running one.
    let release = () => {};
    const running = local.execute(() => new Promise<void>((resolve) => (release = resolve)));
    const queued = local.execute(record, { signal });
    release();
    await Promise.all([
      running,
      queued,
      local.execute(record),
      local.execute(record, { signal }),
      // Under an outer policy's lazy context (inside a pipeline).
      local.execute(record, lazyContext(new LazyAbortController())),
      classes.execute(record, { priority: 'high' }),
      fleet.execute(record),
      fleet.execute(record, { signal }),
      tuned.execute(record),
    ]);
    expect(seen).toHaveLength(8);
    for (const fields of seen) expect(fields).toEqual(local[CONTEXT_FIELDS]);
    expect(local[CONTEXT_FIELDS]).toEqual(['fencingToken']);
    await Promise.all([local, classes, fleet, tuned].map((policy) => policy.close()));
    await store.close();
  });
});
