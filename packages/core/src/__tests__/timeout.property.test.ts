import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type ExecuteOptions,
  type ExecutionContext,
  LazyAbortController,
  lazyAbortSourceOf,
  lazyContext,
  type Policy,
  pipeline,
  TimeoutError,
  type TimeoutStrategy,
  timeout,
} from '../index.js';

/** What a call ended with, and when (in fake milliseconds after it started). */
type Outcome =
  | { kind: 'value'; value: unknown; at: number }
  | { kind: 'error' | 'timeout'; message: string; cause: unknown; at: number };

interface Scenario {
  readonly ms: number;
  /** When `fn` settles on its own. */
  readonly duration: number;
  readonly fails: boolean;
  readonly readsSignal: boolean;
  /** Set when `fn` honours the signal: it rejects with the reason this long after the abort. */
  readonly honoursAfter: number | undefined;
}

const scenarios = fc.record({
  ms: fc.integer({ min: 1, max: 40 }),
  // Delays of at least 1 ms: Node.js waits 1 ms for `setTimeout(fn, 0)`, fake timers do not.
  duration: fc.integer({ min: 1, max: 80 }),
  fails: fc.boolean(),
  readsSignal: fc.boolean(),
  honoursAfter: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
});

function callOf(scenario: Scenario) {
  return (ctx: ExecutionContext) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => (scenario.fails ? reject(new Error('fn failed')) : resolve('value')),
        scenario.duration,
      );
      if (!scenario.readsSignal) return;
      const signal = ctx.signal;
      const honoursAfter = scenario.honoursAfter;
      if (honoursAfter === undefined) return;
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        setTimeout(() => reject(signal.reason), honoursAfter);
      });
    });
}

/** Runs one call on fake timers until it has long settled, and says how it ended. */
async function outcomeOf(run: () => Promise<unknown>): Promise<Outcome | undefined> {
  const start = performance.now();
  let outcome: Outcome | undefined;
  run().then(
    (value) => {
      outcome = { kind: 'value', value, at: performance.now() - start };
    },
    (error: Error) => {
      outcome = {
        kind: error instanceof TimeoutError ? 'timeout' : 'error',
        message: error.message,
        cause: (error.cause as Error | undefined)?.message,
        at: performance.now() - start,
      };
    },
  );
  await vi.advanceTimersByTimeAsync(200);
  return outcome;
}

/** What the documented rules say the call ends with. */
function expected(scenario: Scenario, strategy: TimeoutStrategy): Outcome {
  const { ms, duration, fails, readsSignal, honoursAfter } = scenario;
  if (duration < ms) {
    return fails
      ? { kind: 'error', message: 'fn failed', cause: undefined, at: duration }
      : { kind: 'value', value: 'value', at: duration };
  }
  const message = `Policy "timeout" timed out after ${ms} ms`;
  if (strategy === 'aggressive') return { kind: 'timeout', message, cause: undefined, at: ms };
  if (readsSignal && honoursAfter !== undefined) {
    return { kind: 'timeout', message, cause: undefined, at: ms + honoursAfter };
  }
  return { kind: 'timeout', message, cause: fails ? 'fn failed' : undefined, at: duration };
}

/** Caller options that never abort but send a call down the general path. */
const generalPathOptions: (() => ExecuteOptions)[] = [
  () => ({ signal: new AbortController().signal }),
  () => lazyContext(new LazyAbortController()),
];

describe('timeout() fast and general paths', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('cooperative: a call without a caller signal (fast path) ends as one with a signal that never aborts', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    await fc.assert(
      fc.asyncProperty(scenarios, async (scenario) => {
        // A deadline tied with fn's own timer is decided by timer order, which the rules leave open.
        fc.pre(scenario.duration !== scenario.ms);
        const fn = callOf(scenario);
        const fast = await outcomeOf(() => timeout({ ms: scenario.ms }).execute(fn));
        expect(fast).toEqual(expected(scenario, 'cooperative'));
        for (const options of generalPathOptions) {
          const general = await outcomeOf(() =>
            timeout({ ms: scenario.ms }).execute(fn, options()),
          );
          expect(general).toEqual(fast);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('aggressive: ends as the rules say, with and without a caller signal', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    await fc.assert(
      fc.asyncProperty(scenarios, async (scenario) => {
        fc.pre(scenario.duration !== scenario.ms);
        const fn = callOf(scenario);
        const policy = () => timeout({ ms: scenario.ms, strategy: 'aggressive' });
        expect(await outcomeOf(() => policy().execute(fn))).toEqual(
          expected(scenario, 'aggressive'),
        );
        for (const options of generalPathOptions) {
          expect(await outcomeOf(() => policy().execute(fn, options()))).toEqual(
            expected(scenario, 'aggressive'),
          );
        }
      }),
      { numRuns: 100 },
    );
  });
});

/**
 * A policy between two timeouts that hands the inner one a lazy context of its own, following the
 * outer call's abort: the inner timeout then takes its general path (its parent is not a timeout's
 * call) instead of leaving its deadline to the outer one.
 */
const relay: Policy = {
  execute(fn, options) {
    const own = new LazyAbortController();
    lazyAbortSourceOf(options)?.addAbortListener((reason) => own.abort(reason));
    return Promise.resolve(fn(lazyContext(own)));
  },
};

const nestedScenarios = fc.record({
  outerMs: fc.integer({ min: 1, max: 40 }),
  // How much longer the inner limit is (0: the same limit, as in Polly's five strategies).
  innerExtraMs: fc.integer({ min: 0, max: 30 }),
  outerStrategy: fc.constantFrom<TimeoutStrategy>('cooperative', 'aggressive'),
  innerStrategy: fc.constantFrom<TimeoutStrategy>('cooperative', 'aggressive'),
  duration: fc.integer({ min: 1, max: 80 }),
  fails: fc.boolean(),
  readsSignal: fc.boolean(),
  honoursAfter: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
});

describe('timeout() under an outer timeout with a limit no longer than its own', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('arms no deadline of its own and ends as the general path does, with the outer TimeoutError', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    await fc.assert(
      fc.asyncProperty(nestedScenarios, async (scenario) => {
        const { outerMs, innerExtraMs, outerStrategy, innerStrategy, duration, fails } = scenario;
        fc.pre(duration !== outerMs);
        const innerMs = outerMs + innerExtraMs;
        const fn = callOf({ ...scenario, ms: outerMs });
        const outer = () => timeout({ ms: outerMs, strategy: outerStrategy, name: 'outer' });
        const inner = () => timeout({ ms: innerMs, strategy: innerStrategy, name: 'inner' });
        let timers = 0;
        const nested = await outcomeOf(() => {
          const call = pipeline(outer(), inner()).execute(fn);
          // The outer deadline queue's timer and fn's own: none for the inner timeout.
          timers = vi.getTimerCount();
          return call;
        });
        expect(timers).toBe(2);
        const general = await outcomeOf(() => pipeline(outer(), relay, inner()).execute(fn));
        expect(nested).toEqual(general);
        const expectedOutcome: Outcome =
          duration < outerMs
            ? fails
              ? { kind: 'error', message: 'fn failed', cause: undefined, at: duration }
              : { kind: 'value', value: 'value', at: duration }
            : {
                kind: 'timeout',
                message: `Policy "outer" timed out after ${outerMs} ms`,
                cause: undefined,
                at: outerMs,
              };
        expect(nested).toEqual(expectedOutcome);
      }),
      { numRuns: 150 },
    );
  });

  it('keeps a deadline of its own under an outer timeout with a longer limit', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const composed = pipeline(
      timeout({ ms: 40, name: 'outer' }),
      timeout({ ms: 10, name: 'inner' }),
    );
    const call = composed.execute(
      ({ signal }) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, 100);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(signal.reason);
          });
        }),
    );
    expect(vi.getTimerCount()).toBe(3);
    const error = call.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(200);
    expect(await error).toMatchObject({ policyName: 'inner' });
  });
});
