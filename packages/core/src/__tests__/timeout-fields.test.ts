/**
 * `timeout()` declares under `CONTEXT_FIELDS` that its context has nothing beyond `signal`: every
 * path (cooperative, aggressive, under a caller's signal, under an outer timeout) must hand `fn`
 * a context with no other enumerable field.
 */
import { describe, expect, it } from 'vitest';
import { CONTEXT_FIELDS, type ExecutionContext, pipeline, timeout } from '../index.js';

const fieldsOf = (ctx: ExecutionContext) => Object.keys(ctx).filter((key) => key !== 'signal');

describe('timeout() context fields', () => {
  it('every path hands fn a context with nothing beyond signal', async () => {
    const cooperative = timeout({ ms: 5_000 });
    const aggressive = timeout({ ms: 5_000, strategy: 'aggressive' });
    const seen: string[][] = [];
    const record = (ctx: ExecutionContext) => {
      seen.push(fieldsOf(ctx));
      return 1;
    };
    await cooperative.execute(record);
    await aggressive.execute(record);
    await cooperative.execute(record, { signal: new AbortController().signal });
    await pipeline(timeout({ ms: 1_000 }), cooperative).execute(record);
    expect(seen).toHaveLength(4);
    for (const fields of seen) expect(fields).toEqual([]);
    expect(cooperative[CONTEXT_FIELDS]).toEqual([]);
  });
});
