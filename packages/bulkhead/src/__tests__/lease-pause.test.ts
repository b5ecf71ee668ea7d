/**
 * A holder paused past its lease (SIGSTOP, a long GC, a debugger, a blocked event loop) sees its
 * signal aborted before it can act when it resumes: reading `ctx.signal`, `signal.aborted` or
 * `signal.throwIfAborted()` checks the lease's local validity synchronously, before any timer of
 * the lease keeper has had a chance to run.
 */
import { describeWithRedis, fakeClock, redisFixture } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import {
  type BulkheadContext,
  bulkhead,
  isLeaseLostError,
  memoryStore,
  type PermitStore,
} from '../index.js';
import { redisStore } from '../redis.js';
import { deferred, flush } from './helpers.js';

/** Blocks the event loop for `ms`: in-process, what a SIGSTOP of the process looks like. */
function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: no timer, no I/O, no microtask runs
  }
}

describe('bulkhead(): a holder paused past its lease (fake clock)', () => {
  const setup = () => {
    const clock = fakeClock(1_000_000);
    const memory = memoryStore({ clock });
    /** When each renewal was sent (clock time). */
    const renewals: number[] = [];
    const store: PermitStore = {
      kind: memory.kind,
      scope(options) {
        const scope = memory.scope(options);
        const renew = scope.renew.bind(scope);
        scope.renew = (lease, ttlMs, signal) => {
          renewals.push(clock.now());
          return renew(lease, ttlMs, signal);
        };
        return scope;
      },
      close: () => memory.close(),
      [Symbol.asyncDispose]: () => memory.close(),
    };
    // Safety margin: min(100 / 4, (300 - 100) / 2) = 25 ms before the lease's local end.
    const b = bulkhead({
      name: 'db',
      maxConcurrent: 1,
      store,
      leaseTtlMs: 300,
      renewIntervalMs: 100,
      clock,
    });
    return { clock, store, b, renewals };
  };

  it('aborts signal.aborted, throwIfAborted() and ctx.signal at the first read after the pause', async () => {
    const { clock, store, b } = setup();
    let ctx: BulkheadContext | undefined;
    let signal: AbortSignal | undefined;
    const gate = deferred();
    const running = b.execute(async (c) => {
      ctx = c;
      signal = c.signal;
      await gate.promise;
    });
    await flush();
    expect(signal?.aborted).toBe(false);
    // Time passes and no timer runs: the process was stopped.
    clock.set(clock.now() + 1_000);
    expect(clock.pendingSleeps).toBeGreaterThan(0);
    expect(signal?.aborted).toBe(true);
    expect(isLeaseLostError(signal?.reason)).toBe(true);
    expect(signal?.reason).toMatchObject({ policyName: 'db', fencingToken: 1 });
    expect(() => signal?.throwIfAborted()).toThrow(signal?.reason as Error);
    expect(ctx?.signal).toBe(signal);
    gate.resolve();
    await running;
    await b.close();
    await store.close();
  });

  it('checks on throwIfAborted() and on reading ctx.signal alone, too', async () => {
    const { clock, store, b } = setup();
    const results: unknown[] = [];
    const gate = deferred();
    const running = b.execute(async (ctx) => {
      const signal = ctx.signal;
      await gate.promise;
      clock.set(clock.now() + 1_000);
      try {
        signal.throwIfAborted();
        results.push('acted');
      } catch (error) {
        results.push(error);
      }
    });
    let lateCtx: BulkheadContext | undefined;
    await flush();
    gate.resolve();
    await running;
    expect(results).toHaveLength(1);
    expect(isLeaseLostError(results[0])).toBe(true);
    await flush(); // the permit's release, in the background

    // A call that never read its signal before the pause: the first read of ctx.signal checks.
    const second = deferred();
    const runningLate = b.execute(async (ctx) => {
      lateCtx = ctx;
      await second.promise;
    });
    await flush();
    clock.set(clock.now() + 1_000);
    expect(lateCtx?.signal.aborted).toBe(true);
    second.resolve();
    await runningLate;
    await b.close();
    await store.close();
  });

  it('does not abort a lease that is still valid, nor the signal of a call that has ended', async () => {
    const { clock, store, b } = setup();
    let signal: AbortSignal | undefined;
    const gate = deferred();
    const running = b.execute(async (ctx) => {
      signal = ctx.signal;
      await gate.promise;
    });
    await flush();
    // 300 ms lease, 25 ms margin: 270 ms after the acquire it is still good.
    clock.set(clock.now() + 270);
    expect(signal?.aborted).toBe(false);
    gate.resolve();
    await running;
    // The call is over: a late read of its signal does not declare anything lost.
    clock.set(clock.now() + 10_000);
    expect(signal?.aborted).toBe(false);
    await b.close();
    await store.close();
  });

  it("the keeper's tick declares a lapsed lease lost instead of renewing it", async () => {
    const { clock, store, b, renewals } = setup();
    let signal: AbortSignal | undefined;
    const gate = deferred();
    const running = b.execute(async (ctx) => {
      signal = ctx.signal;
      await gate.promise;
    });
    await flush();
    let aborted = false;
    // Only a listener, no read: what wakes it is the keeper's own timer.
    signal?.addEventListener('abort', () => {
      aborted = true;
    });
    const resumedAt = clock.now() + 1_000;
    clock.set(resumedAt);
    // The next tick is due in at most a quarter of renewIntervalMs.
    await clock.advance(25);
    expect(aborted).toBe(true);
    // Not renewed: the store may have handed the permit on already.
    expect(renewals.filter((at) => at >= resumedAt)).toEqual([]);
    gate.resolve();
    await running;
    await b.close();
    await store.close();
  });
});

describeWithRedis('bulkhead(): a holder paused past its lease (Redis)', () => {
  const redis = redisFixture();

  it('sees its signal aborted before it can act, while the store has handed the permit on', async () => {
    const prefix = redis.uniquePrefix();
    const options = {
      name: 'db',
      maxConcurrent: 1,
      leaseTtlMs: 300,
      renewIntervalMs: 100,
      onStoreError: 'fail-closed' as const,
    };
    const storeA = redisStore({ client: redis.client, prefix, subscriber: false });
    const storeB = redisStore({ client: redis.newClient(), prefix, subscriber: false });
    const a = bulkhead({ ...options, store: storeA });
    const b = bulkhead({ ...options, store: storeB });
    const seen: { aborted: boolean; reason: unknown }[] = [];
    const resumed = deferred();
    const gate = deferred();
    const paused = a.execute(async ({ signal }) => {
      expect(signal.aborted).toBe(false);
      // Stopped for 1.5 leases: no timer of the lease keeper runs meanwhile.
      blockEventLoop(450);
      // The first thing the call does after resuming: check its signal, as it would before acting.
      seen.push({ aborted: signal.aborted, reason: signal.reason });
      resumed.resolve();
      await gate.promise;
    });
    await resumed.promise;
    // The store had let the lease expire: another replica gets the only permit.
    await expect(b.execute(({ fencingToken }) => fencingToken)).resolves.toBe(2);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.aborted).toBe(true);
    expect(isLeaseLostError(seen[0]?.reason)).toBe(true);
    expect(seen[0]?.reason).toMatchObject({ fencingToken: 1 });
    gate.resolve();
    await paused;
    await Promise.all([a.close(), b.close()]);
    await Promise.all([storeA.close(), storeB.close()]);
  });
});
