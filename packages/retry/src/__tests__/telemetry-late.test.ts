/**
 * Retry policies, hedges and budgets built before the OpenTelemetry SDK is registered report once
 * it is; the delay histogram carries bucket advice in seconds; and a hedged attempt is marked on
 * the caller's span.
 */
import { ATTR_POLICY_NAME, WAIT_BUCKETS_SECONDS } from '@breakwater/core';
import { fakeClock, installOtel, type OtelHarness } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ATTR_ATTEMPT,
  constant,
  EVENT_HEDGE,
  hedge,
  METRIC_ATTEMPTS,
  METRIC_BUDGET_AVAILABLE,
  METRIC_DELAY,
  METRIC_HEDGE_WINS,
  METRIC_HEDGES,
  retry,
  retryBudget,
} from '../index.js';
import { failing } from './helpers.js';

let otel: OtelHarness | undefined;
afterEach(async () => {
  await otel?.uninstall();
  otel = undefined;
});

describe('retry telemetry, SDK registered after the policies were built', () => {
  it('retry() reports attempts and delays, with delay buckets in seconds', async () => {
    const clock = fakeClock();
    const budget = retryBudget({ name: 'late-budget', ratio: 1, clock });
    const policy = retry({
      name: 'late',
      clock,
      maxAttempts: 3,
      backoff: constant({ delayMs: 250 }),
      budget,
    });
    otel = installOtel();
    const call = policy.execute(failing(1, 'ok'));
    await clock.advance(250);
    await call;
    const where = { [ATTR_POLICY_NAME]: 'late' };
    expect(await otel.sum(METRIC_ATTEMPTS, where)).toBe(2);
    expect(await otel.sum(METRIC_DELAY, where)).toBe(1);
    expect(await otel.boundaries(METRIC_DELAY)).toEqual(WAIT_BUCKETS_SECONDS);
    const available = await otel.metric(METRIC_BUDGET_AVAILABLE);
    expect(available?.points[0]?.attributes[ATTR_POLICY_NAME]).toBe('late-budget');
    await budget.close();
  });

  it('hedge() reports hedges and wins', async () => {
    const clock = fakeClock();
    const policy = hedge({ delayMs: 5, clock, name: 'late-hedge' });
    otel = installOtel();
    const attempts: ((value: string) => void)[] = [];
    const call = policy.execute(() => new Promise<string>((resolve) => attempts.push(resolve)));
    await clock.advance(5);
    attempts[1]?.('from the hedge');
    await call;
    expect(await otel.sum(METRIC_HEDGES)).toBe(1);
    expect(await otel.sum(METRIC_HEDGE_WINS)).toBe(1);
  });
});

describe('retry span events', () => {
  it('adds hedge to the active span for each hedged attempt, with its attempt number', async () => {
    otel = installOtel();
    const clock = fakeClock();
    const policy = hedge({ delayMs: 5, maxHedges: 2, clock, name: 'search' });
    await otel.tracer.startActiveSpan('request', async (span) => {
      const attempts: ((value: string) => void)[] = [];
      const call = policy.execute(() => new Promise<string>((resolve) => attempts.push(resolve)));
      await clock.advance(10);
      attempts[0]?.('primary');
      await call;
      span.end();
    });
    const [span] = otel.spans();
    const hedges = span?.events.filter((e) => e.name === EVENT_HEDGE);
    expect(hedges?.map((e) => e.attributes?.[ATTR_ATTEMPT])).toEqual([2, 3]);
    expect(hedges?.[0]?.attributes?.[ATTR_POLICY_NAME]).toBe('search');
  });
});
