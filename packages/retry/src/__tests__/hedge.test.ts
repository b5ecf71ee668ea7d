import { pipeline } from '@breakwater/core';
import { fakeClock, installOtel } from '@breakwater/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  constant,
  type HedgeContext,
  hedge,
  isHedgeLostError,
  METRIC_HEDGE_WINS,
  METRIC_HEDGES,
  retry,
} from '../index.js';
import { abortListeners, flush } from './helpers.js';

/** An attempt that settles when the test says so, recording how its signal ended. */
interface Controlled {
  ctx: HedgeContext;
  succeed(value: string): void;
  fail(error: unknown): void;
}

function controlledAttempts() {
  const attempts: Controlled[] = [];
  const fn = (ctx: HedgeContext) =>
    new Promise<string>((resolve, reject) => {
      attempts.push({ ctx, succeed: resolve, fail: reject });
    });
  return { attempts, fn };
}

describe('hedge()', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(async () => {
    await flush();
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  it('does not hedge a call that finishes within delayMs, and leaves no sleep behind', async () => {
    const clock = fakeClock();
    const { attempts, fn } = controlledAttempts();
    const result = hedge({ delayMs: 100, clock }).execute(fn);
    await clock.advance(50);
    attempts[0]!.succeed('primary');
    await expect(result).resolves.toBe('primary');
    expect(attempts).toHaveLength(1);
    expect(clock.pendingSleeps).toBe(0);
  });

  it('starts a hedge after delayMs; the first success wins and the loser is aborted', async () => {
    const clock = fakeClock();
    const { attempts, fn } = controlledAttempts();
    const result = hedge({ delayMs: 100, clock }).execute(fn);
    await clock.advance(99);
    expect(attempts).toHaveLength(1);
    await clock.advance(1);
    expect(attempts.map((a) => a.ctx.hedge)).toEqual([0, 1]);
    attempts[1]!.succeed('hedge');
    await expect(result).resolves.toBe('hedge');
    const primary = attempts[0]!.ctx.signal;
    expect(primary.aborted).toBe(true);
    expect(isHedgeLostError(primary.reason)).toBe(true);
    expect(primary.reason).toMatchObject({ winner: 1 });
    expect(attempts[1]!.ctx.signal.aborted).toBe(false);
    // The loser rejecting late (as an aborted fetch would) is swallowed.
    attempts[0]!.fail(primary.reason);
    attempts[0]!.succeed('too late');
  });

  it('the primary can still win after a hedge started', async () => {
    const clock = fakeClock();
    const { attempts, fn } = controlledAttempts();
    const result = hedge({ delayMs: 10, clock }).execute(fn);
    await clock.advance(10);
    attempts[0]!.succeed('primary');
    await expect(result).resolves.toBe('primary');
    expect(attempts[1]!.ctx.signal.aborted).toBe(true);
  });

  it('a failed attempt starts the next hedge at once; all failing rejects with the last error', async () => {
    const clock = fakeClock();
    const { attempts, fn } = controlledAttempts();
    const result = hedge({ delayMs: 1_000, maxHedges: 2, clock }).execute(fn);
    result.catch(() => {});
    attempts[0]!.fail(new Error('first'));
    await flush();
    expect(attempts).toHaveLength(2);
    expect(clock.now()).toBe(0);
    attempts[1]!.fail(new Error('second'));
    await flush();
    expect(attempts).toHaveLength(3);
    attempts[2]!.fail(new Error('third'));
    await expect(result).rejects.toThrow('third');
    expect(clock.pendingSleeps).toBe(0);
  });

  it('a failure with others still running waits for them', async () => {
    const clock = fakeClock();
    const { attempts, fn } = controlledAttempts();
    const result = hedge({ delayMs: 10, clock }).execute(fn);
    await clock.advance(10);
    attempts[1]!.fail(new Error('hedge failed'));
    await flush();
    attempts[0]!.succeed('primary');
    await expect(result).resolves.toBe('primary');
  });

  it('hedges at delayMs intervals up to maxHedges', async () => {
    const clock = fakeClock();
    const { attempts, fn } = controlledAttempts();
    const starts: number[] = [];
    const result = hedge({ delayMs: 100, maxHedges: 3, clock }).execute((ctx) => {
      starts.push(clock.now());
      return fn(ctx);
    });
    await clock.advance(1_000);
    expect(starts).toEqual([0, 100, 200, 300]);
    attempts[2]!.succeed('third');
    await expect(result).resolves.toBe('third');
    expect(attempts.filter((a) => a.ctx.signal.aborted).map((a) => a.ctx.hedge)).toEqual([0, 1, 3]);
  });

  it('delayMs 0 starts every attempt at once', async () => {
    const { attempts, fn } = controlledAttempts();
    const result = hedge({ delayMs: 0, maxHedges: 2 }).execute(fn);
    expect(attempts).toHaveLength(3);
    attempts[1]!.succeed('b');
    await expect(result).resolves.toBe('b');
  });

  it('handles synchronous throws and plain values', async () => {
    const policy = hedge({ delayMs: 0, maxHedges: 1 });
    await expect(policy.execute(({ hedge: n }) => (n === 0 ? 'sync' : 'other'))).resolves.toBe(
      'sync',
    );
    await expect(
      policy.execute(({ hedge: n }) => {
        throw new Error(`sync ${n}`);
      }),
    ).rejects.toThrow('sync 1');
  });

  it('a caller abort rejects at once with its reason and aborts every attempt', async () => {
    const clock = fakeClock();
    const controller = new AbortController();
    const { attempts, fn } = controlledAttempts();
    const result = hedge({ delayMs: 10, clock }).execute(fn, { signal: controller.signal });
    await clock.advance(10);
    controller.abort('stop');
    await expect(result).rejects.toBe('stop');
    expect(attempts.map((a) => a.ctx.signal.reason)).toEqual(['stop', 'stop']);
    expect(abortListeners(controller.signal)).toBe(0);
    expect(clock.pendingSleeps).toBe(0);
    attempts[0]!.fail(new Error('late'));
  });

  it('rejects at once on an already aborted signal, and removes its listeners after a win', async () => {
    await expect(
      hedge({ delayMs: 1 }).execute(() => 1, { signal: AbortSignal.abort('early') }),
    ).rejects.toBe('early');
    const controller = new AbortController();
    await hedge({ delayMs: 0, maxHedges: 2 }).execute(() => 'x', { signal: controller.signal });
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('counts hedges and hedge wins', async () => {
    const otel = installOtel();
    try {
      const clock = fakeClock();
      const { attempts, fn } = controlledAttempts();
      const result = hedge({ delayMs: 5, maxHedges: 2, clock, name: 'search' }).execute(fn);
      await clock.advance(10);
      attempts[2]!.succeed('late hedge');
      await result;
      expect(await otel.sum(METRIC_HEDGES)).toBe(2);
      expect(await otel.sum(METRIC_HEDGE_WINS)).toBe(1);
    } finally {
      await otel.uninstall();
    }
  });

  it('validates options', () => {
    expect(() => hedge({ delayMs: -1 })).toThrow(
      'Expected `delayMs` to be a finite number >= 0, got -1',
    );
    expect(() => hedge({ delayMs: 1, maxHedges: 0 })).toThrow(
      'Expected `maxHedges` to be an integer >= 1, got 0',
    );
    expect(() => hedge({ delayMs: Number.NaN })).toThrow(/`delayMs`/);
  });
});

describe('pipeline(retry, hedge)', () => {
  it('retries a call whose hedged attempts all failed; fn sees attempt and hedge', async () => {
    const seen: string[] = [];
    const policy = pipeline(
      retry({ maxAttempts: 2, backoff: constant({ delayMs: 0 }) }),
      hedge({ delayMs: 0 }),
    );
    const result = await policy.execute(async ({ attempt, hedge: n }) => {
      seen.push(`${attempt}.${n}`);
      if (attempt === 1) throw new Error('both hedges fail');
      return n === 1 ? 'hedge of the retry' : new Promise<string>(() => {});
    });
    expect(result).toBe('hedge of the retry');
    expect(seen).toEqual(['1.0', '1.1', '2.0', '2.1']);
  });

  it('rejects a fn that is not a function with the named TypeError, starting no attempt', async () => {
    const policy = hedge({ delayMs: 0, maxHedges: 2 });
    await expect(policy.execute(42 as never)).rejects.toThrow(
      new TypeError('Expected `fn` to be a function, got 42'),
    );
  });
});
