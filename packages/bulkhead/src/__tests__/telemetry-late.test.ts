/**
 * A bulkhead built before the OpenTelemetry SDK is registered reports once it is; its wait
 * histogram carries bucket advice in seconds; and the span events the other telemetry tests do
 * not reach (a lost lease, a permit store that degrades and recovers) are emitted as documented.
 */
import { ATTR_POLICY_NAME, ATTR_STORE_STATUS, WAIT_BUCKETS_SECONDS } from '@breakwater/core';
import { fakeClock, installOtel, type OtelHarness } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bulkhead,
  EVENT_LEASE_LOST,
  EVENT_STORE_STATUS,
  METRIC_ACTIVE,
  METRIC_LIMIT,
  METRIC_QUEUED,
  METRIC_REJECTED,
  METRIC_WAIT_DURATION,
  memoryStore,
  type PermitStore,
} from '../index.js';
import { caught, deferred } from './helpers.js';

let otel: OtelHarness | undefined;
afterEach(async () => {
  await otel?.uninstall();
  otel = undefined;
});

/** A memory permit store whose `acquire` fails while `down.value` is true. */
function switchableStore(down: { value: boolean }): PermitStore {
  const memory = memoryStore();
  return {
    kind: 'redis',
    close: () => memory.close(),
    [Symbol.asyncDispose]: () => memory.close(),
    scope(...args: Parameters<PermitStore['scope']>) {
      const inner = memory.scope(...args);
      return new Proxy(inner, {
        get(target, property) {
          if (property === 'acquire' && down.value) {
            return () => Promise.reject(new Error('connect ECONNREFUSED'));
          }
          const value: unknown = Reflect.get(target, property);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
  };
}

describe('bulkhead telemetry, SDK registered after the bulkhead was built', () => {
  it('reports calls, waits, rejections and the limit, with wait buckets in seconds', async () => {
    // One class, no store, built with no SDK: the bulkhead has its fast path, which must give way.
    const b = bulkhead({ name: 'late', maxConcurrent: 3, maxQueue: 1 });
    otel = installOtel();
    const where = { [ATTR_POLICY_NAME]: 'late' };
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const running = gates.map((gate) => b.execute(() => gate.promise));
    expect(await caught(b.execute(() => 'refused'))).toBeInstanceOf(Error);
    expect(await otel.sum(METRIC_ACTIVE, where)).toBe(3);
    expect(await otel.sum(METRIC_QUEUED, where)).toBe(1);
    for (const gate of gates) gate.resolve();
    await Promise.all(running);
    expect(await otel.sum(METRIC_ACTIVE, where)).toBe(0);
    expect(await otel.sum(METRIC_QUEUED, where)).toBe(0);
    expect(await otel.sum(METRIC_REJECTED, where)).toBe(1);
    expect(await otel.sum(METRIC_WAIT_DURATION, where)).toBe(4);
    expect(await otel.boundaries(METRIC_WAIT_DURATION)).toEqual(WAIT_BUCKETS_SECONDS);
    expect((await otel.metric(METRIC_LIMIT))?.points[0]?.value).toBe(3);
    await b.close();
  });

  it('a call that started before the SDK is not taken back from the active count', async () => {
    // Two classes: no fast path, every call reads whether an SDK records.
    const b = bulkhead({
      name: 'straddling',
      maxConcurrent: 2,
      classes: { critical: { reserved: 1 }, background: {} },
    });
    const where = { [ATTR_POLICY_NAME]: 'straddling' };
    const gate = deferred();
    const early = b.execute(() => gate.promise, { priority: 'background' });
    otel = installOtel();
    // Enough calls for the bulkhead to notice the SDK (see `SDK_CHECK_INTERVAL`) while the
    // early call still runs.
    for (let i = 0; i < 20; i++) await b.execute(() => i, { priority: 'critical' });
    expect(await otel.sum(METRIC_WAIT_DURATION, where)).toBeGreaterThan(0);
    gate.resolve();
    await early;
    expect(await otel.sum(METRIC_ACTIVE, where)).toBe(0);
    await b.close();
  });
});

describe('bulkhead span events', () => {
  it('adds lease_lost to the active span when a running call loses its fleet permit', async () => {
    otel = installOtel();
    const clock = fakeClock(1_000_000);
    const b = bulkhead({
      name: 'leases',
      maxConcurrent: 2,
      store: memoryStore({ clock }),
      leaseTtlMs: 300,
      clock,
    });
    await otel.tracer.startActiveSpan('request', async (span) => {
      const gate = deferred();
      const running = b.execute(() => gate.promise);
      await clock.advance(1);
      // Time jumps past the lease: the next renewal finds it gone.
      clock.set(clock.now() + 1_000);
      await clock.advance(100);
      gate.resolve();
      await caught(running);
      span.end();
    });
    const [span] = otel.spans();
    const lost = span?.events.filter((e) => e.name === EVENT_LEASE_LOST);
    expect(lost).toHaveLength(1);
    expect(lost?.[0]?.attributes?.[ATTR_POLICY_NAME]).toBe('leases');
    await b.close();
  });

  it('adds store.status degraded, then healthy, when the permit store fails and comes back', async () => {
    otel = installOtel();
    const down = { value: true };
    const b = bulkhead({
      name: 'flaky',
      maxConcurrent: 2,
      store: switchableStore(down),
      storeFailureThreshold: 1,
      storeProbeIntervalMs: 10,
      onStoreError: 'fail-open',
    });
    await otel.tracer.startActiveSpan('request', async (span) => {
      await b.execute(() => 'through a failed store');
      down.value = false;
      // Past the probe interval a real call goes to the store, and its success ends the outage.
      await new Promise((resolve) => setTimeout(resolve, 30));
      await b.execute(() => 'through a healthy store');
      span.end();
    });
    const [span] = otel.spans();
    const statuses = span?.events
      .filter((e) => e.name === EVENT_STORE_STATUS)
      .map((e) => e.attributes?.[ATTR_STORE_STATUS]);
    expect(statuses).toEqual(['degraded', 'healthy']);
    await b.close();
  });
});
