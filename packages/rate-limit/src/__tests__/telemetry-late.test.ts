/**
 * A rate limiter built before the OpenTelemetry SDK is registered reports once it is; its wait
 * histogram carries bucket advice in seconds; and a decision taken while the store is degraded
 * is visible on the caller's span.
 */
import { ATTR_STORE_STATUS, WAIT_BUCKETS_SECONDS } from '@breakwater/core';
import { fakeClock, installOtel, type OtelHarness } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ATTR_DECISION,
  ATTR_SOURCE,
  EVENT_DENIED,
  EVENT_STORE_STATUS,
  METRIC_DECISIONS,
  METRIC_STORE_DURATION,
  METRIC_WAIT_DURATION,
  rateLimiter,
} from '../index.js';
import { scriptedStore } from './helpers.js';

let otel: OtelHarness | undefined;
afterEach(async () => {
  await otel?.uninstall();
  otel = undefined;
});

describe('rate limiter telemetry, SDK registered after the limiter was built', () => {
  it('reports decisions, waits and store operations, with wait buckets in seconds', async () => {
    const clock = fakeClock(0);
    const limiter = rateLimiter({
      name: 'late',
      limit: 1,
      intervalMs: 1000,
      store: scriptedStore(),
      clock,
    });
    otel = installOtel();
    await limiter.limit('k');
    const waiting = limiter.acquire('k');
    await clock.advance(1000);
    await waiting;
    const where = { 'breakwater.policy.name': 'late' };
    expect(await otel.sum(METRIC_DECISIONS, { ...where, [ATTR_DECISION]: 'allowed' })).toBe(2);
    expect(await otel.sum(METRIC_WAIT_DURATION, where)).toBe(1);
    expect(await otel.boundaries(METRIC_WAIT_DURATION)).toEqual(WAIT_BUCKETS_SECONDS);
    expect(await otel.sum(METRIC_STORE_DURATION, where)).toBeGreaterThan(0);
    await limiter.close();
  });
});

describe('rate limiter span events', () => {
  it('marks a denial taken while the store is degraded, then the recovery', async () => {
    otel = installOtel();
    const store = scriptedStore({ probe: true });
    const limiter = rateLimiter({
      name: 'outage',
      limit: 10,
      intervalMs: 1000,
      store,
      storeFailureThreshold: 1,
      storeProbeIntervalMs: 10,
      onStoreError: 'fail-closed',
    });
    await otel.tracer.startActiveSpan('request', async (span) => {
      store.failure = new Error('connect ECONNREFUSED');
      await limiter.limit('k');
      store.failure = undefined;
      await new Promise((resolve) => setTimeout(resolve, 50));
      span.end();
    });
    const [span] = otel.spans();
    const denied = span?.events.filter((e) => e.name === EVENT_DENIED);
    expect(denied?.map((e) => e.attributes?.[ATTR_SOURCE])).toEqual(['degraded']);
    const statuses = span?.events
      .filter((e) => e.name === EVENT_STORE_STATUS)
      .map((e) => e.attributes?.[ATTR_STORE_STATUS]);
    expect(statuses).toEqual(['degraded', 'healthy']);
    await limiter.close();
  });
});
