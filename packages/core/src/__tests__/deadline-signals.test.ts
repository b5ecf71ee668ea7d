import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineSignals, SharedDeadlineSignal } from '../deadline-signals.js';
import {
  type ExecuteOptions,
  type ExecutionContext,
  LazyAbortController,
  lazyContext,
  pipeline,
  TimeoutError,
  type TimeoutStrategy,
  timeout,
} from '../index.js';
import { TickDeadlineQueue } from '../tick-deadlines.js';

/** A call that runs `ms` (fake) milliseconds, handing its signal to `seen`. */
function running(ms: number, seen: AbortSignal[]) {
  return ({ signal }: ExecutionContext) => {
    seen.push(signal);
    return new Promise<string>((resolve) => setTimeout(() => resolve('done'), ms));
  };
}

/**
 * Starts a call that reads no signal and runs a few (fake or real) milliseconds: it arms the
 * policy's timer, so the calls started after it in the same tick share a bucket. (The call that
 * arms the timer is a bucket of its own: its first tick is a full tick away, the others' is not.)
 */
function arming(policy: { execute(fn: () => Promise<unknown>): Promise<unknown> }) {
  return policy.execute(() => new Promise((resolve) => setTimeout(resolve, 5)));
}

/** Counts the AbortControllers created while `body` runs. */
async function countingControllers(body: () => Promise<void>): Promise<number> {
  const Original = globalThis.AbortController;
  let created = 0;
  globalThis.AbortController = class extends Original {
    constructor() {
      super();
      created++;
    }
  };
  try {
    await body();
  } finally {
    globalThis.AbortController = Original;
  }
  return created;
}

describe('timeout(): signals shared by calls that time out together', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each(['cooperative', 'aggressive'] as const)(
    '%s: a signal read by fn aborts at the call’s deadline while the call still runs',
    async (strategy) => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
      const policy = timeout({ ms: 64, strategy, name: 'db' });
      const seen: AbortSignal[] = [];
      const outcome = policy.execute(running(1_000, seen)).catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(63);
      expect(seen[0]?.aborted).toBe(false);
      // Within ms / 16 of the limit (see tick-deadlines.ts).
      await vi.advanceTimersByTimeAsync(4);
      expect(seen[0]?.aborted).toBe(true);
      expect(seen[0]?.reason).toBeInstanceOf(TimeoutError);
      expect(seen[0]?.reason).toMatchObject({ policyName: 'db', timeoutMs: 64 });
      await vi.advanceTimersByTimeAsync(1_000);
      expect(await outcome).toBeInstanceOf(TimeoutError);
    },
  );

  it('calls that start in one tick share one signal and one AbortController', async () => {
    const policy = timeout({ ms: 1_000 });
    const seen: AbortSignal[] = [];
    const created = await countingControllers(async () => {
      const first = arming(policy);
      await Promise.all(Array.from({ length: 20 }, () => policy.execute(running(1, seen))));
      await first;
    });
    expect(created).toBe(1);
    expect(new Set(seen).size).toBe(1);
    expect(seen[0]?.aborted).toBe(false);
  });

  it('a call reads the same signal every time, also after it settled', async () => {
    const policy = timeout({ ms: 1_000 });
    let ctx: ExecutionContext | undefined;
    await policy.execute((c) => {
      ctx = c;
      return c.signal;
    });
    const first = ctx?.signal;
    expect(ctx?.signal).toBe(first);
  });

  it('a sibling finishing does not abort anything; a sibling timing out aborts the shared signal', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const calm = timeout({ ms: 64 });
    const seenCalm: AbortSignal[] = [];
    void arming(calm);
    const quick = calm.execute(running(1, seenCalm));
    const slower = calm.execute(running(30, seenCalm));
    await vi.advanceTimersByTimeAsync(500);
    await expect(quick).resolves.toBe('done');
    await expect(slower).resolves.toBe('done');
    expect(seenCalm[0]).toBe(seenCalm[1]);
    // Both finished in time: the shared signal never aborts.
    expect(seenCalm[0]?.aborted).toBe(false);

    // The documented price: a finished call's signal aborts when one it shared with times out.
    const busy = timeout({ ms: 64 });
    const seenBusy: AbortSignal[] = [];
    void arming(busy);
    const finished = busy.execute(running(1, seenBusy));
    const late = busy.execute(running(1_000, seenBusy)).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    await expect(finished).resolves.toBe('done');
    expect(seenBusy[0]?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(60);
    expect(seenBusy[0]).toBe(seenBusy[1]);
    expect(seenBusy[0]?.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await late).toBeInstanceOf(TimeoutError);
  });

  it.each(['cooperative', 'aggressive'] as const)(
    '%s: a caller’s signal still reaches fn, and only the calls it was given to',
    async (strategy) => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
      const policy = timeout({ ms: 1_000, strategy });
      const caller = new AbortController();
      const seen: AbortSignal[] = [];
      const withCaller = policy
        .execute(running(100, seen), { signal: caller.signal })
        .catch((e: unknown) => e);
      const without = policy.execute(running(100, seen));
      const reason = new Error('caller gave up');
      caller.abort(reason);
      expect(seen[0]).not.toBe(seen[1]);
      expect(seen[0]?.aborted).toBe(true);
      expect(seen[0]?.reason).toBe(reason);
      expect(await withCaller).toBe(reason);
      expect(seen[1]?.aborted).toBe(false);
      await vi.advanceTimersByTimeAsync(100);
      await expect(without).resolves.toBe('done');
      expect(seen[1]?.aborted).toBe(false);
    },
  );

  it('a lazy parent that is not a timeout keeps a signal of its own, which its abort reaches', async () => {
    const policy = timeout({ ms: 1_000 });
    const parent = new LazyAbortController();
    const seen: AbortSignal[] = [];
    const call = policy
      .execute(running(100, seen), lazyContext(parent) as ExecuteOptions)
      .catch((e: unknown) => e);
    const sibling = timeout({ ms: 1_000 });
    const siblingSeen: AbortSignal[] = [];
    await sibling.execute(running(1, siblingSeen));
    const reason = new Error('parent gave up');
    parent.abort(reason);
    expect(seen[0]?.aborted).toBe(true);
    expect(seen[0]?.reason).toBe(reason);
    expect(await call).toBe(reason);
    expect(siblingSeen[0]?.aborted).toBe(false);
  });

  it('a call that reads its signal after it timed out gets it already aborted', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const policy = timeout({ ms: 10 });
    let late: AbortSignal | undefined;
    const outcome = policy
      .execute(
        (ctx) =>
          new Promise((resolve) =>
            setTimeout(() => {
              late = ctx.signal;
              resolve('late');
            }, 50),
          ),
      )
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    const error = await outcome;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(late?.aborted).toBe(true);
    expect(late?.reason).toBe(error);
  });

  describe.each([
    ['inner', 64, 640],
    ['outer', 640, 64],
  ] as const)('under another timeout (the %s one is shorter)', (shorter, innerMs, outerMs) => {
    it('aborts at the first deadline, and calls of one bucket share', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
      const outer = timeout({ ms: outerMs, name: 'outer' });
      const inner = timeout({ ms: innerMs, name: 'inner' });
      const composed = pipeline(outer, inner);
      const seen: AbortSignal[] = [];
      let outcomes: unknown[] = [];
      const created = await countingControllers(async () => {
        void arming(composed);
        const calls = Array.from({ length: 5 }, () =>
          composed.execute(running(10_000, seen)).catch((e: unknown) => e),
        );
        await vi.advanceTimersByTimeAsync(63);
        expect(seen.every((signal) => !signal.aborted)).toBe(true);
        await vi.advanceTimersByTimeAsync(10);
        expect(seen.every((signal) => signal.aborted)).toBe(true);
        await vi.advanceTimersByTimeAsync(1_000);
        outcomes = await Promise.all(calls);
      });
      // One signal for the outer bucket, one for the inner bucket under it; when the outer limit
      // is the shorter one, the inner calls arm no deadline of their own and share the outer's.
      expect(created).toBe(shorter === 'outer' ? 1 : 2);
      expect(new Set(seen).size).toBe(1);
      expect(seen[0]?.aborted).toBe(true);
      expect(seen[0]?.reason).toMatchObject({ policyName: shorter });
      for (const outcome of outcomes) expect(outcome).toBeInstanceOf(TimeoutError);
    });
  });

  it('many listeners on a shared signal draw no MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const policy = timeout({ ms: 1_000 });
      await Promise.all(
        Array.from({ length: 30 }, () =>
          policy.execute(({ signal }) => {
            signal.addEventListener('abort', () => {});
            return 1;
          }),
        ),
      );
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});

describe('DeadlineSignals', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('forgets the buckets whose tick has come when it makes a new one', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const queue = new TickDeadlineQueue(32);
    const signals = new DeadlineSignals(queue);
    const keep = { expiresAfter: 0, older: undefined, newer: undefined, linked: false, fail() {} };
    queue.enqueue(keep);
    for (let tick = 1; tick <= 5; tick++) signals.groupFor(tick, undefined);
    expect(signals.size).toBe(5);
    await vi.advanceTimersByTimeAsync(3);
    signals.groupFor(40, undefined);
    // Ticks 1 to 3 have come: their buckets went, 4, 5 and 40 stay.
    expect(signals.size).toBe(3);
    expect(signals.groupFor(4, undefined)).toBe(signals.groupFor(4, undefined));
  });

  it('aborts the groups under a group with it, and a group made under an aborted one at once', () => {
    const parent = new SharedDeadlineSignal(undefined);
    const child = new SharedDeadlineSignal(parent);
    const grandchild = new SharedDeadlineSignal(child);
    const reason = new Error('deadline');
    parent.abort(reason);
    expect(child.signal.reason).toBe(reason);
    expect(grandchild.signal.reason).toBe(reason);
    expect(new SharedDeadlineSignal(parent).signal.reason).toBe(reason);
  });
});

/** One call of a property run: when it starts, how long it runs, whether it reads its signal. */
interface CallPlan {
  readonly startsAt: number;
  readonly duration: number;
  readonly readsSignal: boolean;
}

interface CallRecord {
  outcome: string;
  settledAt: number | undefined;
  abortedAt: number | undefined;
}

/** Runs `plans` through `policy` on fake timers; how each call ended and when its signal aborted. */
async function runPlans(
  policy: {
    execute: (fn: (ctx: ExecutionContext) => unknown, o?: ExecuteOptions) => Promise<unknown>;
  },
  plans: readonly CallPlan[],
  options: () => ExecuteOptions | undefined,
): Promise<CallRecord[]> {
  const records = plans.map(() => ({
    outcome: 'pending',
    settledAt: undefined as number | undefined,
    abortedAt: undefined as number | undefined,
  }));
  plans.forEach((plan, index) => {
    const record = records[index]!;
    setTimeout(() => {
      const startedAt = performance.now();
      policy
        .execute(({ signal }) => {
          if (plan.readsSignal) {
            signal.addEventListener('abort', () => {
              record.abortedAt = performance.now() - startedAt;
            });
          }
          return new Promise((resolve) => setTimeout(() => resolve('value'), plan.duration));
        }, options())
        .then(
          () => {
            record.outcome = 'value';
          },
          (error: unknown) => {
            record.outcome = error instanceof TimeoutError ? 'timeout' : String(error);
          },
        )
        .finally(() => {
          record.settledAt = performance.now() - startedAt;
        });
    }, plan.startsAt);
  });
  await vi.advanceTimersByTimeAsync(500);
  return records;
}

describe('shared signals agree with signals of their own (property)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each(['cooperative', 'aggressive'] as TimeoutStrategy[])(
    '%s: same outcomes; a running call’s signal aborts when its own would; none aborts early',
    async (strategy) => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
      const plans = fc.array(
        fc.record({
          startsAt: fc.integer({ min: 0, max: 60 }),
          duration: fc.integer({ min: 1, max: 120 }),
          readsSignal: fc.boolean(),
        }),
        { minLength: 1, maxLength: 12 },
      );
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 80 }), plans, async (ms, calls) => {
          // Shared: no caller signal. Own: a caller signal that never aborts (the general path).
          const shared = await runPlans(timeout({ ms, strategy }), calls, () => undefined);
          const own = await runPlans(timeout({ ms, strategy }), calls, () => ({
            signal: new AbortController().signal,
          }));
          for (const [index, plan] of calls.entries()) {
            const mine = shared[index]!;
            const theirs = own[index]!;
            expect(mine.outcome).toBe(theirs.outcome);
            expect(mine.settledAt).toBe(theirs.settledAt);
            if (!plan.readsSignal) continue;
            if (theirs.abortedAt !== undefined) {
              // The call was still running at its deadline: the shared signal aborted then too.
              expect(mine.abortedAt).toBe(theirs.abortedAt);
            } else if (mine.abortedAt !== undefined) {
              // Aborted by a call it shared with: only after it finished, never before `ms`.
              expect(mine.abortedAt).toBeGreaterThanOrEqual(mine.settledAt!);
              expect(mine.abortedAt).toBeGreaterThanOrEqual(ms);
            }
          }
        }),
        { numRuns: 120 },
      );
    },
  );
});
