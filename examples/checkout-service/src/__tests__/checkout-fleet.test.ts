/**
 * End to end with Redis: three replicas (node:cluster workers, running the TypeScript source) share
 * every pattern's state. Besides each phase's behaviour, the breaker must move as one: every
 * replica opens, probes and closes together, and the spiking client's limit holds for the fleet.
 */
import { describeWithRedis, redisFixture, sourceNodeArgs } from '@breakwater/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fleetMoves } from '../demo/transitions.js';
import { type Fleet, startFleet } from '../fleet.js';
import { type PaymentUpstream, startPaymentUpstream } from '../payment-upstream.js';
import { phases } from '../scenario/phases.js';
import { runScenario, type ScenarioResult, warmUp } from '../scenario/run.js';
import {
  expectCacheWarm,
  expectDeadLettersReplayed,
  expectHealthyPhase,
  expectOutagePhase,
  expectPrometheusMetrics,
  expectRecoveryPhase,
  expectSpikePhase,
  TEST_DURATIONS,
  TEST_SETTINGS,
} from './scenario-checks.js';

const REPLICAS = 3;

describeWithRedis('checkout service, three replicas sharing Redis', () => {
  const redis = redisFixture();
  let upstream: PaymentUpstream;
  let fleet: Fleet;
  let result: ScenarioResult;

  beforeAll(async () => {
    upstream = await startPaymentUpstream();
    fleet = await startFleet({
      replicas: REPLICAS,
      execArgv: sourceNodeArgs(),
      config: {
        ...TEST_SETTINGS,
        paymentUrl: upstream.url,
        redisUrl: redis.url,
        redisPrefix: redis.uniquePrefix(),
      },
    });
    await warmUp(fleet, { maxMs: 5_000 });
    result = await runScenario({ fleet, upstream, phases: phases(TEST_DURATIONS) });
  }, 60_000);

  afterAll(async () => {
    await fleet?.close();
    await upstream?.close();
  });

  it('runs three replicas with their state in Redis', () => {
    expect(result.stats.map((s) => s.replica).sort()).toEqual([1, 2, 3]);
    for (const replica of result.stats) expect(replica.stateStore).toBe('redis');
  });

  it('shows each phase’s behaviour', () => {
    expectHealthyPhase(result);
    expectOutagePhase(result);
    expectRecoveryPhase(result);
    expectDeadLettersReplayed(result);
    expectSpikePhase(result);
    expectCacheWarm(result);
  });

  it('opens, probes and closes the breaker as one fleet', () => {
    const moves = fleetMoves(result.stats);
    expect(moves.map((m) => `${m.from}→${m.to}`)).toEqual(
      expect.arrayContaining(['closed→open', 'open→half-open', 'half-open→closed']),
    );
    for (const move of moves) {
      // Every replica saw every move, within a second of the first (two breaker syncs plus a loaded machine).
      expect(move.replicas.map((r) => r.replica).sort()).toEqual([1, 2, 3]);
      for (const { delayMs } of move.replicas) expect(delayMs).toBeLessThan(1_000);
    }
  });

  it('holds the spiking client to one limit across the fleet', () => {
    const spike = result.phases.find((p) => p.phase.name === 'spike')!;
    const { outcomes, lastAdmittedAt } = spike.spike;
    expect(outcomes.error).toBe(0);
    const admitted = Object.values(outcomes).reduce((sum, n) => sum + n, 0) - outcomes.limited;
    // Every admission was decided between the phase's first request and the last admitted
    // answer. One fleet-wide GCRA limit admits at most rate × that span + burst + 1 in it (one
    // more for rounding); three per-replica limits would admit about three times as many.
    const span = (lastAdmittedAt - spike.startedAt) / 1000;
    const bound = TEST_SETTINGS.clientRatePerSecond * span + TEST_SETTINGS.clientBurst + 2;
    expect(admitted).toBeLessThanOrEqual(bound);
  });

  it('serves the breakwater_ series on /metrics in every replica', async () => {
    await expectPrometheusMetrics(fleet);
  });
});
