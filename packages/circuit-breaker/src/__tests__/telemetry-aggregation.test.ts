/**
 * The calls counter counts in the breaker and is read when the SDK collects; the duration
 * histogram records one call in `durationSampleEvery`. These tests check the exported values:
 * counts per outcome after N calls, across collections, after `close()`, summed over breakers of
 * one name; and which calls' durations the histogram holds.
 */
import { fakeClock, installOtel, type OtelHarness } from '@breakwater/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CircuitBreaker, circuitBreaker } from '../circuit-breaker.js';
import { ATTR_OUTCOME, METRIC_CALL_DURATION, METRIC_CALLS, METRIC_STATE } from '../telemetry.js';

let otel: OtelHarness;
beforeEach(() => {
  otel = installOtel();
});
afterEach(async () => {
  await otel.uninstall();
});

const NEVER_OPENS = { consecutiveFailures: 1_000_000 } as const;

/** The calls counter's value per outcome for breaker `name`. */
async function callsOf(name: string): Promise<Record<string, number>> {
  const metric = await otel.metric(METRIC_CALLS);
  const counts: Record<string, number> = {};
  for (const point of metric?.points ?? []) {
    if (point.attributes['breakwater.policy.name'] !== name) continue;
    counts[String(point.attributes[ATTR_OUTCOME])] = point.value as number;
  }
  return counts;
}

/** The duration histogram's count and sum (seconds) per outcome for breaker `name`. */
async function durationsOf(name: string): Promise<Record<string, { count: number; sum: number }>> {
  const metric = await otel.metric(METRIC_CALL_DURATION);
  const found: Record<string, { count: number; sum: number }> = {};
  for (const point of metric?.points ?? []) {
    if (point.attributes['breakwater.policy.name'] !== name) continue;
    const { count, sum = 0 } = point.value as { count: number; sum?: number };
    found[String(point.attributes[ATTR_OUTCOME])] = { count, sum: Math.round(sum * 1e6) / 1e6 };
  }
  return found;
}

/**
 * Runs calls 1..n one after the other; call `i` lasts `i` ms on `clock` and fails when `i` is
 * even.
 */
async function runNumberedCalls(
  breaker: CircuitBreaker,
  clock: ReturnType<typeof fakeClock>,
  n: number,
): Promise<void> {
  for (let i = 1; i <= n; i++) {
    await breaker
      .execute(() => {
        clock.set(clock.now() + i);
        if (i % 2 === 0) throw new Error(`call ${i}`);
        return i;
      })
      .catch(() => {});
  }
}

describe('the calls counter and the duration sample', () => {
  it('counts every call and records the duration of calls 1, 4, 7, 10 with durationSampleEvery 3', async () => {
    const clock = fakeClock(1_000);
    const breaker = circuitBreaker({
      name: 'sampled',
      clock,
      durationSampleEvery: 3,
      ...NEVER_OPENS,
    });
    await runNumberedCalls(breaker, clock, 10);
    expect(await callsOf('sampled')).toEqual({ success: 5, failure: 5 });
    // Calls 1 and 7 succeeded (1 + 7 ms), 4 and 10 failed (4 + 10 ms).
    expect(await durationsOf('sampled')).toEqual({
      success: { count: 2, sum: 0.008 },
      failure: { count: 2, sum: 0.014 },
    });
    await breaker.close();
  });

  it('samples the same calls when a listener has every call timed anyway', async () => {
    const clock = fakeClock(1_000);
    const breaker = circuitBreaker({
      name: 'listened',
      clock,
      durationSampleEvery: 3,
      ...NEVER_OPENS,
    });
    const seen: number[] = [];
    breaker.onSuccess(({ durationMs }) => seen.push(durationMs));
    await runNumberedCalls(breaker, clock, 10);
    expect(seen).toEqual([1, 3, 5, 7, 9]);
    expect(await callsOf('listened')).toEqual({ success: 5, failure: 5 });
    expect(await durationsOf('listened')).toEqual({
      success: { count: 2, sum: 0.008 },
      failure: { count: 2, sum: 0.014 },
    });
    await breaker.close();
  });

  it('records the durations of the calls it timed when calls overlap', async () => {
    const clock = fakeClock(1_000);
    const breaker = circuitBreaker({
      name: 'overlapping',
      clock,
      durationSampleEvery: 2,
      ...NEVER_OPENS,
    });
    const releases: (() => void)[] = [];
    const calls = [1, 2, 3, 4].map(() =>
      breaker.execute(() => new Promise<void>((resolve) => releases.push(resolve))),
    );
    // Calls 1 and 3 started timed. They settle last-first, 10 ms apart: call 4 at +10 ms, call 3
    // at +20 (20 ms long), call 2 at +30, call 1 at +40 (40 ms long).
    for (let i = 3; i >= 0; i--) {
      clock.set(clock.now() + 10);
      releases[i]!();
      await calls[i];
    }
    expect(await callsOf('overlapping')).toEqual({ success: 4 });
    expect(await durationsOf('overlapping')).toEqual({ success: { count: 2, sum: 0.06 } });
    await breaker.close();
  });

  it('records no duration with durationSampleEvery 0, and still counts every call', async () => {
    const clock = fakeClock(1_000);
    const breaker = circuitBreaker({
      name: 'uncounted-durations',
      clock,
      durationSampleEvery: 0,
      ...NEVER_OPENS,
    });
    await runNumberedCalls(breaker, clock, 6);
    expect(await callsOf('uncounted-durations')).toEqual({ success: 3, failure: 3 });
    expect(await durationsOf('uncounted-durations')).toEqual({});
    await breaker.close();
  });

  it('reports cumulative counts across collections', async () => {
    const clock = fakeClock(1_000);
    const breaker = circuitBreaker({ name: 'cumulative', clock, ...NEVER_OPENS });
    await runNumberedCalls(breaker, clock, 3);
    expect(await callsOf('cumulative')).toEqual({ success: 2, failure: 1 });
    expect(await callsOf('cumulative')).toEqual({ success: 2, failure: 1 });
    await runNumberedCalls(breaker, clock, 4);
    expect(await callsOf('cumulative')).toEqual({ success: 4, failure: 3 });
    await breaker.close();
  });

  it('reports the calls counted before close() at the next collection', async () => {
    const clock = fakeClock(1_000);
    const breaker = circuitBreaker({ name: 'closing', clock, ...NEVER_OPENS });
    await runNumberedCalls(breaker, clock, 5);
    await breaker.close();
    expect(await callsOf('closing')).toEqual({ success: 3, failure: 2 });
    expect(await callsOf('closing')).toEqual({ success: 3, failure: 2 });
    // The state gauge, unlike a count, stops with the breaker.
    expect((await otel.metric(METRIC_STATE))?.points ?? []).toEqual([]);
  });

  it('adds up the breakers of one name and store into one series', async () => {
    const clock = fakeClock(1_000);
    const first = circuitBreaker({ name: 'shared', clock, ...NEVER_OPENS });
    const second = circuitBreaker({ name: 'shared', clock, ...NEVER_OPENS });
    const other = circuitBreaker({ name: 'other', clock, ...NEVER_OPENS });
    await runNumberedCalls(first, clock, 3);
    await runNumberedCalls(second, clock, 2);
    await runNumberedCalls(other, clock, 1);
    expect(await callsOf('shared')).toEqual({ success: 3, failure: 2 });
    expect(await callsOf('other')).toEqual({ success: 1 });
    const points = (await otel.metric(METRIC_CALLS))?.points ?? [];
    expect(points).toHaveLength(3);
    await first.close();
    // A breaker rebuilt under the name carries on from the series' count.
    const rebuilt = circuitBreaker({ name: 'shared', clock, ...NEVER_OPENS });
    await runNumberedCalls(rebuilt, clock, 1);
    expect(await callsOf('shared')).toEqual({ success: 4, failure: 2 });
    await Promise.all([second.close(), other.close(), rebuilt.close()]);
  });
});
