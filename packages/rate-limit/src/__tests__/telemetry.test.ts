import { fakeClock, installOtel } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EVENT_DENIED,
  EVENT_STORE_STATUS,
  METRIC_DECISIONS,
  METRIC_STORE_DURATION,
  METRIC_STORE_ERRORS,
  METRIC_WAIT_DURATION,
  rateLimiter,
} from '../index.js';
import { scriptedStore } from './helpers.js';

let otel: ReturnType<typeof installOtel> | undefined;
afterEach(async () => {
  await otel?.uninstall();
  otel = undefined;
});

describe('telemetry', () => {
  it('counts decisions by decision and source, never with the key', async () => {
    otel = installOtel();
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({ name: 'tel', limit: 1, intervalMs: 1000, store, clock });
    await limiter.limit('secret-user-key');
    await limiter.limit('secret-user-key');
    await limiter.limit('secret-user-key');
    const base = { 'breakwater.policy.name': 'tel', 'breakwater.store': 'scripted' };
    expect(
      await otel.sum(METRIC_DECISIONS, {
        ...base,
        'breakwater.rate_limit.decision': 'allowed',
        'breakwater.rate_limit.source': 'store',
      }),
    ).toBe(1);
    expect(
      await otel.sum(METRIC_DECISIONS, {
        'breakwater.rate_limit.decision': 'denied',
        'breakwater.rate_limit.source': 'local-cache',
      }),
    ).toBe(2);
    // Store telemetry is core's: the same names and attributes in every pattern.
    expect(METRIC_STORE_DURATION).toBe('breakwater.rate_limit.store.duration');
    expect(
      await otel.sum(METRIC_STORE_DURATION, {
        ...base,
        'breakwater.store.operation': 'consume',
        'breakwater.store.outcome': 'ok',
      }),
    ).toBe(1);
    expect((await otel.metric(METRIC_STORE_DURATION))?.unit).toBe('s');
    const serialized = JSON.stringify(await otel.collect());
    expect(serialized).not.toContain('secret-user-key');
  });

  it('records acquire() waits and store errors, and adds a span event on denial', async () => {
    otel = installOtel();
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'tel2',
      limit: 10,
      intervalMs: 1000,
      store,
      clock,
      storeFailureThreshold: 1,
    });
    await limiter.acquire('k');
    const waiting = limiter.acquire('k');
    await clock.advance(100);
    await waiting;
    expect(
      await otel.sum(METRIC_WAIT_DURATION, { 'breakwater.rate_limit.outcome': 'acquired' }),
    ).toBe(2);
    const histogram = await otel.metric(METRIC_WAIT_DURATION);
    expect(histogram?.unit).toBe('s');

    await otel.tracer.startActiveSpan('request', async (span) => {
      await limiter.limit('k');
      span.end();
    });
    const events = otel.spans().flatMap((span) => span.events.map((event) => event.name));
    expect(events).toContain('breakwater.rate_limit.denied');

    store.failure = new Error('connection refused');
    await otel.tracer.startActiveSpan('outage', async (span) => {
      await limiter.limit('other');
      // Degraded: answered without calling the store, and still reported as a degraded decision.
      await limiter.limit('other');
      span.end();
    });
    const errors = (outcome: string) =>
      otel!.sum(METRIC_STORE_ERRORS, {
        'breakwater.policy.name': 'tel2',
        'breakwater.store': 'scripted',
        'breakwater.store.operation': 'consume',
        'breakwater.store.outcome': outcome,
      });
    expect(await errors('error')).toBe(1);
    expect(await errors('degraded')).toBe(1);
    // The default `onStoreError: 'local'`: this replica's own limit (10/s, burst 0) answers.
    expect(
      await otel.sum(METRIC_DECISIONS, {
        'breakwater.rate_limit.decision': 'allowed',
        'breakwater.rate_limit.source': 'degraded',
      }),
    ).toBe(1);
    expect(
      await otel.sum(METRIC_DECISIONS, {
        'breakwater.rate_limit.decision': 'denied',
        'breakwater.rate_limit.source': 'degraded',
      }),
    ).toBe(1);
    const outage = otel.spans().find((span) => span.name === 'outage');
    // One status event for the outage, none per failed call.
    expect(
      outage?.events
        .filter((event) => event.name !== EVENT_DENIED)
        .map((event) => [event.name, event.attributes?.['breakwater.store.status']]),
    ).toEqual([[EVENT_STORE_STATUS, 'degraded']]);
    // …and the local limit's denial, like any denial.
    expect(outage?.events.filter((event) => event.name === EVENT_DENIED)).toHaveLength(1);
    await limiter.close();
  });
});
