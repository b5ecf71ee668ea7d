/**
 * Retry declares its context's fields under core's `CONTEXT_FIELDS`, and `pipeline()` copies
 * exactly those: every attempt, alone or under an outer policy's lazy context, must hand `fn` a
 * context with these fields and no other enumerable one.
 */
import { CONTEXT_FIELDS, type ExecutionContext, pipeline, timeout } from '@breakwater/core';
import { describe, expect, it } from 'vitest';
import { constant, retry } from '../index.js';

const fieldsOf = (ctx: ExecutionContext) => Object.keys(ctx).filter((key) => key !== 'signal');

describe('retry context fields', () => {
  it('every attempt hands fn exactly the declared fields', async () => {
    const policy = retry({ maxAttempts: 3, backoff: constant({ delayMs: 0 }) });
    const seen: string[][] = [];
    const failTwice = () => {
      let calls = 0;
      return (ctx: ExecutionContext) => {
        seen.push(fieldsOf(ctx));
        if (++calls < 3) throw new Error('again');
        return 'ok';
      };
    };
    await policy.execute(failTwice());
    await policy.execute(failTwice(), { signal: new AbortController().signal });
    // Under a timeout, the attempts follow its lazy context.
    await pipeline(timeout({ ms: 5_000 }), policy).execute(failTwice());
    expect(seen).toHaveLength(9);
    for (const fields of seen) expect(fields).toEqual(policy[CONTEXT_FIELDS]);
    expect(policy[CONTEXT_FIELDS]).toEqual(['attempt']);
  });
});
