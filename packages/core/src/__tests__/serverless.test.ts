import { fakeClock, spyOnProcessWarnings } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import {
  isSettleError,
  isTimeoutError,
  SETTLE_ERROR_CODE,
  SettleError,
  serverless,
  settleAll,
} from '../index.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('serverless()', () => {
  const warnings = spyOnProcessWarnings();

  it('settles every target after the handler, before the invocation returns', async () => {
    const order: string[] = [];
    const flushed = deferred();
    const policy = {
      name: 'budget',
      settle: async () => {
        await flushed.promise;
        order.push('policy settled');
      },
    };
    const handler = serverless(
      async (event: { id: number }) => {
        order.push(`handler ${event.id}`);
        return event.id * 2;
      },
      { settle: [policy, () => order.push('function settled')] },
    );
    const answer = handler({ id: 21 }, {});
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['handler 21', 'function settled']);
    flushed.resolve();
    expect(await answer).toBe(42);
    expect(order).toEqual(['handler 21', 'function settled', 'policy settled']);
  });

  it("rethrows the handler's error after settling", async () => {
    let settled = false;
    const failure = new Error('downstream failed');
    const handler = serverless(
      async () => {
        throw failure;
      },
      {
        settle: [
          async () => {
            settled = true;
          },
        ],
      },
    );
    await expect(handler(undefined, undefined)).rejects.toBe(failure);
    expect(settled).toBe(true);
  });

  it('reports a failing target to onSettleError and still returns the result', async () => {
    const reports: SettleError[] = [];
    const storeDown = new Error('store down');
    const handler = serverless(async () => 'ok', {
      settle: [
        {
          name: 'limiter',
          settle: async () => {
            throw storeDown;
          },
        },
        () => undefined,
      ],
      onSettleError: (error, event, context) => {
        expect(event).toBe('event');
        expect(context).toEqual({});
        reports.push(error);
      },
    });
    expect(await handler('event', {})).toBe('ok');
    expect(reports).toHaveLength(1);
    const [report] = reports;
    expect(isSettleError(report)).toBe(true);
    expect(report!.failures).toEqual([{ target: 'limiter', error: storeDown, timedOut: false }]);
    expect(report!.cause).toBe(storeDown);
    expect(report!.message).toContain('limiter (Error: store down)');
  });

  it('without onSettleError, a failure becomes a process warning', async () => {
    const handler = serverless(async () => 1, {
      settle: [
        function flushMeters() {
          throw new Error('exporter down');
        },
      ],
    });
    expect(await handler({}, {})).toBe(1);
    const calls = warnings.spy.mock.calls.filter(
      ([, options]) => (options as { code?: string } | undefined)?.code === SETTLE_ERROR_CODE,
    );
    expect(calls).toHaveLength(1);
    expect(String(calls[0]![0])).toContain('flushMeters (Error: exporter down)');
  });

  it('stops waiting at deadlineMs and reports the target as timed out', async () => {
    const clock = fakeClock();
    const reports: SettleError[] = [];
    const never = new Promise<void>(() => {});
    const handler = serverless(async () => 'done', {
      settle: [{ name: 'write-behind', settle: () => never }, async () => {}],
      deadlineMs: 300,
      clock,
      onSettleError: (error) => reports.push(error),
    });
    const answer = handler({}, {});
    await clock.advance(299);
    let returned = false;
    void answer.then(() => {
      returned = true;
    });
    await clock.advance(0);
    expect(returned).toBe(false);
    await clock.advance(1);
    expect(await answer).toBe('done');
    expect(reports[0]!.deadlineMs).toBe(300);
    expect(reports[0]!.failures).toHaveLength(1);
    const failure = reports[0]!.failures[0]!;
    expect(failure.target).toBe('write-behind');
    expect(failure.timedOut).toBe(true);
    expect(isTimeoutError(failure.error)).toBe(true);
    expect(clock.pendingSleeps).toBe(0);
  });

  it("cuts the deadline to the invocation's remaining time less reserveMs", async () => {
    const clock = fakeClock();
    const reports: SettleError[] = [];
    const handler = serverless(async () => 'done', {
      settle: [{ name: 'slow', settle: () => new Promise<void>(() => {}) }],
      deadlineMs: 5_000,
      reserveMs: 100,
      clock,
      onSettleError: (error) => reports.push(error),
    });
    const answer = handler({}, { getRemainingTimeInMillis: () => 600 });
    await clock.advance(499);
    expect(reports).toHaveLength(0);
    await clock.advance(1);
    expect(await answer).toBe('done');
    expect(reports[0]!.deadlineMs).toBe(500);

    // No time left at all: nothing is waited for.
    const late = handler({}, { getRemainingTimeInMillis: () => 40 });
    await clock.advance(0);
    expect(await late).toBe('done');
    expect(reports[1]!.deadlineMs).toBe(0);
  });

  it('keeps the deadline timer only while settling', async () => {
    const clock = fakeClock();
    const handler = serverless(async () => 1, { settle: [async () => {}], clock });
    expect(await handler({}, {})).toBe(1);
    expect(clock.pendingSleeps).toBe(0);
  });

  it('rejects bad options naming the option and the value', () => {
    const handler = async () => 1;
    expect(() => serverless(handler, { settle: [42 as never] })).toThrow(
      'Expected `settle[0]` to be a function or an object with a settle() method, got 42',
    );
    expect(() => serverless(handler, { settle: 'all' as never })).toThrow(
      'Expected `settle` to be an array of policies and functions, got "all"',
    );
    expect(() => serverless(handler, { settle: [], deadlineMs: 0 })).toThrow(
      'Expected `deadlineMs` to be a finite number > 0, got 0',
    );
    expect(() => serverless(handler, { settle: [], reserveMs: -1 })).toThrow(
      'Expected `reserveMs` to be a finite number >= 0, got -1',
    );
    expect(() => serverless(handler, { settle: [], onSettleError: 'log' as never })).toThrow(
      /onSettleError/,
    );
    expect(() => serverless('handler' as never, { settle: [] })).toThrow(/handler/);
  });
});

describe('settleAll()', () => {
  it('resolves with no failures when every target settles', async () => {
    expect(
      await settleAll([async () => {}, { settle: async () => {} }], { deadlineMs: 10 }),
    ).toEqual([]);
  });

  it('names an anonymous target by its index', async () => {
    const failures = await settleAll(
      [
        async () => {},
        {
          settle: () => Promise.reject(new Error('x')),
        },
      ],
      { deadlineMs: 10 },
    );
    expect(failures.map((f) => f.target)).toEqual(['settle[1]']);
    expect(new SettleError(failures, 10).message).toBe(
      '1 settle target(s) did not settle within 10 ms: settle[1] (Error: x)',
    );
  });
});
