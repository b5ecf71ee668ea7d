/**
 * A policy built before an OpenTelemetry SDK is registered (a module-level singleton, the usual
 * case) reports once one is: its instruments are resolved lazily (`LazyInstruments`), and the
 * histograms carry bucket advice in seconds.
 */
import { installOtel, type OtelHarness } from '@breakwater/testkit';
import { createNoopMeter, type Meter, metrics } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { fallback, LazyInstruments, pipeline, timeout } from '../index.js';
import { SDK_CHECK_INTERVAL } from '../lazy-instruments.js';
import { StoreCalls } from '../store/calls.js';
import { resolveStoreOptions } from '../store/options.js';
import { DURATION_BUCKETS_SECONDS, getTelemetry, WAIT_BUCKETS_SECONDS } from '../telemetry.js';

const SCOPE = { name: '@breakwater/core-test', version: '0.0.0' };
const refused = (): Promise<never> => Promise.reject(new Error('connect ECONNREFUSED'));

let otel: OtelHarness | undefined;
afterEach(async () => {
  await otel?.uninstall();
  otel = undefined;
});

/** Instruments whose creations are counted, by the meter they were made from. */
function countedInstruments() {
  const made: Meter[] = [];
  const released: Meter[] = [];
  const lazy = new LazyInstruments(
    SCOPE,
    (meter) => {
      made.push(meter);
      return { meter, calls: meter.createCounter('breakwater.test.calls', { unit: '{call}' }) };
    },
    (instruments) => released.push(instruments.meter),
  );
  return { lazy, made, released };
}

/** How many reads of `recording` it takes to see the SDK (at most `SDK_CHECK_INTERVAL + 1`). */
function readsUntilRecording(lazy: { readonly recording: boolean }): number {
  for (let reads = 1; reads <= SDK_CHECK_INTERVAL + 1; reads++) if (lazy.recording) return reads;
  return Number.POSITIVE_INFINITY;
}

describe('LazyInstruments', () => {
  it('stays on the no-op meter while no SDK is registered', () => {
    const { lazy, made } = countedInstruments();
    expect(lazy.recording).toBe(false);
    expect(lazy.recording).toBe(false);
    expect(made).toEqual([createNoopMeter()]);
  });

  it('makes the real instruments once, at the first record after an SDK registers', async () => {
    const { lazy, made } = countedInstruments();
    otel = installOtel();
    expect(made).toHaveLength(1);
    expect(lazy.recording).toBe(true);
    lazy.instruments.calls.add(2);
    expect(lazy.recording).toBe(true);
    lazy.instruments.calls.add(1);
    expect(made).toHaveLength(2);
    expect(made[1]).not.toBe(createNoopMeter());
    expect(await otel.sum('breakwater.test.calls')).toBe(3);
  });

  it('resolves through `instruments` too, for records that do not ask `recording` first', async () => {
    const { lazy } = countedInstruments();
    otel = installOtel();
    lazy.instruments.calls.add(1);
    expect(await otel.sum('breakwater.test.calls')).toBe(1);
  });

  it('is real from the start when built after the SDK, and never made again', () => {
    otel = installOtel();
    const { lazy, made } = countedInstruments();
    expect(lazy.recording).toBe(true);
    expect(made).toHaveLength(1);
    expect(made[0]).not.toBe(createNoopMeter());
  });

  it('ignores a registered no-op provider, and notices the SDK registered after it', () => {
    const { lazy, made } = countedInstruments();
    metrics.setGlobalMeterProvider({ getMeter: () => createNoopMeter() });
    expect(lazy.recording).toBe(false);
    metrics.disable();
    otel = installOtel();
    expect(readsUntilRecording(lazy)).toBe(SDK_CHECK_INTERVAL);
    expect(made).toHaveLength(2);
  });

  it('used before the SDK, notices it within SDK_CHECK_INTERVAL records', async () => {
    const { lazy, made } = countedInstruments();
    for (let i = 0; i < 5; i++) expect(lazy.recording).toBe(false);
    otel = installOtel();
    const reads = readsUntilRecording(lazy);
    expect(reads).toBeGreaterThan(0);
    expect(reads).toBeLessThanOrEqual(SDK_CHECK_INTERVAL);
    expect(made).toHaveLength(2);
  });

  it('`sampled` looks for the SDK as `recording` does, and hands out its instruments', async () => {
    const { lazy } = countedInstruments();
    otel = installOtel();
    for (let i = 0; i < SDK_CHECK_INTERVAL; i++) lazy.sampled.calls.add(1);
    expect(await otel.sum('breakwater.test.calls')).toBe(SDK_CHECK_INTERVAL);
  });

  it('releases real instruments on dispose(), and a disposed set never resolves', async () => {
    otel = installOtel();
    const real = countedInstruments();
    real.lazy.dispose();
    expect(real.released).toEqual(real.made);

    await otel.uninstall();
    const early = countedInstruments();
    early.lazy.dispose();
    otel = installOtel();
    expect(early.lazy.recording).toBe(false);
    expect(early.made).toEqual([createNoopMeter()]);
    expect(early.released).toEqual([]);
  });
});

describe('policies built before the SDK', () => {
  it('timeout() and fallback() report once an SDK is registered', async () => {
    const policy = pipeline(
      fallback({ value: 'queued', name: 'late-fallback' }),
      timeout({ ms: 5, name: 'late-timeout' }),
    );
    otel = installOtel();
    const hang = ({ signal }: { signal: AbortSignal }) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    await expect(policy.execute(hang)).resolves.toBe('queued');
    expect(await otel.sum('breakwater.timeout.timeouts')).toBe(1);
    expect(await otel.sum('breakwater.fallback.used')).toBe(1);
  });

  it('the store call path reports durations and errors, with bucket advice in seconds', async () => {
    const calls = new StoreCalls({
      pattern: 'rate-limit',
      policy: 'late',
      store: 'redis',
      settings: resolveStoreOptions({ storeDeadlineMs: 50 }, { onStoreError: 'fail-closed' }),
      telemetry: getTelemetry(SCOPE),
    });
    const get = calls.operation('get', async () => 1);
    const consume = calls.operation('consume', refused);
    otel = installOtel();
    await get.run();
    await consume.run().catch(() => {});
    expect(await otel.sum('breakwater.rate_limit.store.duration')).toBe(2);
    expect(await otel.sum('breakwater.rate_limit.store.errors')).toBe(1);
    expect(await otel.boundaries('breakwater.rate_limit.store.duration')).toEqual(
      DURATION_BUCKETS_SECONDS,
    );
    await calls.close();
  });
});

describe('bucket scales', () => {
  it('waits extend the call scale past 10 s, in increasing order', () => {
    expect(WAIT_BUCKETS_SECONDS.slice(0, DURATION_BUCKETS_SECONDS.length)).toEqual(
      DURATION_BUCKETS_SECONDS,
    );
    for (const scale of [DURATION_BUCKETS_SECONDS, WAIT_BUCKETS_SECONDS]) {
      expect([...scale].sort((a, b) => a - b)).toEqual(scale);
    }
    expect(WAIT_BUCKETS_SECONDS.at(-1)).toBe(300);
  });
});
