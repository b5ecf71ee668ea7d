/**
 * End to end, memory stores, one replica in this process: the four phases of the demo, shortened,
 * and what a client and an operator can observe in each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, startFleet } from '../fleet.js';
import { type PaymentUpstream, startPaymentUpstream } from '../payment-upstream.js';
import { phases } from '../scenario/phases.js';
import { runScenario, type ScenarioResult, warmUp } from '../scenario/run.js';
import {
  expectCacheWarm,
  expectDeadLettersReplayed,
  expectHealthyPhase,
  expectOrderStored,
  expectOutagePhase,
  expectPrometheusMetrics,
  expectRecoveryPhase,
  expectSpikePhase,
  TEST_DURATIONS,
  TEST_SETTINGS,
} from './scenario-checks.js';

describe('checkout service, memory stores', () => {
  let upstream: PaymentUpstream;
  let fleet: Fleet;
  let result: ScenarioResult;

  beforeAll(async () => {
    upstream = await startPaymentUpstream();
    fleet = await startFleet({
      replicas: 1,
      config: {
        ...TEST_SETTINGS,
        paymentUrl: upstream.url,
      },
    });
    await warmUp(fleet, { maxMs: 2_000 });
    result = await runScenario({ fleet, upstream, phases: phases(TEST_DURATIONS) });
  }, 30_000);

  afterAll(async () => {
    await fleet?.close();
    await upstream?.close();
  });

  it('pays orders and serves products while everything is healthy', () => {
    expectHealthyPhase(result);
  });

  it('answers orders with the fallback once the breaker opens during the outage', () => {
    expectOutagePhase(result);
  });

  it('probes and closes the breaker when the upstream recovers', () => {
    expectRecoveryPhase(result);
    expectDeadLettersReplayed(result);
  });

  it('answers the spiking client with 429 and RateLimit headers, and nobody else', () => {
    expectSpikePhase(result);
  });

  it('serves products from the cache after warm-up', () => {
    expectCacheWarm(result);
  });

  it('stores paid orders', async () => {
    await expectOrderStored(fleet, result);
  });

  it('serves the breakwater_ series on /metrics, rate limited like every route', async () => {
    const text = await expectPrometheusMetrics(fleet);
    expect(text).toMatch(/^breakwater_circuit_breaker_state\{.*state="closed".*\} 1$/m);
  });

  it('answers /healthz and /readyz with every policy, without rate limiting the prober', async () => {
    const probes = await Promise.all(
      Array.from({ length: TEST_SETTINGS.clientBurst + 10 }, (_, i) =>
        fetch(`${fleet.url}/${i % 2 === 0 ? 'healthz' : 'readyz'}`),
      ),
    );
    expect(probes.map((r) => r.status)).toEqual(probes.map(() => 200));
    const report = (await probes[1]!.json()) as {
      status: string;
      policies: { name: string; pattern: string; status: string }[];
    };
    await Promise.all(probes.slice(2).map((r) => r.body?.cancel()));
    await probes[0]!.body?.cancel();
    expect(report.status).toBe('ok');
    expect(report.policies.map((p) => p.pattern).sort()).toEqual([
      'bulkhead',
      'cache',
      'circuit-breaker',
      'rate-limit',
      'retry',
    ]);
  });

  it('refuses requests over the client limit with 429, RateLimit and Retry-After headers', async () => {
    const client = { 'x-client-id': 'burst-test' };
    const answers = await Promise.all(
      Array.from({ length: TEST_SETTINGS.clientBurst + 10 }, () =>
        fetch(`${fleet.url}/products/1`, { headers: client }),
      ),
    );
    const refused = answers.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    const first = refused[0]!;
    expect(first.headers.get('ratelimit-policy')).toBe(
      `"clients";q=${TEST_SETTINGS.clientRatePerSecond};w=1`,
    );
    expect(first.headers.get('ratelimit')).toMatch(/^"clients";r=0;t=1$/);
    expect(first.headers.get('retry-after')).toBe('1');
    await Promise.all(answers.map((r) => r.body?.cancel()));
  });
});
