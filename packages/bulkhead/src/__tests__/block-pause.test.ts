/**
 * `permitQuota` with a process paused past its block's lease (SIGSTOP, a long GC, a blocked event
 * loop): when it resumes, before any timer of the lease keeper has run, the calls under the block
 * see their signals aborted at their first read, and a call arriving then is not served from the
 * lapsed block (the store may have handed its permits on) but takes a new one.
 */
import { fakeClock } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import { type BulkheadContext, bulkhead, isLeaseLostError, memoryStore } from '../index.js';
import { deferred, flush } from './helpers.js';

describe('permitQuota: a replica paused past its block lease (fake clock)', () => {
  const setup = () => {
    const clock = fakeClock(1_000_000);
    const store = memoryStore({ clock });
    // Safety margin: min(100 / 4, (300 - 100) / 2) = 25 ms before the lease's local end.
    const b = bulkhead({
      name: 'db',
      maxConcurrent: 4,
      permitQuota: 4,
      store,
      leaseTtlMs: 300,
      renewIntervalMs: 100,
      clock,
    });
    return { clock, store, b };
  };

  it('aborts the signals of the calls under the block at their first read after the pause', async () => {
    const { clock, store, b } = setup();
    const contexts: BulkheadContext[] = [];
    const gate = deferred();
    const running = [0, 1].map(() =>
      b.execute(async (ctx) => {
        contexts.push(ctx);
        await gate.promise;
      }),
    );
    await flush();
    // Both calls run under one block: one lease, one token.
    expect(contexts.map((ctx) => ctx.fencingToken)).toEqual([1, 1]);
    expect(contexts[0]!.signal.aborted).toBe(false);
    // Time passes and no timer runs: the process was stopped.
    clock.set(clock.now() + 1_000);
    expect(clock.pendingSleeps).toBeGreaterThan(0);
    // The first read aborts every call of the block, the one that never read its signal too.
    expect(contexts[0]!.signal.aborted).toBe(true);
    expect(isLeaseLostError(contexts[0]!.signal.reason)).toBe(true);
    expect(contexts[0]!.signal.reason).toMatchObject({ policyName: 'db', fencingToken: 1 });
    expect(contexts[1]!.signal.aborted).toBe(true);
    gate.resolve();
    await Promise.all(running);
    await b.close();
    await store.close();
  });

  it('serves a call arriving after the pause from a new block, not from the lapsed one', async () => {
    const { clock, store, b } = setup();
    let paused: BulkheadContext | undefined;
    const gate = deferred();
    // The block has room for more calls: only its lapse may keep the next call off it.
    const running = b.execute(async (ctx) => {
      paused = ctx;
      await gate.promise;
    });
    await flush();
    expect(paused?.fencingToken).toBe(1);
    clock.set(clock.now() + 1_000);
    // Nothing read the paused call's signal: the arriving call is the first to meet the lapse.
    const seen = await b.execute(({ signal, fencingToken }) => ({
      aborted: signal.aborted,
      fencingToken,
    }));
    expect(seen).toEqual({ aborted: false, fencingToken: 2 });
    // The lapsed block was declared lost on the way: its running call is aborted.
    expect(paused?.signal.aborted).toBe(true);
    expect(paused?.signal.reason).toMatchObject({ fencingToken: 1 });
    gate.resolve();
    await running;
    await b.close();
    await store.close();
  });
});
