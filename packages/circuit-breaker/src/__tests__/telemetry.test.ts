import { fakeClock, installOtel, type OtelHarness } from '@breakwater/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { circuitBreaker } from '../circuit-breaker.js';
import {
  ATTR_FROM,
  ATTR_OUTCOME,
  ATTR_STATE,
  ATTR_TO,
  EVENT_REJECTED,
  EVENT_TRANSITION,
  METRIC_CALL_DURATION,
  METRIC_CALLS,
  METRIC_STATE,
  METRIC_TRANSITIONS,
} from '../telemetry.js';

let otel: OtelHarness;
beforeEach(() => {
  otel = installOtel();
});
afterEach(async () => {
  await otel.uninstall();
});

const base = { 'breakwater.policy.name': 'payments', 'breakwater.store': 'memory' };

describe('telemetry', () => {
  it('counts calls by outcome, records durations, transitions and the state gauge', async () => {
    const clock = fakeClock(0);
    const breaker = circuitBreaker({
      name: 'payments',
      clock,
      consecutiveFailures: 2,
      timeoutMs: 10,
      durationSampleEvery: 1,
      shouldHandle: (o) => o.kind === 'error' && (o.error as Error).message !== 'ignored',
    });
    await breaker.execute(() => 1);
    await breaker.execute(() => Promise.reject(new Error('ignored'))).catch(() => {});
    await breaker.execute(() => new Promise((r) => setTimeout(r, 200).unref())).catch(() => {});
    await breaker.execute(() => Promise.reject(new Error('x'))).catch(() => {});
    await breaker.execute(() => 1).catch(() => {});

    expect(await otel.sum(METRIC_CALLS, { ...base, [ATTR_OUTCOME]: 'success' })).toBe(1);
    expect(await otel.sum(METRIC_CALLS, { ...base, [ATTR_OUTCOME]: 'ignored' })).toBe(1);
    expect(await otel.sum(METRIC_CALLS, { ...base, [ATTR_OUTCOME]: 'timeout' })).toBe(1);
    expect(await otel.sum(METRIC_CALLS, { ...base, [ATTR_OUTCOME]: 'failure' })).toBe(1);
    expect(await otel.sum(METRIC_CALLS, { ...base, [ATTR_OUTCOME]: 'rejected' })).toBe(1);
    expect(await otel.sum(METRIC_CALL_DURATION, base)).toBe(4);
    expect((await otel.metric(METRIC_CALL_DURATION))?.unit).toBe('s');
    expect(
      await otel.sum(METRIC_TRANSITIONS, { ...base, [ATTR_FROM]: 'closed', [ATTR_TO]: 'open' }),
    ).toBe(1);

    const gauge = await otel.metric(METRIC_STATE);
    const byState = Object.fromEntries(
      gauge!.points.map((p) => [p.attributes[ATTR_STATE], p.value]),
    );
    expect(byState).toEqual({ closed: 0, open: 1, 'half-open': 0, isolated: 0, disabled: 0 });
    await breaker.close();
  });

  it('adds transition and rejection events to the active span', async () => {
    const breaker = circuitBreaker({ name: 'payments', consecutiveFailures: 1 });
    await otel.tracer.startActiveSpan('request', async (span) => {
      await breaker.execute(() => Promise.reject(new Error('x'))).catch(() => {});
      await breaker.execute(() => 1).catch(() => {});
      span.end();
    });
    const [span] = otel.spans();
    const events = span!.events.map((e) => e.name);
    expect(events).toEqual([EVENT_TRANSITION, EVENT_REJECTED]);
    expect(span!.events[0]!.attributes).toMatchObject({
      ...base,
      [ATTR_FROM]: 'closed',
      [ATTR_TO]: 'open',
    });
    await breaker.close();
  });

  it('stops observing the state gauge after close()', async () => {
    const breaker = circuitBreaker({ name: 'payments' });
    await breaker.close();
    const gauge = await otel.metric(METRIC_STATE);
    expect(gauge?.points ?? []).toEqual([]);
  });
});
