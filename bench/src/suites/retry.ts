/**
 * What `@breakwater/retry` adds to a call, against the retry libraries users would pick instead:
 * cockatiel's `retry()` and p-retry. Two questions: the cost on the success path (the call works
 * the first time, which is nearly every call), and the cost of one retry with a zero delay (so
 * only the machinery is measured, not a backoff wait).
 */
import { constant, memoryBudgetStore, retry, retryBudget } from '@breakwater/retry';
import { ConstantBackoff, retry as cockatielRetry, handleAll } from 'cockatiel';
import pRetry from 'p-retry';
import type { Suite } from '../harness.js';

const BREAKWATER = '@breakwater/retry';
const COCKATIEL = 'cockatiel';
const P_RETRY = 'p-retry';

/** The protected call: an async function that does no I/O, so any wrapper cost is visible. */
async function readValue(): Promise<number> {
  return 42;
}

const transient = new Error('transient');

/**
 * A call that fails once and then succeeds, fresh for every operation; every case pays for the
 * same closure, so the difference is the library's retry path.
 */
function failingOnce(): () => Promise<number> {
  let failed = false;
  return async () => {
    if (!failed) {
      failed = true;
      throw transient;
    }
    return 42;
  };
}

const ours = retry({ maxAttempts: 3, backoff: constant({ delayMs: 0 }) });
const oursWithBudget = retry({
  maxAttempts: 3,
  backoff: constant({ delayMs: 0 }),
  // A budget large enough never to refuse, so the case measures its bookkeeping, not refusals.
  budget: retryBudget({ ratio: 1, minPerSecond: 1e9, store: memoryBudgetStore() }),
});
const oursDefaults = retry();
const cockatiel = cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(0) });
const pRetryOptions = { retries: 2, minTimeout: 0, maxTimeout: 0, factor: 1, randomize: false };

/** The happy path: the call succeeds at once. */
export const retrySuccess: Suite = {
  id: 'retry/success',
  title: 'Retry around an async call that succeeds at once',
  description:
    'An async function returning a number, awaited bare (baseline) and through each retry ' +
    'wrapper, up to 3 attempts. Nothing fails, so this is the per-call overhead every caller pays.',
  baseline: { name: 'await fn()', fn: () => readValue() },
  cases: [
    {
      name: 'breakwater retry()',
      library: BREAKWATER,
      fn: () => ours.execute(readValue),
      role: 'ours',
      targets: [
        { metric: 'overhead', versus: 'cockatiel retry()', atMost: 1, issue: 6 },
        { metric: 'speedup', versus: 'p-retry', atLeast: 20, issue: 6 },
      ],
    },
    {
      name: 'breakwater retry() defaults',
      library: BREAKWATER,
      note: 'exponential backoff with full jitter, 3 attempts',
      fn: () => oursDefaults.execute(readValue),
    },
    {
      name: 'breakwater retry() + memory budget',
      library: BREAKWATER,
      note: 'calls counted locally, reported to the store once per second',
      fn: () => oursWithBudget.execute(readValue),
    },
    {
      name: 'cockatiel retry()',
      library: COCKATIEL,
      fn: () => cockatiel.execute(readValue),
      role: 'competitor',
    },
    {
      name: 'p-retry',
      library: P_RETRY,
      fn: () => pRetry(readValue, pRetryOptions),
      role: 'competitor',
    },
  ],
};

/** One failure, one zero-delay retry, then success. */
export const retryOnce: Suite = {
  id: 'retry/fail-then-succeed',
  title: 'Retry a call that fails once, with a zero delay',
  description:
    'A fresh function per operation that rejects once and then resolves; the wrappers retry at ' +
    'once (zero delay). Baseline: the same function called twice by hand.',
  baseline: {
    name: 'fn() twice by hand',
    fn: async () => {
      const fn = failingOnce();
      try {
        return await fn();
      } catch {
        return fn();
      }
    },
  },
  cases: [
    {
      name: 'breakwater retry()',
      library: BREAKWATER,
      fn: () => ours.execute(failingOnce()),
      role: 'ours',
    },
    {
      name: 'breakwater retry() + memory budget',
      library: BREAKWATER,
      note: 'the retry withdraws a token from the budget (one store operation)',
      fn: () => oursWithBudget.execute(failingOnce()),
    },
    {
      name: 'cockatiel retry()',
      library: COCKATIEL,
      fn: () => cockatiel.execute(failingOnce()),
      role: 'competitor',
    },
    {
      name: 'p-retry',
      library: P_RETRY,
      fn: () => pRetry(failingOnce(), pRetryOptions),
      role: 'competitor',
    },
  ],
};

/** Every retry suite, registered in `suites/index.ts`. */
export const retrySuites: readonly Suite[] = [retrySuccess, retryOnce];
