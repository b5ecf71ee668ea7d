/**
 * The breaker declares under core's `CONTEXT_FIELDS` that its context has nothing beyond
 * `signal`, so `pipeline()` merges nothing from it: every way a breaker runs `fn` (plain, under a
 * caller's signal, under `timeoutMs`, under an outer policy's lazy context, as a half-open probe)
 * must hand `fn` a context with no other enumerable field.
 */
import { CONTEXT_FIELDS, type ExecutionContext, pipeline, timeout } from '@breakwater/core';
import { fakeClock } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import { circuitBreaker } from '../index.js';

const fieldsOf = (ctx: ExecutionContext) => Object.keys(ctx).filter((key) => key !== 'signal');

describe('circuit breaker context fields', () => {
  it('every path hands fn a context with nothing beyond signal', async () => {
    const clock = fakeClock();
    const plain = circuitBreaker({ name: 'ctx-plain', clock });
    const timed = circuitBreaker({ name: 'ctx-timed', timeoutMs: 5_000 });
    const tripping = circuitBreaker({
      name: 'ctx-probe',
      clock,
      consecutiveFailures: 1,
      breakDurationMs: 1_000,
    });
    const seen: string[][] = [];
    const record = (ctx: ExecutionContext) => {
      seen.push(fieldsOf(ctx));
      return 1;
    };
    await plain.execute(record);
    await plain.execute(record, { signal: new AbortController().signal });
    await timed.execute(record);
    await pipeline(timeout({ ms: 5_000 }), plain).execute(record);
    await tripping.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
    expect(tripping.state).toBe('open');
    await clock.advance(tripping.stats().retryAfterMs ?? 0);
    await tripping.execute(record);
    expect(seen).toHaveLength(5);
    for (const fields of seen) expect(fields).toEqual([]);
    expect(plain[CONTEXT_FIELDS]).toEqual([]);
    // Inside a pipeline, a timed call's context contributes nothing but its signal.
    const tenant = {
      [CONTEXT_FIELDS]: ['tenant'],
      execute: <T>(fn: (ctx: ExecutionContext & { tenant: string }) => T | PromiseLike<T>) =>
        Promise.resolve(fn({ signal: new AbortController().signal, tenant: 'a' })),
    };
    const merged = await pipeline(tenant, timed).execute((ctx) => fieldsOf(ctx));
    expect(merged).toEqual(['tenant']);
    await Promise.all([plain, timed, tripping].map((breaker) => breaker.close()));
  });
});
