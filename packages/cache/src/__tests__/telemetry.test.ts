import {
  ATTR_POLICY_NAME,
  ATTR_STORE,
  ATTR_STORE_OPERATION,
  ATTR_STORE_OUTCOME,
  ATTR_STORE_STATUS,
} from '@breakwater/core';
import { installOtel } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ATTR_OUTCOME,
  ATTR_RESULT,
  ATTR_TIER,
  cache,
  EVENT_STORE_STATUS,
  METRIC_INVALIDATIONS,
  METRIC_L1_ENTRIES,
  METRIC_LOADER_DURATION,
  METRIC_REQUESTS,
  METRIC_STORE_DURATION,
  METRIC_STORE_ERRORS,
  METRIC_UNREADABLE,
} from '../index.js';
import { CACHE_PACKAGE } from '../version.js';
import { deferred, scopeOf, storeOf, testCache, tick } from './helpers.js';

describe('telemetry', () => {
  let otel: ReturnType<typeof installOtel> | undefined;
  afterEach(async () => {
    await otel?.uninstall();
    otel = undefined;
  });

  it('counts requests by result and tier, never with the key', async () => {
    otel = installOtel();
    const { c, store, clock } = testCache({ ttlMs: 1000, staleMs: 1000 });
    await c.getOrLoad('k', async () => 1); // miss
    await c.getOrLoad('k', async () => 1); // l1 hit
    await clock.advance(1500);
    await c.getOrLoad('k', async () => 2); // stale
    await tick(); // let the background refresh finish
    c.clearL1();
    await c.getOrLoad('k', async () => 3); // l2 hit
    const gate = deferred<number>();
    const a = c.getOrLoad('other', () => gate.promise);
    const b = c.getOrLoad('other', () => gate.promise); // coalesced
    gate.resolve(1);
    await Promise.all([a, b]);
    const base = { [ATTR_POLICY_NAME]: 'test', [ATTR_STORE]: 'memory' };
    expect(
      await otel.sum(METRIC_REQUESTS, { ...base, [ATTR_RESULT]: 'miss', [ATTR_TIER]: 'l2' }),
    ).toBe(2);
    expect(
      await otel.sum(METRIC_REQUESTS, { ...base, [ATTR_RESULT]: 'hit', [ATTR_TIER]: 'l1' }),
    ).toBe(1);
    expect(
      await otel.sum(METRIC_REQUESTS, { ...base, [ATTR_RESULT]: 'stale', [ATTR_TIER]: 'l1' }),
    ).toBe(1);
    expect(
      await otel.sum(METRIC_REQUESTS, { ...base, [ATTR_RESULT]: 'hit', [ATTR_TIER]: 'l2' }),
    ).toBe(1);
    expect(await otel.sum(METRIC_REQUESTS, { [ATTR_RESULT]: 'coalesced' })).toBe(1);
    expect(
      await otel.sum(METRIC_LOADER_DURATION, { [ATTR_OUTCOME]: 'success' }),
    ).toBeGreaterThanOrEqual(3);
    // The L2's own metrics are core's store telemetry, with core's attribute names.
    expect(
      await otel.sum(METRIC_STORE_DURATION, {
        ...base,
        [ATTR_STORE_OPERATION]: 'get',
        [ATTR_STORE_OUTCOME]: 'ok',
      }),
    ).toBeGreaterThan(0);
    const gauge = await otel.metric(METRIC_L1_ENTRIES);
    expect(gauge?.points[0]?.value).toBe(2);
    for (const metric of await otel.collect()) {
      for (const point of metric.points) {
        expect(Object.values(point.attributes)).not.toContain('k');
        expect(Object.values(point.attributes)).not.toContain('other');
      }
    }
    void store;
  });

  it('counts invalidations and unreadable entries', async () => {
    otel = installOtel();
    const { c, store } = testCache();
    await c.set('k', 1);
    await c.delete('k');
    await c.invalidateTags(['a', 'b']);
    await store.scope('test').set('bad', { record: 'nope', ttlMs: undefined, origin: 'x' });
    await c.get('bad');
    expect(await otel.sum(METRIC_INVALIDATIONS)).toBe(3);
    expect(await otel.sum(METRIC_UNREADABLE)).toBe(1);
  });

  it("reports store failures with core's store telemetry, and the status as a span event", async () => {
    otel = installOtel();
    const store = storeOf('broken', () => scopeOf(() => Promise.reject(new Error('down'))));
    const c = cache({ name: 'broken', store, l1: false, storeFailureThreshold: 2 });
    const base = { [ATTR_POLICY_NAME]: 'broken', [ATTR_STORE]: 'broken' };
    await otel.tracer.startActiveSpan('request', async (span) => {
      for (let i = 0; i < 3; i++) await c.getOrLoad(`k${i}`, async () => 'v');
      span.end();
    });
    const errors = (outcome: string) =>
      otel!.sum(METRIC_STORE_ERRORS, {
        ...base,
        [ATTR_STORE_OPERATION]: 'get',
        [ATTR_STORE_OUTCOME]: outcome,
      });
    expect(await errors('error')).toBe(2);
    expect(await errors('degraded')).toBe(1);
    const events = otel.spans().flatMap((span) => span.events);
    expect(events.map((event) => [event.name, event.attributes?.[ATTR_STORE_STATUS]])).toEqual([
      [EVENT_STORE_STATUS, 'degraded'],
    ]);
    await c.close();
  });

  it('reports the package version of package.json', async () => {
    const { readFile } = await import('node:fs/promises');
    const manifest = JSON.parse(
      await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
    );
    expect(CACHE_PACKAGE).toEqual({ name: manifest.name, version: manifest.version });
  });
});
