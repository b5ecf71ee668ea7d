import { type FakeClock, fakeClock, installOtel } from '@breakwater/testkit';
import { describe, expect, it, vi } from 'vitest';
import { adaptive, bulkhead, METRIC_LIMIT } from '../index.js';

/** Starts `workers` closed-loop callers whose calls take `latency()` ms of fake time. */
function load(
  clock: FakeClock,
  b: ReturnType<typeof bulkhead>,
  latency: () => number,
  workers: number,
  stop: { stopped: boolean },
): Promise<unknown> {
  return Promise.all(
    Array.from({ length: workers }, async () => {
      while (!stop.stopped) {
        await b.execute(() => clock.sleep(latency())).catch(() => {});
      }
    }),
  );
}

/** Advances fake time by `durationMs` and returns the limit seen after each 5 ms step. */
async function observe(clock: FakeClock, b: ReturnType<typeof bulkhead>, durationMs: number) {
  const limits: number[] = [];
  for (let t = 0; t < durationMs; t += 5) {
    await clock.advance(5);
    limits.push(b.maxConcurrent);
  }
  return limits;
}

async function phases(algorithm: 'aimd' | 'gradient') {
  const clock = fakeClock();
  const limit = adaptive({ algorithm, min: 2, max: 40, initial: 10, latencyThresholdMs: 30 });
  const b = bulkhead({ name: 'adaptive', limit, maxQueue: 1_000, clock });
  let latencyMs = 10;
  const stop = { stopped: false };
  const running = load(clock, b, () => latencyMs, 60, stop);
  const healthy = await observe(clock, b, 2_000);
  latencyMs = 60;
  const slow = await observe(clock, b, 1_500);
  latencyMs = 10;
  const recovered = await observe(clock, b, 3_000);
  stop.stopped = true;
  await clock.advance(1_000);
  await running;
  return { healthy, slow, recovered };
}

describe('adaptive limit', () => {
  for (const algorithm of ['aimd', 'gradient'] as const) {
    it(`${algorithm}: converges down when latency rises and back up when it recovers`, async () => {
      const { healthy, slow, recovered } = await phases(algorithm);
      const healthyLimit = healthy.at(-1)!;
      expect(healthyLimit).toBeGreaterThanOrEqual(30);
      expect(Math.min(...slow)).toBeLessThanOrEqual(healthyLimit / 2);
      expect(recovered.at(-1)!).toBeGreaterThanOrEqual(30);
    });
  }

  it('backs off on failures and ignores calls the caller cancelled', () => {
    const limit = adaptive({ algorithm: 'aimd', min: 1, max: 100, initial: 50 });
    limit.record({ rttMs: 5, inflight: 50, dropped: true });
    expect(limit.current).toBe(45);
    limit.record({ rttMs: 5, inflight: 45, dropped: false });
    expect(limit.current).toBe(46);
    // An idle bulkhead gives no evidence that more would fit.
    limit.record({ rttMs: 5, inflight: 3, dropped: false });
    expect(limit.current).toBe(46);
    const gradient = adaptive({ algorithm: 'gradient', min: 1, max: 100, initial: 50 });
    gradient.record({ rttMs: 5, inflight: 50, dropped: true });
    expect(gradient.current).toBe(45);
  });

  it('stays within [min, max] and notifies changes', () => {
    const limit = adaptive({ algorithm: 'aimd', min: 3, max: 5, initial: 4 });
    const seen: number[] = [];
    const dispose = limit.onChange((value) => seen.push(value));
    for (let i = 0; i < 5; i++) limit.record({ rttMs: 1, inflight: 10, dropped: false });
    for (let i = 0; i < 5; i++) limit.record({ rttMs: 1, inflight: 10, dropped: true });
    dispose();
    limit.record({ rttMs: 1, inflight: 10, dropped: false });
    expect(seen).toEqual([5, 4, 3]);
  });

  it('a change listener that throws is reported and neither breaks recording nor the others', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const limit = adaptive({ algorithm: 'aimd', min: 3, max: 5, initial: 4 });
      const seen: number[] = [];
      limit.onChange(() => {
        throw new Error('listener bug');
      });
      limit.onChange((value) => seen.push(value));
      expect(() => limit.record({ rttMs: 1, inflight: 10, dropped: false })).not.toThrow();
      expect(limit.current).toBe(5);
      expect(seen).toEqual([5]);
      expect(warn).toHaveBeenCalledWith(
        'A bulkhead adaptive onChange listener threw: listener bug',
        expect.objectContaining({ code: 'BREAKWATER_LISTENER_ERROR' }),
      );
    } finally {
      warn.mockRestore();
    }
  });

  it('validates its options and the bulkhead combination', () => {
    expect(() => adaptive({ min: 0 })).toThrow('`min`');
    expect(() => adaptive({ min: 5, max: 2 })).toThrow(
      'Expected `max` to be at least `min` (5), got 2',
    );
    expect(() => adaptive({ min: 1, max: 10, initial: 20 })).toThrow('`initial`');
    expect(() => adaptive({ algorithm: 'vegas' as 'aimd' })).toThrow('`algorithm`');
    expect(() => adaptive({ backoffRatio: 1 })).toThrow('`backoffRatio`');
    // @ts-expect-error -- both limits: refused by the types, and at run time
    expect(() => bulkhead({ maxConcurrent: 3, limit: adaptive() })).toThrow(
      'either `maxConcurrent` or `limit`',
    );
    expect(() =>
      bulkhead({ limit: adaptive({ min: 2, max: 10 }), classes: { a: { reserved: 3 }, b: {} } }),
    ).toThrow("fit in the adaptive limit's `min` (2)");
  });

  it('reports the current limit as a gauge', async () => {
    const otel = installOtel();
    try {
      const limit = adaptive({ algorithm: 'aimd', min: 1, max: 10, initial: 4 });
      const b = bulkhead({ name: 'gauge', limit });
      await b
        .execute(() => {
          throw new Error('overload');
        })
        .catch(() => {});
      expect(b.maxConcurrent).toBe(3);
      const metric = await otel.metric(METRIC_LIMIT);
      expect(
        metric?.points.find((p) => p.attributes['breakwater.policy.name'] === 'gauge')?.value,
      ).toBe(3);
    } finally {
      await otel.uninstall();
    }
  });
});
