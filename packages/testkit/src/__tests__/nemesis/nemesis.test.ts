// The short version of the nemesis suite (`pnpm nemesis` runs the long one): a few seconds per
// invariant, real replica processes, a real Redis, real faults.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { readHistory } from '../../nemesis/history.js';
import { blockCoverage } from '../../nemesis/invariants/bulkhead.js';
import { runScenario } from '../../nemesis/scenario.js';
import { breakerScenario } from '../../nemesis/scenarios/breaker.js';
import { breakerFleetScenario } from '../../nemesis/scenarios/breaker-fleet.js';
import { bulkheadQuotaScenario, bulkheadScenario } from '../../nemesis/scenarios/bulkhead.js';
import { cacheScenario } from '../../nemesis/scenarios/cache.js';
import { RATE_LIMIT_RESERVE_BATCH, rateLimitScenario } from '../../nemesis/scenarios/rate-limit.js';
import { retryBudgetScenario } from '../../nemesis/scenarios/retry-budget.js';
import { writeBehindScenario } from '../../nemesis/scenarios/write-behind.js';
import { describeWithRedisCluster } from '../../services.js';
import { result, summary } from './verdicts.js';

const SECONDS = 4;

it("runScenario refuses a firstFault that is not one of the scenario's faults", async () => {
  await expect(
    runScenario(cacheScenario(['proxy-drop']), { durationMs: 1_000, firstFault: 'replica-pause' }),
  ).rejects.toThrow(/options\.firstFault .*proxy-drop.*received "replica-pause"/);
});

describeWithRedisCluster('nemesis (short)', () => {
  it('rate limit: the window bound and no silent fail-open, under store and link faults', async () => {
    const report = await runScenario(
      // Only faults that put the store out of reach, so every run judges degraded decisions.
      rateLimitScenario(['store-pause', 'proxy-drop', 'store-crash']),
      { durationMs: SECONDS * 1_000 },
    );
    console.info(
      `nemesis/rate-limit: ${report.operations} operations, faults ${JSON.stringify(report.faults)}`,
    );
    const window = result(report, 'rate-limit/window');
    const failOpen = result(report, 'rate-limit/no-silent-fail-open');
    expect(window.violations, summary(report)).toEqual([]);
    expect(failOpen.violations, summary(report)).toEqual([]);
    // The run did what it is for: decisions were made while the store was out of reach.
    expect(window.checked).toBeGreaterThan(500);
    expect(failOpen.checked).toBeGreaterThan(0);
  }, 60_000);

  it("rate limit: the checker catches 'fail-open' admitting past the bound", async () => {
    const report = await runScenario(rateLimitScenario(['store-pause'], 3, 'fail-open'), {
      durationMs: 3_000,
    });
    expect(report.faults['store-pause']).toBeGreaterThan(0);
    expect(result(report, 'rate-limit/window').violations.length).toBeGreaterThan(0);
  }, 60_000);

  it('rate limit in reservation mode: the window bound + replicas × (batch − 1), through a store restart', async () => {
    // The crash first: the restarted store has forgotten the fleet, so replicas take whole batches
    // from it again while their old pools may still be spent; the pause that may follow lets
    // replicas spend held permits while the store is out of reach. Faults of 300–800 ms with as
    // long between: the crash has healed by 1.6 s, leaving the fleet seconds to take batches from
    // the restarted store.
    const scenario = rateLimitScenario(['store-crash', 'store-pause'], 3, 'local', {
      reserve: { batch: RATE_LIMIT_RESERVE_BATCH },
    });
    const report = await runScenario(
      { ...scenario, faultMs: [300, 800], healthyMs: [300, 800] },
      { durationMs: SECONDS * 1_000, firstFault: 'store-crash', keepHistory: true },
    );
    const dir = report.historyDir!;
    try {
      const history = readHistory([
        join(dir, 'nemesis.jsonl'),
        ...[0, 1, 2].map((index) => join(dir, `replica-${index}.jsonl`)),
      ]);
      const healed = history.find(
        (event) =>
          event.f === 'fault' &&
          (event.value as { phase: string }).phase === 'end' &&
          event.process === -1,
      );
      const reserved = history.filter(
        (event) =>
          event.f === 'limit' &&
          event.type === 'ok' &&
          (event.value as { source: string }).source === 'reservation' &&
          event.mono > (healed?.mono ?? Number.POSITIVE_INFINITY),
      );
      const window = result(report, 'rate-limit/window');
      const failOpen = result(report, 'rate-limit/no-silent-fail-open');
      console.info(
        `nemesis/rate-limit-reserve: ${report.operations} operations, faults ${JSON.stringify(report.faults)}, ${reserved.length} reserved after the restart, worst ${window.worst}/${window.bound}, excused ${JSON.stringify(failOpen.excused ?? {})}`,
      );
      expect(window.violations, summary(report)).toEqual([]);
      expect(failOpen.violations, summary(report)).toEqual([]);
      // The run did what it is for: the store crashed and came back, the fleet spent permits of
      // batches taken from the restarted store, and decided while the store was out of reach.
      expect(report.faults['store-crash']).toBeGreaterThan(0);
      expect(reserved.length).toBeGreaterThan(0);
      expect(failOpen.checked).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('bulkhead: concurrency ≤ maxConcurrent; a holder paused past its lease does not act again', async () => {
    // Pauses only: two or three in the run, each of a replica that holds a permit.
    const report = await runScenario(bulkheadScenario(['replica-pause']), {
      durationMs: (SECONDS + 1) * 1_000,
    });
    console.info(
      `nemesis/bulkhead: ${report.operations} operations, faults ${JSON.stringify(report.faults)}`,
    );
    const concurrency = result(report, 'bulkhead/concurrency');
    const stale = result(report, 'bulkhead/no-stale-action');
    expect(concurrency.violations, summary(report)).toEqual([]);
    expect(stale.violations, summary(report)).toEqual([]);
    expect(concurrency.worst).toBeLessThanOrEqual(2);
    // A replica was paused while it held a permit, and the invariant judged what it did next.
    expect(report.faults['replica-pause']).toBeGreaterThan(0);
    expect(stale.checked).toBeGreaterThan(0);
  }, 60_000);

  it('bulkhead permitQuota: the limit holds; a replica paused past its block lease does not act again', async () => {
    // The pause comes first, in the first 1.5 s, when every call runs under a block (the fleet
    // below its limit); then a store restart that forgets the blocks.
    const scenario = bulkheadQuotaScenario(['replica-pause', 'store-crash']);
    const report = await runScenario(scenario, {
      durationMs: (SECONDS + 1) * 1_000,
      firstFault: 'replica-pause',
      keepHistory: true,
    });
    const dir = report.historyDir!;
    try {
      const files = ['nemesis', 'resource', 'replica-0', 'replica-1', 'replica-2'];
      const history = readHistory(files.map((name) => join(dir, `${name}.jsonl`)));
      const coverage = blockCoverage(history, scenario.params.leaseTtlMs + 100);
      console.info(
        `nemesis/bulkhead-quota: ${report.operations} operations, faults ${JSON.stringify(report.faults)}, ${JSON.stringify(coverage)}`,
      );
      const concurrency = result(report, 'bulkhead/concurrency');
      const stale = result(report, 'bulkhead/no-stale-action');
      expect(concurrency.violations, summary(report)).toEqual([]);
      expect(stale.violations, summary(report)).toEqual([]);
      // Calls ran under blocks (several calls on one token), and a replica was paused while
      // calls ran under its block: the invariant judged what they did next.
      expect(report.faults['replica-pause']).toBeGreaterThan(0);
      expect(coverage.blockCalls).toBeGreaterThan(10);
      expect(coverage.pausedBlockCalls).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('breaker: half-open probes fleet-wide ≤ halfOpen.maxCalls', async () => {
    const report = await runScenario(breakerScenario(['store-pause', 'proxy-reset']), {
      durationMs: SECONDS * 1_000,
    });
    console.info(
      `nemesis/breaker: ${report.operations} operations, faults ${JSON.stringify(report.faults)}`,
    );
    const probes = result(report, 'breaker/half-open-probes');
    expect(probes.violations, summary(report)).toEqual([]);
    // The fleet opened and probed again and again.
    expect(probes.checked).toBeGreaterThan(3);
  }, 60_000);

  it('breaker: every replica rejects within 2 × syncIntervalMs of the fleet opening; the fleet converges after the store returns', async () => {
    // One store pause, early enough for the fleet to converge before the end.
    const healthyMs: [number, number] = [1_200, 1_600];
    const report = await runScenario(
      { ...breakerFleetScenario(['store-pause']), healthyMs },
      { durationMs: SECONDS * 1_000 },
    );
    console.info(
      `nemesis/breaker-fleet: ${report.operations} operations, faults ${JSON.stringify(report.faults)}`,
    );
    const rejects = result(report, 'breaker/fleet-rejects');
    const converges = result(report, 'breaker/fleet-converges');
    expect(rejects.violations, summary(report)).toEqual([]);
    expect(converges.violations, summary(report)).toEqual([]);
    expect(result(report, 'breaker/half-open-probes').violations, summary(report)).toEqual([]);
    // The fleet opened from closed, and the pause healed in time to be judged.
    expect(rejects.checked).toBeGreaterThan(0);
    expect(converges.checked).toBeGreaterThan(0);
  }, 60_000);

  it('cache: one loader per key per lease; monotonic reads; a loader paused under its lease writes nothing stale when it resumes', async () => {
    // The pause comes first and waits for a replica loading under the fleet lease: four seconds
    // leave room for one or two faults.
    const report = await runScenario(cacheScenario(['replica-pause', 'proxy-drop']), {
      durationMs: SECONDS * 1_000,
      firstFault: 'replica-pause',
    });
    const stale = result(report, 'cache/no-stale-load-write');
    console.info(
      `nemesis/cache: ${report.operations} operations, faults ${JSON.stringify(report.faults)}, stale writes ${stale.checked} ${JSON.stringify({ ...stale.excused, ...stale.counts })}`,
    );
    const loaders = result(report, 'cache/one-loader-per-key');
    const reads = result(report, 'cache/monotonic-reads');
    expect(loaders.violations, summary(report)).toEqual([]);
    expect(reads.violations, summary(report)).toEqual([]);
    expect(stale.violations, summary(report)).toEqual([]);
    // The pause caught a loader under its lease (and outlived the lease: 800 ms or more).
    expect(stale.counts?.['pauses of a loader under its lease']).toBeGreaterThan(0);
    // Keys expired and were loaded again and again, and read far more often.
    expect(loaders.checked).toBeGreaterThan(20);
    expect(reads.checked).toBeGreaterThan(500);
    expect(report.faults['replica-pause']).toBeGreaterThan(0);
  }, 60_000);

  it('breaker: a prober paused past its probe lease moves nothing when it resumes', async () => {
    // Pauses only (1,000–1,800 ms, the lease 600 ms), each waiting for a replica probing on a
    // lease the store granted. The healthy time is cut to fit two pauses in five seconds.
    const scenario = breakerFleetScenario(['replica-pause'], 3, true);
    const report = await runScenario(
      { ...scenario, healthyMs: [800, 1_000] },
      { durationMs: (SECONDS + 1) * 1_000 },
    );
    const stale = result(report, 'breaker/stale-probe-outcome');
    console.info(
      `nemesis/breaker-fleet-lease: ${report.operations} operations, faults ${JSON.stringify(report.faults)}, outcomes past the lease ${stale.checked} ${JSON.stringify(stale.counts)}`,
    );
    expect(stale.violations, summary(report)).toEqual([]);
    expect(result(report, 'breaker/half-open-probes').violations, summary(report)).toEqual([]);
    // A pause caught a prober under its lease, and the prober reported its outcome past it.
    expect(stale.counts?.['pauses of a prober under its lease']).toBeGreaterThan(0);
    expect(stale.checked).toBeGreaterThan(0);
  }, 60_000);

  it('rate limit: a clock jump on a replica reaches its limiter and changes nothing (Redis decides on TIME)', async () => {
    const report = await runScenario(rateLimitScenario(['clock-jump']), {
      durationMs: SECONDS * 1_000,
      keepHistory: true,
    });
    const dir = report.historyDir!;
    try {
      const replicas = [0, 1, 2].map((index) => join(dir, `replica-${index}.jsonl`));
      const jumps = readHistory(replicas).filter((event) => event.f === 'clock');
      // The jumped replica saw its clock move and move back.
      expect(report.faults['clock-jump']).toBeGreaterThan(0);
      expect(jumps.map((event) => (event.value as { offsetMs: number }).offsetMs)).toContain(0);
      expect(jumps.some((event) => (event.value as { offsetMs: number }).offsetMs !== 0)).toBe(
        true,
      );
      const window = result(report, 'rate-limit/window');
      expect(window.violations, summary(report)).toEqual([]);
      // The strict bound: a jump leaves the store reachable, so no degraded allowance applies.
      expect(window.worst).toBeLessThanOrEqual(50);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('write-behind: every acknowledged write reaches the database at ≥ its version (crashes excused)', async () => {
    // Store crashes without persistence: what was still queued is lost, the documented bound.
    const report = await runScenario(writeBehindScenario(['store-crash', 'proxy-reset']), {
      durationMs: SECONDS * 1_000,
    });
    const persisted = result(report, 'write-behind/acknowledged-persisted');
    console.info(
      `nemesis/write-behind: ${report.operations} operations, faults ${JSON.stringify(report.faults)}, excused ${JSON.stringify(persisted.excused ?? {})}`,
    );
    expect(persisted.violations, summary(report)).toEqual([]);
    expect(persisted.checked).toBeGreaterThan(500);
  }, 60_000);

  it('retry budget: fleet retries ≤ the budget', async () => {
    const report = await runScenario(retryBudgetScenario(['store-pause', 'proxy-latency']), {
      durationMs: SECONDS * 1_000,
    });
    console.info(
      `nemesis/retry-budget: ${report.operations} operations, faults ${JSON.stringify(report.faults)}`,
    );
    const retries = result(report, 'retry-budget/fleet-retries');
    expect(retries.violations, summary(report)).toEqual([]);
    expect(retries.checked).toBeGreaterThan(50);
  }, 60_000);
});
