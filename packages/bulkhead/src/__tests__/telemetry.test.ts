import { readFileSync } from 'node:fs';
import {
  ATTR_POLICY_NAME,
  ATTR_STORE,
  ATTR_STORE_OPERATION,
  ATTR_STORE_OUTCOME,
  ATTR_STORE_STATUS,
  storeMetricNames,
} from '@breakwater/core';
import { fakeClock, installOtel, type OtelHarness } from '@breakwater/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ATTR_CLASS,
  ATTR_REASON,
  bulkhead,
  EVENT_DEGRADED,
  EVENT_REJECTED,
  EVENT_STORE_STATUS,
  METRIC_ACTIVE,
  METRIC_DEGRADED,
  METRIC_LEASES_LOST,
  METRIC_LIMIT,
  METRIC_QUEUED,
  METRIC_REJECTED,
  METRIC_STORE_DURATION,
  METRIC_STORE_ERRORS,
  METRIC_WAIT_DURATION,
  memoryStore,
  type PermitStore,
} from '../index.js';
import { BULKHEAD_PACKAGE } from '../version.js';
import { caught, deferred } from './helpers.js';

describe('telemetry', () => {
  let otel: OtelHarness;
  beforeEach(() => {
    otel = installOtel();
  });
  afterEach(async () => {
    await otel.uninstall();
  });

  it('reports active, queued, rejected, wait duration and the limit', async () => {
    const b = bulkhead({
      name: 'db',
      maxConcurrent: 2,
      maxQueue: 1,
      classes: { critical: { reserved: 1 }, background: {} },
    });
    const gates = [deferred(), deferred(), deferred()];
    const critical = { [ATTR_POLICY_NAME]: 'db', [ATTR_CLASS]: 'critical' };
    const background = { [ATTR_POLICY_NAME]: 'db', [ATTR_CLASS]: 'background' };
    const first = b.execute(() => gates[0]!.promise, { priority: 'critical' });
    const second = b.execute(() => gates[1]!.promise, { priority: 'background' });
    const third = b.execute(() => gates[2]!.promise, { priority: 'background' });
    expect(await otel.sum(METRIC_ACTIVE, critical)).toBe(1);
    expect(await otel.sum(METRIC_ACTIVE, background)).toBe(1);
    expect(await otel.sum(METRIC_QUEUED, background)).toBe(1);
    await otel.tracer.startActiveSpan('request', async (span) => {
      await caught(b.execute(() => 1, { priority: 'background' }));
      span.end();
    });
    expect(await otel.sum(METRIC_REJECTED, { ...background, [ATTR_REASON]: 'queue-full' })).toBe(1);
    const [span] = otel.spans();
    expect(span?.events.map((e) => e.name)).toEqual([EVENT_REJECTED]);
    expect(span?.events[0]?.attributes?.[ATTR_REASON]).toBe('queue-full');
    for (const gate of gates) gate.resolve();
    await Promise.all([first, second, third]);
    expect(await otel.sum(METRIC_ACTIVE, background)).toBe(0);
    expect(await otel.sum(METRIC_QUEUED, background)).toBe(0);
    expect(await otel.sum(METRIC_WAIT_DURATION, background)).toBe(2);
    const wait = await otel.metric(METRIC_WAIT_DURATION);
    expect(wait?.unit).toBe('s');
    const limit = await otel.metric(METRIC_LIMIT);
    expect(limit?.points[0]?.value).toBe(2);
  });

  it('reports store operations, store errors and lost leases of a fleet bulkhead', async () => {
    const clock = fakeClock(1_000_000);
    const memory = memoryStore({ clock });
    const b = bulkhead({ name: 'fleet', maxConcurrent: 2, store: memory, leaseTtlMs: 300, clock });
    await b.execute(() => 'ok');
    await b.close();
    const ok = { [ATTR_POLICY_NAME]: 'fleet', [ATTR_STORE_OUTCOME]: 'ok' };
    expect(
      await otel.sum(METRIC_STORE_DURATION, { ...ok, [ATTR_STORE_OPERATION]: 'acquire' }),
    ).toBe(1);
    expect(
      await otel.sum(METRIC_STORE_DURATION, { ...ok, [ATTR_STORE_OPERATION]: 'release' }),
    ).toBe(1);
    expect((await otel.metric(METRIC_STORE_DURATION))?.unit).toBe('s');

    // A lease that expires under a running call (time jumps past it) is lost.
    const gate = deferred();
    const running = b.execute(() => gate.promise);
    await clock.advance(1);
    clock.set(clock.now() + 1_000);
    await clock.advance(100);
    expect(await otel.sum(METRIC_LEASES_LOST, { [ATTR_POLICY_NAME]: 'fleet' })).toBe(1);
    gate.resolve();
    await running;
    await b.close();

    const failing: PermitStore = {
      kind: 'redis',
      close: () => Promise.resolve(),
      [Symbol.asyncDispose]: () => Promise.resolve(),
      scope: () => ({
        acquire: () => Promise.reject(new Error('down')),
        renew: () => Promise.reject(new Error('down')),
        release: () => Promise.reject(new Error('down')),
        wakeups: 0,
        waitForRelease: () => Promise.resolve(),
        close: () => Promise.resolve(),
      }),
    };
    const down = bulkhead({
      name: 'down',
      maxConcurrent: 2,
      store: failing,
      onStoreError: 'fail-closed',
      storeFailureThreshold: 2,
    });
    await otel.tracer.startActiveSpan('request', async (span) => {
      // Two failures degrade the store; the third call is answered without asking it.
      for (let i = 0; i < 3; i++) await caught(down.execute(() => 1));
      span.end();
    });
    const acquire = {
      [ATTR_POLICY_NAME]: 'down',
      [ATTR_STORE]: 'redis',
      [ATTR_STORE_OPERATION]: 'acquire',
    };
    expect(await otel.sum(METRIC_STORE_ERRORS, { ...acquire, [ATTR_STORE_OUTCOME]: 'error' })).toBe(
      2,
    );
    expect(
      await otel.sum(METRIC_STORE_ERRORS, { ...acquire, [ATTR_STORE_OUTCOME]: 'degraded' }),
    ).toBe(1);
    expect(
      await otel.sum(METRIC_STORE_DURATION, { ...acquire, [ATTR_STORE_OUTCOME]: 'error' }),
    ).toBe(2);
    expect(
      await otel.sum(METRIC_REJECTED, {
        [ATTR_POLICY_NAME]: 'down',
        [ATTR_REASON]: 'store-unavailable',
      }),
    ).toBe(3);
    const [span] = otel.spans();
    const statusEvents = span?.events.filter((e) => e.name === EVENT_STORE_STATUS);
    expect(statusEvents?.map((e) => e.attributes?.[ATTR_STORE_STATUS])).toEqual(['degraded']);
    expect(statusEvents?.[0]?.attributes?.[ATTR_POLICY_NAME]).toBe('down');
    await down.close();
  });

  it('reports every call started without a fleet permit (the default onStoreError: local)', async () => {
    const failing: PermitStore = {
      kind: 'redis',
      close: () => Promise.resolve(),
      [Symbol.asyncDispose]: () => Promise.resolve(),
      scope: () => ({
        acquire: () => Promise.reject(new Error('down')),
        renew: () => Promise.reject(new Error('down')),
        release: () => Promise.reject(new Error('down')),
        wakeups: 0,
        waitForRelease: () => Promise.resolve(),
        close: () => Promise.resolve(),
      }),
    };
    const b = bulkhead({
      name: 'degraded',
      maxConcurrent: 2,
      classes: { critical: {}, background: {} },
      store: failing,
    });
    await otel.tracer.startActiveSpan('request', async (span) => {
      await b.execute(() => 1, { priority: 'critical' });
      await b.execute(() => 2);
      await b.execute(() => 3);
      span.end();
    });
    const base = { [ATTR_POLICY_NAME]: 'degraded', [ATTR_STORE]: 'redis' };
    expect(await otel.sum(METRIC_DEGRADED, { ...base, [ATTR_CLASS]: 'critical' })).toBe(1);
    expect(await otel.sum(METRIC_DEGRADED, { ...base, [ATTR_CLASS]: 'background' })).toBe(2);
    const events = otel.spans()[0]?.events.filter((e) => e.name === EVENT_DEGRADED);
    expect(events?.map((e) => e.attributes?.[ATTR_CLASS])).toEqual([
      'critical',
      'background',
      'background',
    ]);
    await b.close();
  });

  it('names the store metrics and status event as core does for every pattern', () => {
    const names = storeMetricNames('bulkhead');
    expect(METRIC_STORE_DURATION).toBe(names.duration);
    expect(METRIC_STORE_ERRORS).toBe(names.errors);
    expect(EVENT_STORE_STATUS).toBe(names.statusEvent);
    expect(names).toEqual({
      duration: 'breakwater.bulkhead.store.duration',
      errors: 'breakwater.bulkhead.store.errors',
      statusEvent: 'breakwater.bulkhead.store.status',
    });
  });

  it('reports under the package name and version', () => {
    const manifest = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { name: string; version: string };
    expect(BULKHEAD_PACKAGE).toEqual({ name: manifest.name, version: manifest.version });
  });
});
