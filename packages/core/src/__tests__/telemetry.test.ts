import { installOtel, type OtelHarness } from '@breakwater/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ATTR_POLICY_NAME, fallback, getTelemetry, pipeline, timeout } from '../index.js';

describe('telemetry', () => {
  let otel: OtelHarness;
  beforeEach(() => {
    otel = installOtel();
  });
  afterEach(async () => {
    await otel.uninstall();
  });

  it('counts timeouts and fallbacks, and adds events to the active span', async () => {
    const policy = pipeline(
      fallback({ value: 'queued', name: 'payments-fallback' }),
      timeout({ ms: 5, name: 'payments' }),
    );
    await otel.tracer.startActiveSpan('request', async (span) => {
      await expect(
        policy.execute(
          ({ signal }) =>
            new Promise((_, reject) =>
              signal.addEventListener('abort', () => reject(signal.reason)),
            ),
        ),
      ).resolves.toBe('queued');
      span.end();
    });
    expect(await otel.sum('breakwater.timeout.timeouts', { [ATTR_POLICY_NAME]: 'payments' })).toBe(
      1,
    );
    expect(
      await otel.sum('breakwater.fallback.used', { [ATTR_POLICY_NAME]: 'payments-fallback' }),
    ).toBe(1);
    const [request] = otel.spans();
    expect(request?.events.map((e) => e.name)).toEqual([
      'breakwater.timeout.timed_out',
      'breakwater.fallback.used',
    ]);
    expect(request?.events[0]?.attributes).toMatchObject({
      [ATTR_POLICY_NAME]: 'payments',
      'breakwater.timeout.strategy': 'cooperative',
    });
  });

  it('adds nothing and never starts a span when no span is active', async () => {
    const telemetry = getTelemetry({ name: '@breakwater/test', version: '0.0.0' });
    telemetry.addSpanEvent('orphan');
    await timeout({ ms: 100 }).execute(() => 1);
    expect(otel.spans()).toEqual([]);
  });

  it('is a no-op without an SDK', async () => {
    await otel.uninstall();
    const telemetry = getTelemetry({ name: '@breakwater/test', version: '0.0.0' });
    telemetry.meter.createCounter('x').add(1);
    telemetry.addSpanEvent('nothing');
    otel = installOtel();
    expect(await otel.collect()).toEqual([]);
  });
});
