/**
 * Store outage: a Redis of the test's own is killed mid-run and brought back. Calls must keep
 * flowing as `onStoreError` says, none waiting longer than the store deadline, and the breaker
 * must resynchronise once Redis answers again.
 */
import { isStoreError, type StoreStatusChange } from '@breakwater/core';
import {
  describeWithRedis,
  installOtel,
  type RedisServer,
  startRedisServer,
} from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { type CircuitBreaker, circuitBreaker } from '../circuit-breaker.js';
import { isBrokenCircuitError } from '../errors.js';
import type { OnStoreError } from '../options.js';
import { redisStore } from '../stores/redis.js';
import { METRIC_STORE_DURATION, METRIC_STORE_ERRORS } from '../telemetry.js';

const DEADLINE_MS = 200;
/** Event-loop delay a loaded test machine may add to any call. */
const JITTER_MS = 150;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close().catch(() => {});
});

async function setup(onStoreError: OnStoreError) {
  const server = await startRedisServer();
  cleanup.push(() => server.kill());
  const client = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  client.on('error', () => {});
  cleanup.push(async () => client.disconnect());
  const store = redisStore({ client, prefix: 'outage' });
  const breaker = circuitBreaker({
    name: 'payments',
    store,
    syncIntervalMs: 50,
    storeDeadlineMs: DEADLINE_MS,
    consecutiveFailures: 3,
    breakDurationMs: 60_000,
    onStoreError,
  });
  cleanup.push(
    () => breaker.close(),
    () => store.close(),
  );
  const statuses: StoreStatusChange[] = [];
  breaker.onStoreStatusChange((event) => statuses.push(event));
  return { server, client, breaker, statuses };
}

/**
 * Runs calls back to back for `ms` (and at least 10 calls, however loaded the machine), returning
 * each call's outcome and how long it took.
 */
async function drive(breaker: CircuitBreaker, ms: number, fn: () => unknown = () => 'ok') {
  const outcomes: { result: string; tookMs: number }[] = [];
  const until = Date.now() + ms;
  while (Date.now() < until || outcomes.length < 10) {
    const started = performance.now();
    const result = await breaker.execute(fn).then(
      () => 'ok',
      (error: Error) => error.name,
    );
    outcomes.push({ result, tookMs: performance.now() - started });
    await sleep(5);
  }
  return outcomes;
}

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await sleep(10);
  }
}

/**
 * Keeps calls flowing until the store is degraded: their counts are flushed every
 * `syncIntervalMs`, and `storeFailureThreshold` (3) failed flushes in a row degrade the store.
 * Until then the closed path admits calls from the cached view, without waiting on the store.
 */
async function untilDegraded(breaker: CircuitBreaker, statuses: StoreStatusChange[]) {
  const until = Date.now() + 3000;
  while (!statuses.some((s) => s.status === 'degraded')) {
    if (Date.now() > until) throw new Error('the store did not degrade within 3000 ms');
    const started = performance.now();
    await breaker.execute(() => 'ok');
    expect(performance.now() - started).toBeLessThan(DEADLINE_MS + JITTER_MS);
    await sleep(5);
  }
}

async function restart(server: RedisServer): Promise<void> {
  const again = await startRedisServer({ port: server.port });
  cleanup.push(() => again.kill());
}

describeWithRedis('store outage', () => {
  it("'local': calls keep flowing, decisions stay local, and the breaker resyncs after Redis returns", async () => {
    const otel = installOtel();
    cleanup.push(() => otel.uninstall());
    const { server, breaker, statuses } = await setup('local');
    const before = await drive(breaker, 300);
    expect(before.every((o) => o.result === 'ok')).toBe(true);

    await server.kill();
    const during = await drive(breaker, 600);
    expect(during.every((o) => o.result === 'ok')).toBe(true);
    expect(Math.max(...during.map((o) => o.tookMs))).toBeLessThan(DEADLINE_MS + JITTER_MS);
    await waitFor(() => statuses.some((s) => s.status === 'degraded'), 2000);
    expect(breaker.stats().storeStatus).toBe('degraded');
    expect(breaker.storeStatus).toBe('degraded');
    // Core's one status shape: the policy, the pattern, the store, and what degraded it.
    expect(statuses[0]).toMatchObject({
      policy: 'payments',
      pattern: 'circuit-breaker',
      store: 'redis',
      status: 'degraded',
    });
    expect(isStoreError(statuses[0]!.error)).toBe(true);

    // Still a breaker while the store is down: local failures open it locally.
    const failing = await drive(breaker, 200, () => Promise.reject(new Error('down')));
    expect(failing.some((o) => o.result === 'BrokenCircuitError')).toBe(true);
    expect(breaker.state).toBe('open');
    expect(Math.max(...failing.map((o) => o.tookMs))).toBeLessThan(DEADLINE_MS + JITTER_MS);

    await restart(server);
    await waitFor(() => statuses.at(-1)?.status === 'healthy', 5000);
    // The restarted Redis holds no record: the shared truth is a closed breaker, and it wins.
    await waitFor(() => breaker.state === 'closed', 2000);
    expect((await drive(breaker, 100)).every((o) => o.result === 'ok')).toBe(true);

    const where = { 'breakwater.policy.name': 'payments', 'breakwater.store': 'redis' };
    expect(await otel.sum(METRIC_STORE_ERRORS, where)).toBeGreaterThan(0);
    expect(
      await otel.sum(METRIC_STORE_DURATION, { ...where, 'breakwater.store.operation': 'record' }),
    ).toBeGreaterThan(0);
  }, 30_000);

  it("'fail-closed' rejects every call while the store is down, at once", async () => {
    const { server, breaker, statuses } = await setup('fail-closed');
    await drive(breaker, 200);
    await server.kill();
    await untilDegraded(breaker, statuses);
    const during = await drive(breaker, 300);
    expect(during.every((o) => o.result === 'BrokenCircuitError')).toBe(true);
    expect(Math.max(...during.map((o) => o.tookMs))).toBeLessThan(DEADLINE_MS + JITTER_MS);
    const error = await breaker.execute(() => 'ok').catch((e: unknown) => e);
    expect(isBrokenCircuitError(error)).toBe(true);
    expect((error as Error).cause).toMatchObject({ name: expect.stringMatching(/^Store/) });
    // Controls need the store: without 'local' they say so.
    await expect(breaker.isolate()).rejects.toMatchObject({
      name: expect.stringMatching(/^Store/),
    });
    await restart(server);
    await waitFor(() => statuses.at(-1)?.status === 'healthy', 5000);
    await expect(breaker.execute(() => 'ok')).resolves.toBe('ok');
  }, 30_000);

  it("'fail-open' lets every call through while the store is down, and store errors never count as failures", async () => {
    const { server, breaker, statuses } = await setup('fail-open');
    await drive(breaker, 200);
    await server.kill();
    await untilDegraded(breaker, statuses);
    const during = await drive(breaker, 300);
    expect(during.every((o) => o.result === 'ok')).toBe(true);
    expect(breaker.stats().failures).toBe(0);
    await restart(server);
    await waitFor(() => statuses.at(-1)?.status === 'healthy', 5000);
  }, 30_000);
});
