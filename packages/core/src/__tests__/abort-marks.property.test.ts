/**
 * Racing a pipeline's abort once (abort-marks.ts): a policy whose `fn` returns the marked promise
 * of the policy inside it passes that promise on instead of racing it against the abort again.
 * These tests pin that the fast path is taken, and that a pipeline ends exactly as it does when
 * every policy races (the general path), forced by a layer between the policies that hands on a
 * promise of its own (see the testkit's `abortMarkLayers`).
 */

import {
  abortingCaller,
  abortMarkLayers,
  type MarkedOutcome,
  markedRun,
  slowCall,
} from '@breakwater/testkit';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { followsAbort, markFollowsAbort } from '../abort-marks.js';
import {
  type ExecuteOptions,
  type ExecutionContext,
  LazyAbortController,
  lazyContext,
  neverAbortedSignal,
  type Policy,
  pipeline,
  type TimeoutStrategy,
  timeout,
} from '../index.js';

/** One call of `policies` on fake timers until it has long settled: the log of its outcomes. */
function outcomesOf(
  policies: readonly Policy[],
  fn: (ctx: ExecutionContext) => Promise<unknown>,
  caller: ExecuteOptions,
  general: boolean,
): Promise<MarkedOutcome[]> {
  return markedRun({
    policies,
    general,
    neverAborted: neverAbortedSignal(),
    compose: (layers) => pipeline(...(layers as Policy[])),
    fn,
    caller,
    advance: (ms) => vi.advanceTimersByTimeAsync(ms),
    settleMs: 300,
  });
}

const layerSpecs = fc.array(
  fc.record({
    ms: fc.integer({ min: 5, max: 60 }),
    strategy: fc.constantFrom<TimeoutStrategy>('cooperative', 'aggressive'),
  }),
  { minLength: 2, maxLength: 4 },
);

const scenarios = fc.record({
  layers: layerSpecs,
  /** When the caller's signal aborts, if it does. */
  abortAt: fc.option(fc.integer({ min: 1, max: 90 }), { nil: undefined }),
  /** Whether the caller passes a lazy context (as an outer pipeline does) or a signal. */
  lazyCaller: fc.boolean(),
  duration: fc.integer({ min: 1, max: 90 }),
  fails: fc.boolean(),
  /** Set when `fn` honours its signal: it rejects with the reason this long after the abort. */
  honoursAfter: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
});

type Scenario = typeof scenarios extends fc.Arbitrary<infer S> ? S : never;

function callOf(scenario: Scenario) {
  return (ctx: ExecutionContext) =>
    slowCall(ctx, {
      durationMs: scenario.duration,
      error: scenario.fails ? new Error('fn failed') : undefined,
      honoursAfterMs: scenario.honoursAfter,
    });
}

/** The caller's options for one run, aborting at `abortAt` if set. */
function callerOf(scenario: Scenario): ExecuteOptions {
  return abortingCaller(
    scenario.abortAt,
    scenario.lazyCaller && { controller: () => new LazyAbortController(), context: lazyContext },
  );
}

describe('abort marks', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('match only the promise last marked, with its controller, once', () => {
    const controller = new LazyAbortController();
    const marked = markFollowsAbort(Promise.resolve(1), controller);
    expect(followsAbort(marked, new LazyAbortController())).toBe(false);
    void markFollowsAbort(marked, controller);
    expect(
      followsAbort(
        marked.then((value) => value),
        controller,
      ),
    ).toBe(false);
    void markFollowsAbort(marked, controller);
    expect(followsAbort(marked, controller)).toBe(true);
    expect(followsAbort(marked, controller)).toBe(false);
    expect(followsAbort(undefined, controller)).toBe(false);
  });

  it('let timeouts under one outer timeout race its abort once', async () => {
    const listen = vi.spyOn(LazyAbortController.prototype, 'addAbortListener');
    const caller = new LazyAbortController();
    const same = () => timeout({ ms: 1_000 });
    const run = (layers: Policy[]) =>
      pipeline(...layers).execute(() => 'done', lazyContext(caller));
    await expect(run([same(), same(), same()])).resolves.toBe('done');
    // The outer timeout follows the caller; of the two inner ones, only the innermost races.
    expect(listen).toHaveBeenCalledTimes(2);
    listen.mockClear();
    const general = abortMarkLayers([same(), same(), same()], {
      general: true,
      log: [],
      now: () => 0,
      neverAborted: neverAbortedSignal(),
    });
    await expect(run(general as Policy[])).resolves.toBe('done');
    expect(listen).toHaveBeenCalledTimes(3);
  });

  it('a pipeline of timeouts ends as when every policy races the abort', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    await fc.assert(
      fc.asyncProperty(scenarios, async (scenario) => {
        // Ties between fn's timer and the caller's abort are decided by timer order alone.
        fc.pre(scenario.abortAt !== scenario.duration);
        const build = () =>
          scenario.layers.map(({ ms, strategy }, index) =>
            timeout({ ms, strategy, name: `timeout ${index}` }),
          );
        const fn = callOf(scenario);
        const fast = await outcomesOf(build(), fn, callerOf(scenario), false);
        const general = await outcomesOf(build(), fn, callerOf(scenario), true);
        // One outcome per policy after the first, one for fn, one for the pipeline.
        expect(fast).toHaveLength(scenario.layers.length + 1);
        expect(fast).toEqual(general);
      }),
      { numRuns: 200 },
    );
  });
});
