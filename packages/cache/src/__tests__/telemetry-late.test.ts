/**
 * A cache and a write-behind built before the OpenTelemetry SDK is registered report once it is;
 * their duration histograms carry bucket advice in seconds; and their span events (grace, the
 * store degrading and recovering, write-behind's writes, flushes and dead letters) are emitted.
 */
import { ATTR_POLICY_NAME, ATTR_STORE_STATUS, DURATION_BUCKETS_SECONDS } from '@breakwater/core';
import { installOtel, type OtelHarness } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ATTR_WB_ENTRIES,
  ATTR_WB_OUTCOME,
  BATCH_SIZE_BUCKETS,
  cache,
  EVENT_GRACE,
  EVENT_STORE_STATUS,
  EVENT_WB_DEAD_LETTER,
  EVENT_WB_FLUSH,
  EVENT_WB_WRITE,
  METRIC_L1_ENTRIES,
  METRIC_LOADER_DURATION,
  METRIC_REQUESTS,
  METRIC_WB_BATCH_SIZE,
  METRIC_WB_PENDING,
  METRIC_WB_PERSIST_DURATION,
  METRIC_WB_WRITES,
  memoryStore,
  writeBehind,
} from '../index.js';
import { interceptedStore, testCache } from './helpers.js';

let otel: OtelHarness | undefined;
afterEach(async () => {
  await otel?.uninstall();
  otel = undefined;
});

/** Span events of the one span the test made, by name. */
function eventsOf(name: string) {
  const [span] = otel!.spans();
  return span?.events.filter((e) => e.name === name) ?? [];
}

describe('cache telemetry, SDK registered after the cache was built', () => {
  it('reports requests, loader durations and the L1 size, with buckets in seconds', async () => {
    const { c } = testCache();
    otel = installOtel();
    await c.getOrLoad('k', async () => 1);
    await c.getOrLoad('k', async () => 1);
    const where = { [ATTR_POLICY_NAME]: 'test' };
    expect(await otel.sum(METRIC_REQUESTS, where)).toBe(2);
    expect(await otel.sum(METRIC_LOADER_DURATION, where)).toBe(1);
    expect(await otel.boundaries(METRIC_LOADER_DURATION)).toEqual(DURATION_BUCKETS_SECONDS);
    expect((await otel.metric(METRIC_L1_ENTRIES))?.points[0]?.value).toBe(1);
    await c.close();
  });

  it('write-behind reports writes, persist calls and the backlog, with buckets', async () => {
    const wb = writeBehind<number>({ name: 'late-wb', persist: async () => {}, flusher: false });
    otel = installOtel();
    await wb.write('a', 1);
    await wb.write('b', 2);
    await wb.pending();
    await wb.flush();
    const where = { [ATTR_POLICY_NAME]: 'late-wb' };
    expect(await otel.sum(METRIC_WB_WRITES, where)).toBe(2);
    expect(await otel.sum(METRIC_WB_PERSIST_DURATION, where)).toBe(1);
    expect(await otel.boundaries(METRIC_WB_PERSIST_DURATION)).toEqual(DURATION_BUCKETS_SECONDS);
    expect(await otel.boundaries(METRIC_WB_BATCH_SIZE)).toEqual(BATCH_SIZE_BUCKETS);
    expect(await otel.metric(METRIC_WB_PENDING)).toBeDefined();
    await wb.close();
  });
});

describe('cache span events', () => {
  it('adds grace when a value in grace is served because the loader failed', async () => {
    otel = installOtel();
    const { c, clock } = testCache({ ttlMs: 1000, graceMs: 60_000 });
    await c.getOrLoad('k', async () => 'old');
    await clock.advance(5_000);
    await otel.tracer.startActiveSpan('request', async (span) => {
      const value = await c.getOrLoad('k', async () => {
        throw new Error('database down');
      });
      expect(value).toBe('old');
      span.end();
    });
    expect(eventsOf(EVENT_GRACE)).toHaveLength(1);
    expect(eventsOf(EVENT_GRACE)[0]?.attributes?.[ATTR_POLICY_NAME]).toBe('test');
    await c.close();
  });

  it('adds store.status degraded, then healthy, when the L2 store fails and comes back', async () => {
    otel = installOtel();
    const down = { value: false };
    const store = interceptedStore(
      memoryStore(),
      (call) => (down.value ? Promise.reject(new Error('connect ECONNREFUSED')) : call()),
      'flaky',
    );
    const c = cache({
      name: 'flaky',
      store,
      l1: false,
      storeFailureThreshold: 1,
      storeProbeIntervalMs: 10,
    });
    await otel.tracer.startActiveSpan('request', async (span) => {
      down.value = true;
      await c.getOrLoad('a', async () => 'v');
      down.value = false;
      await new Promise((resolve) => setTimeout(resolve, 30));
      // Past the probe interval a real call reaches the store, and its success ends the outage.
      await c.getOrLoad('b', async () => 'v');
      span.end();
    });
    expect(eventsOf(EVENT_STORE_STATUS).map((e) => e.attributes?.[ATTR_STORE_STATUS])).toEqual([
      'degraded',
      'healthy',
    ]);
    await c.close();
  });

  it('write-behind adds write, flushed and dead_letter events', async () => {
    otel = installOtel();
    let failing = false;
    const wb = writeBehind<number>({
      name: 'orders',
      flusher: false,
      maxAttempts: 1,
      persist: async () => {
        if (failing) throw new Error('database down');
      },
    });
    await otel.tracer.startActiveSpan('request', async (span) => {
      await wb.write('a', 1);
      await wb.write('a', 2);
      await wb.write('b', 3);
      await wb.flush();
      failing = true;
      await wb.write('c', 4);
      await wb.flush();
      span.end();
    });
    const writes = eventsOf(EVENT_WB_WRITE);
    expect(writes.map((e) => e.attributes?.[ATTR_WB_OUTCOME])).toEqual([
      'accepted',
      'accepted',
      'accepted',
      'accepted',
    ]);
    const flushed = eventsOf(EVENT_WB_FLUSH).map((e) => [
      e.attributes?.[ATTR_WB_OUTCOME],
      e.attributes?.[ATTR_WB_ENTRIES],
    ]);
    expect(flushed).toEqual([
      ['persisted', 2],
      ['superseded', 1],
    ]);
    const dead = eventsOf(EVENT_WB_DEAD_LETTER);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.attributes?.[ATTR_POLICY_NAME]).toBe('orders');
    await wb.close();
  });
});
