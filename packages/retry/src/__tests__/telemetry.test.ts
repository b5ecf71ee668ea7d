import { ATTR_POLICY_NAME } from '@breakwater/core';
import { fakeClock, installOtel, type OtelHarness } from '@breakwater/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ATTR_DEAD_LETTER_OUTCOME,
  ATTR_OUTCOME,
  constant,
  EVENT_GIVE_UP,
  EVENT_RETRY,
  METRIC_ATTEMPTS,
  METRIC_DEAD_LETTERS,
  METRIC_DELAY,
  retry,
} from '../index.js';
import { failing } from './helpers.js';

describe('retry telemetry', () => {
  let otel: OtelHarness;
  beforeEach(() => {
    otel = installOtel();
  });
  afterEach(async () => {
    await otel.uninstall();
  });

  it('counts attempts by outcome, records delays in seconds and adds span events', async () => {
    const clock = fakeClock();
    const policy = retry({
      name: 'payments',
      clock,
      maxAttempts: 3,
      backoff: constant({ delayMs: 250 }),
    });
    const at = (outcome: string) => ({ [ATTR_POLICY_NAME]: 'payments', [ATTR_OUTCOME]: outcome });

    await otel.tracer.startActiveSpan('call', async (span) => {
      const ok = policy.execute(failing(1, 'ok'));
      await clock.advance(250);
      await ok;
      const bad = policy.execute(failing(5, 'x'));
      bad.catch(() => {});
      await clock.advance(500);
      await bad.catch(() => {});
      span.end();
    });

    expect(await otel.sum(METRIC_ATTEMPTS, at('success'))).toBe(1);
    expect(await otel.sum(METRIC_ATTEMPTS, at('retry'))).toBe(3);
    expect(await otel.sum(METRIC_ATTEMPTS, at('give-up'))).toBe(1);
    const delay = await otel.metric(METRIC_DELAY);
    expect(delay?.unit).toBe('s');
    const histogram = delay?.points[0]?.value as { sum: number; count: number };
    expect(histogram).toMatchObject({ count: 3, sum: 0.75 });
    const events = otel.spans()[0]?.events.map((e) => e.name);
    expect(events).toEqual([EVENT_RETRY, EVENT_RETRY, EVENT_RETRY, EVENT_GIVE_UP]);
  });

  it('counts dead letters written and failed', async () => {
    let fail = false;
    const policy = retry({
      name: 'dl',
      maxAttempts: 1,
      deadLetter: () => {
        if (fail) throw new Error('dl down');
      },
    });
    await policy.execute(failing(1, 'x')).catch(() => {});
    fail = true;
    await policy.execute(failing(1, 'x')).catch(() => {});
    expect(await otel.sum(METRIC_DEAD_LETTERS, { [ATTR_DEAD_LETTER_OUTCOME]: 'written' })).toBe(1);
    expect(await otel.sum(METRIC_DEAD_LETTERS, { [ATTR_DEAD_LETTER_OUTCOME]: 'failed' })).toBe(1);
  });
});
