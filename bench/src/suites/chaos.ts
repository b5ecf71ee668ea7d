/**
 * What `chaos()` of `@breakwater/core` costs a call it does not inject into (issue #17: off by
 * default and free when off). Nothing comparable exists in the libraries `bench/` compares with
 * (cockatiel, opossum, p-retry have no fault injection), so the target is stated against the bare
 * call: a switched-off chaos policy takes at most 1.1× as long as `await fn()`.
 */
import { chaos, pipeline, timeout } from '@breakwater/core';
import type { Suite } from '../harness.js';

const CORE = '@breakwater/core';

/** The protected call: an async function that does no I/O, so any wrapper cost is visible. */
async function readValue(): Promise<number> {
  return 42;
}

const off = chaos({ fault: new Error('injected') });
/** Switched on, but never injecting: the cost of the per-call draw. */
const sparing = chaos({ fault: new Error('injected'), enabled: true, injectionRate: 0 });
/** Switched on and injecting a substitute result into every call (no SDK: telemetry no-ops). */
const answering = chaos({ outcome: 42, enabled: true, injectionRate: 1 });
const bounded = timeout({ ms: 1_000 });
const boundedWithChaosOff = pipeline(bounded, chaos({ latency: 100 }));

/** A chaos policy around a call, off, on but sparing it, and injecting. */
export const chaosSuite: Suite = {
  id: 'core/chaos',
  title: 'Chaos policy around an async call',
  description:
    'An async function returning a number, awaited bare (baseline) and through chaos(): switched ' +
    'off (the default), switched on with injectionRate 0 (one draw of Math.random per call), and ' +
    'injecting a substitute outcome into every call. The last two rows put a switched-off chaos ' +
    'policy inside pipeline(timeout()) next to the timeout alone.',
  baseline: { name: 'await fn()', fn: () => readValue() },
  cases: [
    {
      name: 'breakwater chaos() (off)',
      library: CORE,
      fn: () => off.execute(readValue),
      role: 'ours',
      targets: [{ metric: 'time', atMost: 1.1, issue: 17 }],
    },
    {
      name: 'breakwater chaos() (on, rate 0)',
      library: CORE,
      fn: () => sparing.execute(readValue),
    },
    {
      name: 'breakwater chaos() (on, outcome every call)',
      library: CORE,
      fn: () => answering.execute(readValue),
    },
    {
      name: 'breakwater timeout()',
      library: CORE,
      fn: () => bounded.execute(readValue),
    },
    {
      name: 'pipeline(timeout(), chaos() (off))',
      library: CORE,
      fn: () => boundedWithChaosOff.execute(readValue),
      note: 'the difference from timeout() alone is a pipeline layer, which a chaos policy is even when off',
    },
  ],
};

/** The chaos suites, in the order they run. */
export const chaosSuites: readonly Suite[] = [chaosSuite];
