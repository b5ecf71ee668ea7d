/**
 * A breaker built before the OpenTelemetry SDK is registered reports once it is; its call
 * duration histogram carries bucket advice in seconds; and its store's status changes are
 * added to the caller's span.
 */
import { ATTR_POLICY_NAME, ATTR_STORE_STATUS, DURATION_BUCKETS_SECONDS } from '@breakwater/core';
import { installOtel, type OtelHarness } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { circuitBreaker } from '../circuit-breaker.js';
import type { BreakerScope, BreakerStore, MaybePromise } from '../store.js';
import { memoryStore } from '../stores/memory.js';
import {
  EVENT_STORE_STATUS,
  METRIC_CALL_DURATION,
  METRIC_CALLS,
  METRIC_STATE,
  METRIC_TRANSITIONS,
} from '../telemetry.js';

let otel: OtelHarness | undefined;
afterEach(async () => {
  await otel?.uninstall();
  otel = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A memory store answering asynchronously, refusing every operation while `down.value`. */
function switchableStore(down: { value: boolean }): BreakerStore {
  const inner = memoryStore();
  const answer = <T>(value: () => MaybePromise<T>): Promise<T> =>
    down.value ? Promise.reject(new Error('connect ECONNREFUSED')) : Promise.resolve().then(value);
  const close = async (): Promise<void> => {};
  return {
    kind: 'switchable',
    defaultSyncIntervalMs: 5,
    scope(name, rules) {
      const s = inner.scope(name, rules);
      const scope: BreakerScope = {
        read: (now) => answer(() => s.read(now)),
        record: (batch, replica, now) => answer(() => s.record(batch, replica, now)),
        acquireProbe: (token, now) => answer(() => s.acquireProbe(token, now)),
        releaseProbe: (token, result, now) => answer(() => s.releaseProbe(token, result, now)),
        command: (command, now) => answer(() => s.command(command, now)),
        seed: (seed, now) => answer(() => s.seed(seed, now)),
        probe: () => answer(() => 1),
      };
      return scope;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

describe('breaker telemetry, SDK registered after the breaker was built', () => {
  it('reports calls, durations, transitions and the state, with buckets in seconds', async () => {
    const breaker = circuitBreaker({
      name: 'late',
      consecutiveFailures: 1,
      durationSampleEvery: 1,
    });
    otel = installOtel();
    await breaker.execute(() => 'ok');
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    const where = { [ATTR_POLICY_NAME]: 'late' };
    expect(await otel.sum(METRIC_CALLS, where)).toBe(2);
    expect(await otel.sum(METRIC_CALL_DURATION, where)).toBe(2);
    expect(await otel.boundaries(METRIC_CALL_DURATION)).toEqual(DURATION_BUCKETS_SECONDS);
    expect(await otel.sum(METRIC_TRANSITIONS, where)).toBe(1);
    expect(await otel.metric(METRIC_STATE)).toBeDefined();
    await breaker.close();
  });
});

describe('breaker span events', () => {
  it('adds store.status degraded, then healthy, when the store fails and comes back', async () => {
    otel = installOtel();
    const down = { value: false };
    const breaker = circuitBreaker({
      name: 'flaky',
      store: switchableStore(down),
      storeFailureThreshold: 1,
      storeProbeIntervalMs: 10,
    });
    await otel.tracer.startActiveSpan('request', async (span) => {
      await breaker.execute(() => 'ok');
      down.value = true;
      for (let i = 0; i < 5; i++) {
        await sleep(10);
        await breaker.execute(() => 'ok');
      }
      down.value = false;
      await sleep(50);
      await breaker.execute(() => 'ok');
      span.end();
    });
    const [span] = otel.spans();
    const statuses = span?.events
      .filter((e) => e.name === EVENT_STORE_STATUS)
      .map((e) => e.attributes?.[ATTR_STORE_STATUS]);
    expect(statuses).toEqual(['degraded', 'healthy']);
    await breaker.close();
  });
});
