/**
 * What `pipeline()` of `@breakwater/core` adds to a call, against cockatiel's `wrap()` of the same
 * policies (issue #18): the README's pipeline (retry, circuit breaker, bulkhead, timeout) and
 * Polly's five-strategy shape (bulkhead, timeout, retry, timeout, breaker), each with `fn`
 * ignoring `ctx.signal` and with `fn` reading it.
 */
import { bulkhead } from '@breakwater/bulkhead';
import { circuitBreaker } from '@breakwater/circuit-breaker';
import { pipeline, timeout } from '@breakwater/core';
import { constant, retry } from '@breakwater/retry';
import {
  ConstantBackoff,
  circuitBreaker as cockatielBreaker,
  bulkhead as cockatielBulkhead,
  retry as cockatielRetry,
  timeout as cockatielTimeout,
  handleAll,
  SamplingBreaker,
  TimeoutStrategy,
  wrap,
} from 'cockatiel';
import type { Suite } from '../harness.js';

const CORE = '@breakwater/core';
const COCKATIEL = 'cockatiel';

/** The protected call: an async function that does no I/O, so any wrapper cost is visible. */
async function readValue(): Promise<number> {
  return 42;
}

/** Where the signal read by {@link readingSignal} goes, so the read cannot be optimised away. */
const signalSink: { signal: AbortSignal | undefined } = { signal: undefined };

/** The same call, reading `ctx.signal` first as a call that passes it on (`fetch`) does. */
function readingSignal(ctx: { readonly signal: AbortSignal }): Promise<number> {
  signalSink.signal = ctx.signal;
  return readValue();
}

// Issue #18 states its goals in nanoseconds added to the bare call: README pipeline ≤ 1 µs,
// five strategies ≤ 800 ns per call, with `fn` reading `ctx.signal` or not.
const README_TARGET = { metric: 'added', atMost: 1_000, issue: 18 } as const;
const FIVE_TARGET = { metric: 'added', atMost: 800, issue: 18 } as const;
/** Issue #18: a pipeline costs at most 1.5× the sum of its policies alone. */
const PARTS_TARGET = {
  metric: 'parts',
  parts: ['retry() alone', 'circuitBreaker() alone', 'bulkhead() alone', 'timeout() alone'],
  atMost: 1.5,
  issue: 18,
} as const;

/** Thresholds no benchmark run can reach, so a breaker never opens. */
const NEVER_TRIPS = { failureRatio: 1, minimumThroughput: 1_000_000_000 } as const;

// The same configuration on both sides: 3 attempts without delay, a breaker that never opens,
// 10 slots with a queue of 100, cooperative timeouts of 2 s (the README's).
const ourRetry = () => retry({ maxAttempts: 3, backoff: constant({ delayMs: 0 }) });
const ourBreaker = () => circuitBreaker({ name: 'bench-pipeline', ...NEVER_TRIPS });
const ourBulkhead = () => bulkhead({ name: 'bench-pipeline', maxConcurrent: 10, maxQueue: 100 });
const ourTimeout = () => timeout({ ms: 2_000 });

const theirRetry = () =>
  cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(0) });
const theirBreaker = () =>
  cockatielBreaker(handleAll, {
    halfOpenAfter: 10_000,
    breaker: new SamplingBreaker({ threshold: 0.99, duration: 10_000, minimumRps: 1_000_000_000 }),
  });
const theirBulkhead = () => cockatielBulkhead(10, 100);
const theirTimeout = () => cockatielTimeout(2_000, TimeoutStrategy.Cooperative);

const retryAlone = ourRetry();
const breakerAlone = ourBreaker();
const bulkheadAlone = ourBulkhead();
const timeoutAlone = ourTimeout();

const readme = pipeline(ourRetry(), ourBreaker(), ourBulkhead(), ourTimeout());
const readmeCockatiel = wrap(theirRetry(), theirBreaker(), theirBulkhead(), theirTimeout());
const five = pipeline(ourBulkhead(), ourTimeout(), ourRetry(), ourTimeout(), ourBreaker());
const fiveCockatiel = wrap(
  theirBulkhead(),
  theirTimeout(),
  theirRetry(),
  theirTimeout(),
  theirBreaker(),
);

/** The README's pipeline, with each of its policies alone for reference. */
export const pipelineReadme: Suite = {
  id: 'pipeline/readme',
  title: 'The README pipeline: retry, circuit breaker, bulkhead, timeout',
  description:
    'An async function returning a number, awaited bare (baseline), through each policy alone ' +
    '(for the sum of the parts) and through the four composed, against cockatiel `wrap()` of ' +
    'the same policies configured alike; with `fn` ignoring `ctx.signal` and reading it. ' +
    'Targets (issue #18): ≤ 1 µs per call, and no more than 1.5× the sum of the parts alone.',
  baseline: { name: 'await fn()', fn: () => readValue() },
  cases: [
    {
      name: 'retry() alone',
      library: '@breakwater/retry',
      fn: () => retryAlone.execute(readValue),
    },
    {
      name: 'circuitBreaker() alone',
      library: '@breakwater/circuit-breaker',
      fn: () => breakerAlone.execute(readValue),
    },
    {
      name: 'bulkhead() alone',
      library: '@breakwater/bulkhead',
      fn: () => bulkheadAlone.execute(readValue),
    },
    { name: 'timeout() alone', library: CORE, fn: () => timeoutAlone.execute(readValue) },
    {
      name: 'breakwater pipeline()',
      library: CORE,
      fn: () => readme.execute(readValue),
      role: 'ours',
      pairsWith: ['cockatiel wrap()'],
      targets: [README_TARGET, PARTS_TARGET],
    },
    {
      name: 'breakwater pipeline(), fn reads signal',
      library: CORE,
      fn: () => readme.execute(readingSignal),
      role: 'ours',
      pairsWith: ['cockatiel wrap(), fn reads signal'],
      targets: [README_TARGET],
    },
    {
      name: 'cockatiel wrap()',
      library: COCKATIEL,
      fn: () => readmeCockatiel.execute(readValue),
      role: 'competitor',
    },
    {
      name: 'cockatiel wrap(), fn reads signal',
      library: COCKATIEL,
      fn: () => readmeCockatiel.execute(readingSignal),
      role: 'competitor',
    },
  ],
};

/** Polly's five-strategy shape: bulkhead, timeout, retry, timeout, circuit breaker. */
export const pipelineFive: Suite = {
  id: 'pipeline/five-strategies',
  title: 'Five strategies: bulkhead, timeout, retry, timeout, circuit breaker',
  description:
    'The shape of a Polly resilience pipeline: an overall timeout around retries, each attempt ' +
    'under its own timeout and a circuit breaker. The same call as the README pipeline suite, ' +
    'through Breakwater `pipeline()` and cockatiel `wrap()`, with `fn` ignoring `ctx.signal` and ' +
    'reading it. Target (issue #18): ≤ 800 ns per call.',
  baseline: { name: 'await fn()', fn: () => readValue() },
  cases: [
    {
      name: 'breakwater pipeline()',
      library: CORE,
      fn: () => five.execute(readValue),
      role: 'ours',
      pairsWith: ['cockatiel wrap()'],
      targets: [FIVE_TARGET],
    },
    {
      name: 'breakwater pipeline(), fn reads signal',
      library: CORE,
      fn: () => five.execute(readingSignal),
      role: 'ours',
      pairsWith: ['cockatiel wrap(), fn reads signal'],
      targets: [FIVE_TARGET],
    },
    {
      name: 'cockatiel wrap()',
      library: COCKATIEL,
      fn: () => fiveCockatiel.execute(readValue),
      role: 'competitor',
    },
    {
      name: 'cockatiel wrap(), fn reads signal',
      library: COCKATIEL,
      fn: () => fiveCockatiel.execute(readingSignal),
      role: 'competitor',
    },
  ],
};

/** The pipeline suites, in the order they run. */
export const pipelineSuites: readonly Suite[] = [pipelineReadme, pipelineFive];
