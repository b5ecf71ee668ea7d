/**
 * Inside a pipeline, a breaker whose call returns the marked promise of the policy inside it (a
 * timeout under the same outer timeout) settles it with a plain `.then` instead of racing it
 * against the outer abort again, and marks its own promise for the policy around it (core's
 * abort-marks.ts) when an abort reaches its caller without waiting on I/O or user code. These
 * tests pin when the fast path is taken, and that a pipeline ends, policy by policy, and counts,
 * as it does when every policy races (the general path).
 */
import {
  type ExecuteOptions,
  type ExecutionContext,
  followsAbort,
  LazyAbortController,
  lazyContext,
  neverAbortedSignal,
  type Policy,
  pipeline,
  timeout,
} from '@breakwater/core';
import { abortingCaller, abortMarkLayers, markedRun, slowCall } from '@breakwater/testkit';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { circuitBreaker } from '../index.js';

const NEVER_TRIPS = { failureRatio: 1, minimumThroughput: 1_000_000 } as const;

const scenarios = fc.record({
  outerMs: fc.integer({ min: 5, max: 60 }),
  /** The inner timeout's limit: at least the outer's (it then follows the outer deadline) or less. */
  innerMs: fc.integer({ min: 5, max: 80 }),
  /** An even duration and an odd abort time: fn never settles as the caller aborts. */
  duration: fc.integer({ min: 1, max: 40 }).map((n) => 2 * n),
  fails: fc.boolean(),
  abortAt: fc.option(
    fc.integer({ min: 0, max: 45 }).map((n) => 2 * n + 1),
    { nil: undefined },
  ),
  lazyCaller: fc.boolean(),
  honoursAfter: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
  /** A fallback: the breaker then does not mark its promise (a fallback is user code). */
  fallback: fc.boolean(),
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

function callerOf(scenario: Scenario): ExecuteOptions {
  return abortingCaller(
    scenario.abortAt,
    scenario.lazyCaller && { controller: () => new LazyAbortController(), context: lazyContext },
  );
}

/** How a call ended and when, each policy's and the pipeline's, and what the breaker counted. */
async function outcomesOf(scenario: Scenario, general: boolean) {
  const breaker = circuitBreaker({
    name: 'marks',
    ...NEVER_TRIPS,
    ...(scenario.fallback ? { fallback: { value: 'fallback' } } : {}),
  });
  const log = await markedRun({
    policies: [
      timeout({ ms: scenario.outerMs, name: 'outer' }),
      breaker,
      timeout({ ms: scenario.innerMs, name: 'inner' }),
    ],
    general,
    neverAborted: neverAbortedSignal(),
    compose: (layers) => pipeline(...(layers as Policy[])),
    fn: callOf(scenario),
    caller: callerOf(scenario),
    advance: (ms) => vi.advanceTimersByTimeAsync(ms),
    settleMs: 300,
  });
  const { calls, failures } = breaker.stats();
  await breaker.close();
  return { log, calls, failures };
}

describe('circuitBreaker() inside a pipeline: racing the outer abort once', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('passes the inner timeout’s race on rather than racing again', async () => {
    const listen = vi.spyOn(LazyAbortController.prototype, 'addAbortListener');
    const breaker = circuitBreaker({ name: 'marks', ...NEVER_TRIPS });
    const policies = () => [timeout({ ms: 1_000 }), breaker, timeout({ ms: 1_000 })];
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
    await breaker.close();
  });

  it('marks its promise only without a fallback, with the in-process store', async () => {
    const controller = new LazyAbortController();
    const plain = circuitBreaker({ name: 'marks', ...NEVER_TRIPS });
    const call = plain.execute(() => 'done', lazyContext(controller));
    expect(followsAbort(call, controller)).toBe(true);
    const withFallback = circuitBreaker({ name: 'marks', fallback: { value: 'fallback' } });
    const answered = withFallback.execute(() => 'done', lazyContext(controller));
    expect(followsAbort(answered, controller)).toBe(false);
    await expect(Promise.all([call, answered])).resolves.toEqual(['done', 'done']);
    await Promise.all([plain.close(), withFallback.close()]);
  });

  it('ends, policy by policy, and counts as when every policy races the abort', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    await fc.assert(
      fc.asyncProperty(scenarios, async (scenario) => {
        const fast = await outcomesOf(scenario, false);
        const general = await outcomesOf(scenario, true);
        // The breaker's, the inner timeout's, fn's and the pipeline's outcomes.
        expect(fast.log).toHaveLength(4);
        expect(fast).toEqual(general);
      }),
      { numRuns: 200 },
    );
  });
});
