/**
 * Inside a pipeline, a retry whose attempt returns the marked promise of the policy inside it (a
 * timeout under the same outer timeout) judges it with a plain `.then` instead of racing it
 * against the outer abort again, and marks its own promise for the policy around it (core's
 * abort-marks.ts). These tests pin that the fast path is taken, and that a pipeline ends, policy by
 * policy, as it does when every policy races (the general path).
 */
import {
  type ExecuteOptions,
  type ExecutionContext,
  LazyAbortController,
  lazyContext,
  neverAbortedSignal,
  type Policy,
  pipeline,
  timeout,
} from '@breakwater/core';
import {
  abortingCaller,
  abortMarkLayers,
  type MarkedOutcome,
  markedRun,
  slowCall,
} from '@breakwater/testkit';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { constant, retry } from '../index.js';

const scenarios = fc.record({
  outerMs: fc.integer({ min: 5, max: 60 }),
  /** The inner timeout's limit: at least the outer's (it then follows the outer deadline) or less. */
  innerMs: fc.integer({ min: 5, max: 80 }),
  maxAttempts: fc.integer({ min: 1, max: 3 }),
  /** Even delays and durations, an odd abort time: fn never settles as the caller aborts. */
  delayMs: fc.integer({ min: 0, max: 3 }).map((n) => 2 * n),
  duration: fc.integer({ min: 1, max: 20 }).map((n) => 2 * n),
  /** How many attempts fail before one succeeds. */
  failures: fc.integer({ min: 0, max: 3 }),
  abortAt: fc.option(
    fc.integer({ min: 0, max: 45 }).map((n) => 2 * n + 1),
    { nil: undefined },
  ),
  lazyCaller: fc.boolean(),
  honoursAfter: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
  /** A dead-letter sink: the retry then does not mark its promise (giving up awaits the sink). */
  deadLetter: fc.boolean(),
});

type Scenario = typeof scenarios extends fc.Arbitrary<infer S> ? S : never;

function callOf(scenario: Scenario) {
  let attempts = 0;
  return (ctx: ExecutionContext) => {
    attempts++;
    const error =
      attempts <= scenario.failures ? new Error(`attempt ${attempts} failed`) : undefined;
    return slowCall(ctx, {
      durationMs: scenario.duration,
      error,
      honoursAfterMs: scenario.honoursAfter,
    });
  };
}

function callerOf(scenario: Scenario): ExecuteOptions {
  return abortingCaller(
    scenario.abortAt,
    scenario.lazyCaller && { controller: () => new LazyAbortController(), context: lazyContext },
  );
}

function policiesOf(scenario: Scenario): Policy[] {
  return [
    timeout({ ms: scenario.outerMs, name: 'outer' }),
    retry({
      maxAttempts: scenario.maxAttempts,
      backoff: constant({ delayMs: scenario.delayMs }),
      deadLetter: scenario.deadLetter ? () => undefined : undefined,
    }),
    timeout({ ms: scenario.innerMs, name: 'inner' }),
  ];
}

function outcomesOf(scenario: Scenario, general: boolean): Promise<MarkedOutcome[]> {
  return markedRun({
    policies: policiesOf(scenario),
    general,
    neverAborted: neverAbortedSignal(),
    compose: (layers) => pipeline(...(layers as Policy[])),
    fn: callOf(scenario),
    caller: callerOf(scenario),
    advance: (ms) => vi.advanceTimersByTimeAsync(ms),
    settleMs: 400,
  });
}

describe('retry() inside a pipeline: racing the outer abort once', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('passes the inner timeout’s race on rather than racing again', async () => {
    const listen = vi.spyOn(LazyAbortController.prototype, 'addAbortListener');
    const policies = () => [
      timeout({ ms: 1_000 }),
      retry({ maxAttempts: 2, backoff: constant({ delayMs: 0 }) }),
      timeout({ ms: 1_000 }),
    ];
    await expect(pipeline(...policies()).execute(() => 'done')).resolves.toBe('done');
    // Only the inner timeout races the outer one's abort.
    expect(listen).toHaveBeenCalledTimes(1);
    listen.mockClear();
    const general = abortMarkLayers(policies(), {
      general: true,
      log: [],
      now: () => 0,
      neverAborted: neverAbortedSignal(),
    });
    await expect(pipeline(...(general as Policy[])).execute(() => 'done')).resolves.toBe('done');
    expect(listen).toHaveBeenCalledTimes(2);
  });

  it('ends, policy by policy, as when every policy races the abort', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    await fc.assert(
      fc.asyncProperty(scenarios, async (scenario) => {
        const fast = await outcomesOf(scenario, false);
        const general = await outcomesOf(scenario, true);
        // The retry's, the inner timeout's and fn's outcomes (one per attempt), the pipeline's.
        expect(fast.length).toBeGreaterThanOrEqual(4);
        expect(fast).toEqual(general);
      }),
      { numRuns: 200 },
    );
  });
});
