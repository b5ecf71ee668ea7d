/**
 * What `timeout()` of `@breakwater/core` adds to a call, with and without `fn` reading
 * `ctx.signal`, against cockatiel's `timeout()` (issue #18: ≤ 150 ns per call, and no
 * AbortController or timer per call unless `fn` reads the signal).
 */
import { timeout } from '@breakwater/core';
import { timeout as cockatielTimeout, TimeoutStrategy } from 'cockatiel';
import type { Suite } from '../harness.js';

const CORE = '@breakwater/core';
const COCKATIEL = 'cockatiel';

/** The protected call: an async function that does no I/O, so any wrapper cost is visible. */
async function readValue(): Promise<number> {
  return 42;
}

/** Where the signal read by {@link readingSignal} goes, so the read cannot be optimised away. */
export const signalSink: { signal: AbortSignal | undefined } = { signal: undefined };

/** The same call, reading `ctx.signal` first as a call that passes it on (`fetch`) does. */
function readingSignal(ctx: { readonly signal: AbortSignal }): Promise<number> {
  signalSink.signal = ctx.signal;
  return readValue();
}

const cooperative = timeout({ ms: 1_000 });
const aggressive = timeout({ ms: 1_000, strategy: 'aggressive' });
const cockatielCooperative = cockatielTimeout(1_000, TimeoutStrategy.Cooperative);

/** One timeout around a call that finishes in time. */
export const timeoutSuccess: Suite = {
  id: 'core/timeout',
  title: 'Timeout around an async call that finishes in time',
  description:
    'An async function returning a number, awaited bare (baseline) and through a 1 s timeout ' +
    '(cooperative unless named), with `fn` ignoring `ctx.signal` and with `fn` reading it (as a ' +
    'call passing it to `fetch` does). Every call finishes in time: this is what a timeout adds ' +
    'to every call.',
  baseline: { name: 'await fn()', fn: () => readValue() },
  cases: [
    {
      name: 'breakwater timeout()',
      library: CORE,
      fn: () => cooperative.execute(readValue),
      role: 'ours',
      pairsWith: ['cockatiel timeout()'],
      targets: [{ metric: 'added', atMost: 150, issue: 18 }],
    },
    {
      name: 'breakwater timeout() (aggressive)',
      library: CORE,
      fn: () => aggressive.execute(readValue),
    },
    {
      name: 'breakwater timeout(), fn reads signal',
      library: CORE,
      fn: () => cooperative.execute(readingSignal),
      role: 'ours',
      pairsWith: ['cockatiel timeout(), fn reads signal'],
    },
    {
      name: 'cockatiel timeout()',
      library: COCKATIEL,
      fn: () => cockatielCooperative.execute(readValue),
      role: 'competitor',
    },
    {
      name: 'cockatiel timeout(), fn reads signal',
      library: COCKATIEL,
      fn: () => cockatielCooperative.execute(readingSignal),
      role: 'competitor',
    },
  ],
};

/** The timeout suites, in the order they run. */
export const timeoutSuites: readonly Suite[] = [timeoutSuccess];
