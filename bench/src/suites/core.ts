/**
 * What `@breakwater/core` adds to a call: the timeout and fallback policies and `pipeline()`, and
 * the telemetry helpers every pattern uses when no OpenTelemetry SDK is registered.
 */
import { fallback, getTelemetry, pipeline, timeout } from '@breakwater/core';
import type { Suite } from '../harness.js';

const CORE = '@breakwater/core';

/** The protected call: an async function that does no I/O, so any wrapper cost is visible. */
async function readValue(): Promise<number> {
  return 42;
}

const timeoutAndFallback = pipeline(timeout({ ms: 1_000 }), fallback({ value: 0 }));
const cooperativeTimeout = timeout({ ms: 1_000 });
const aggressiveTimeout = timeout({ ms: 1_000, strategy: 'aggressive' });
const fallbackOnly = fallback({ value: 0 });

/** Bare call vs the same call through each core policy and through a two-policy pipeline. */
export const corePolicies: Suite = {
  id: 'core/policies',
  title: 'Core policies around an async call',
  description:
    'An async function returning a number, awaited bare (baseline) and through `execute()` of ' +
    'each core policy. Every call completes in time, so this is the cost of the happy path: ' +
    'for `timeout` a place in its deadline queue (no timer, no AbortController: `fn` does not ' +
    'read `ctx.signal`).',
  baseline: { name: 'await fn()', fn: () => readValue() },
  cases: [
    {
      name: 'pipeline(timeout, fallback)',
      library: CORE,
      fn: () => timeoutAndFallback.execute(readValue),
    },
    {
      name: 'timeout (cooperative)',
      library: CORE,
      fn: () => cooperativeTimeout.execute(readValue),
    },
    { name: 'timeout (aggressive)', library: CORE, fn: () => aggressiveTimeout.execute(readValue) },
    { name: 'fallback', library: CORE, fn: () => fallbackOnly.execute(readValue) },
  ],
};

// No SDK is registered in this process, so these are the OpenTelemetry API's no-op instruments:
// exactly what a Breakwater user without OpenTelemetry runs.
const telemetry = getTelemetry({ name: '@breakwater/bench', version: '0.0.0' });
const calls = telemetry.meter.createCounter('breakwater.bench.calls');
const duration = telemetry.meter.createHistogram('breakwater.bench.duration', { unit: 's' });
const attributes = { 'breakwater.policy.name': 'bench', 'breakwater.outcome': 'success' };

let state = 0x9e3779b9;

/** The loop body's real work: a few rounds of xorshift32, enough to be a non-trivial baseline. */
function work(): number {
  let x = state;
  for (let round = 0; round < 4; round++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  state = x >>> 0;
  return state;
}

/** The same loop body with and without the telemetry calls a policy makes on every call. */
export const coreTelemetry: Suite = {
  id: 'core/telemetry',
  title: 'Telemetry helpers with no OpenTelemetry SDK registered',
  description:
    'A synchronous loop body (a few xorshift rounds) without telemetry (baseline), and the same ' +
    'body plus the calls a policy makes per execution: `counter.add(1, attrs)`, ' +
    "`histogram.record(x, attrs)` and `telemetry.addSpanEvent('x')`. With no SDK the added cost " +
    'should be about zero.',
  baseline: { name: 'work()', fn: () => work() },
  cases: [
    {
      name: 'work() + counter.add + histogram.record',
      library: '@opentelemetry/api',
      fn: () => {
        const value = work();
        calls.add(1, attributes);
        duration.record(value / 2 ** 32, attributes);
        return value;
      },
    },
    {
      name: "work() + addSpanEvent('x')",
      library: CORE,
      fn: () => {
        const value = work();
        telemetry.addSpanEvent('x');
        return value;
      },
    },
    {
      name: 'work() + all three',
      library: CORE,
      fn: () => {
        const value = work();
        calls.add(1, attributes);
        duration.record(value / 2 ** 32, attributes);
        telemetry.addSpanEvent('x');
        return value;
      },
    },
  ],
};

/** The core suites, in the order they run. */
export const coreSuites: readonly Suite[] = [corePolicies, coreTelemetry];
