// The nemesis on the other topologies (`pnpm nemesis` runs the long `-cluster` and `-sentinel`
// entries): the write-behind through Sentinel failovers (`'wait'` loses nothing, `'primary'` loses
// what the lagging replica missed, and only that), the cache on a Redis Cluster whose slots move.
// And, on hand-made inputs, how a breaker replica tells a probe on the store's lease from one its
// breaker granted alone, which keeps the breaker's bound (and the cache's) strict on a Cluster.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { FaultEntry } from '../../nemesis/fault-log.js';
import type { HistoryEvent } from '../../nemesis/history.js';
import { checkHalfOpenProbes } from '../../nemesis/invariants/breaker.js';
import { checkOneLoaderPerKey } from '../../nemesis/invariants/cache.js';
import { ProbeGrants, recordingBreakerStore } from '../../nemesis/recording-breaker-store.js';
import { runScenario } from '../../nemesis/scenario.js';
import { cacheScenario } from '../../nemesis/scenarios/cache.js';
import { writeBehindScenario } from '../../nemesis/scenarios/write-behind.js';
import { describeWithRedisCluster } from '../../services.js';
import { result, summary } from './verdicts.js';

/** A breaker store whose one scope answers lease requests as told, after `delayMs`. */
function fakeBreakerStore(answers: string[], delayMs: number) {
  return {
    kind: 'fake',
    scope: (_name: string) => ({
      acquireProbe: async (_token: string) => {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        return { decision: answers.shift() ?? 'reject', view: {} };
      },
      read: () => 'view',
    }),
  };
}

describe('probe lease recording', () => {
  it('credits the store with a grant it answered in time, claimed by the probe that starts on it', async () => {
    const grants = new ProbeGrants();
    const store = recordingBreakerStore(fakeBreakerStore(['probe', 'reject'], 1), grants, 100);
    const scope = store.scope('b') as unknown as {
      acquireProbe(token: string): Promise<{ decision: string }>;
      read(): string;
    };
    // Everything else reaches the scope unchanged.
    expect(scope.read()).toBe('view');
    expect((await scope.acquireProbe('t1')).decision).toBe('probe');
    expect(grants.claim()).toBe('store');
    // One grant, one probe: the next one on no grant was the breaker's own.
    expect(grants.claim()).toBe('local');
    await scope.acquireProbe('t2');
    expect(grants.claim()).toBe('local');
  });

  it('credits no grant that came after the deadline, nor one left unclaimed past its turn', async () => {
    const grants = new ProbeGrants();
    const late = recordingBreakerStore(fakeBreakerStore(['probe'], 30), grants, 10);
    await (
      late.scope('b') as unknown as { acquireProbe(t: string): Promise<unknown> }
    ).acquireProbe('t');
    expect(grants.claim()).toBe('local');
    const onTime = recordingBreakerStore(fakeBreakerStore(['probe'], 1), grants, 100);
    await (
      onTime.scope('b') as unknown as { acquireProbe(t: string): Promise<unknown> }
    ).acquireProbe('t');
    await nextTurn();
    expect(grants.claim()).toBe('local');
  });
});

/** An action on the resource from `from` to `to`: its start and end events (`<kind>-start`, …). */
function span(
  events: HistoryEvent[],
  kind: 'probe' | 'load',
  [from, to]: [number, number],
  value: Record<string, unknown>,
): void {
  for (const [mono, edge] of [
    [from, 'start'],
    [to, 'end'],
  ] as const) {
    events.push({
      process: -2,
      pid: 1,
      wall: mono,
      id: events.length,
      type: 'info',
      f: 'act',
      mono,
      value: { ...value, kind: `${kind}-${edge}`, storeStatus: 'healthy' },
    });
  }
}

/** A probe by `replica` from `from` to `to`, with its lease's origin. */
function probe(
  events: HistoryEvent[],
  replica: number,
  call: string,
  at: [number, number],
  lease: 'store' | 'local',
): void {
  span(events, 'probe', at, { replica, call, lease });
}

function fault(events: HistoryEvent[], mono: number, entry: Omit<FaultEntry, 'phase'>): void {
  for (const [at, phase] of [
    [mono, 'start'],
    [mono + 1_000, 'end'],
  ] as const) {
    events.push({
      process: -1,
      pid: 1,
      wall: at,
      id: events.length,
      type: 'info',
      f: 'fault',
      mono: at,
      value: { ...entry, phase },
    });
  }
}

describe('half-open probes on a Redis Cluster', () => {
  const failover = { fault: 'cluster-failover', target: 'store', unreachable: false } as const;
  const sorted = (events: HistoryEvent[]) =>
    events.sort((a, b) => a.mono - b.mono).map((event, index) => ({ ...event, index }));

  it('holds two probes on the store’s leases to maxCalls through a topology change', () => {
    const events: HistoryEvent[] = [];
    fault(events, 0, failover);
    probe(events, 0, 'a', [100, 300], 'store');
    probe(events, 1, 'b', [200, 400], 'store');
    const checked = checkHalfOpenProbes(sorted(events), 1, 3);
    expect(checked.violations).toHaveLength(1);
    expect(checked).toMatchObject({ worst: 2, bound: 1 });
  });

  it('lets a probe the breaker granted alone (its lease request failed) run beside one', () => {
    const events: HistoryEvent[] = [];
    fault(events, 0, failover);
    probe(events, 0, 'a', [100, 300], 'store');
    probe(events, 1, 'b', [200, 400], 'local');
    const checked = checkHalfOpenProbes(sorted(events), 1, 3);
    expect(checked.violations).toEqual([]);
    expect(checked).toMatchObject({ worst: 2, bound: 3 });
  });
});

/** A load of `key` by `replica` from `from` to `to`, with how its last store call went. */
function load(
  events: HistoryEvent[],
  replica: number,
  call: string,
  at: [number, number],
  lease: string,
): void {
  span(events, 'load', at, { replica, call, key: 'k0', lease });
}

describe('cache loads on a Redis Cluster', () => {
  const bound = { leaseTtlMs: 600, localTailMs: 1_500 };
  const migration = {
    fault: 'cluster-slot-migration',
    target: 'store',
    unreachable: false,
  } as const;
  const sorted = (events: HistoryEvent[]) =>
    events.sort((a, b) => a.mono - b.mono).map((event, index) => ({ ...event, index }));

  it('catches two loaders of a key under one lease while its slot moves', () => {
    const events: HistoryEvent[] = [];
    fault(events, 0, migration);
    load(events, 0, 'a', [100, 220], 'acquired');
    load(events, 1, 'b', [150, 270], 'acquired');
    expect(checkOneLoaderPerKey(sorted(events), bound).violations).toHaveLength(1);
  });

  it('excuses a loader whose lease call failed as the slot moved, and says why', () => {
    const events: HistoryEvent[] = [];
    fault(events, 0, migration);
    load(events, 0, 'a', [100, 220], 'acquired');
    load(events, 1, 'b', [150, 270], 'lease-failed');
    const checked = checkOneLoaderPerKey(sorted(events), bound);
    expect(checked.violations).toEqual([]);
    expect(checked.excused).toEqual({ 'store call failed': 1 });
  });
});

describeWithRedisCluster('nemesis on the other topologies (short)', () => {
  it("write-behind with 'wait' through Sentinel failovers: no acknowledged write lost", async () => {
    const report = await runScenario(writeBehindScenario(['sentinel-failover'], 'wait'), {
      durationMs: 4_000,
    });
    const persisted = result(report, 'write-behind/acknowledged-persisted');
    console.info(
      `nemesis/write-behind-wait-sentinel: ${report.operations} operations, ${persisted.checked} acknowledged, faults ${JSON.stringify(report.faults)}`,
    );
    expect(report.faults['sentinel-failover']).toBeGreaterThan(0);
    expect(persisted.violations, summary(report)).toEqual([]);
    // Nothing excused: 'wait' owes every acknowledged write, failover or not.
    expect(persisted.excused).toBeUndefined();
    expect(persisted.checked).toBeGreaterThan(300);
  }, 60_000);

  it('cache on a Redis Cluster: one loader per key per lease and monotonic reads while the slots of its keys move', async () => {
    const report = await runScenario(cacheScenario(['cluster-slot-migration']), {
      durationMs: 4_000,
    });
    console.info(
      `nemesis/cache-cluster: ${report.operations} operations, faults ${JSON.stringify(report.faults)}`,
    );
    expect(report.faults['cluster-slot-migration']).toBeGreaterThan(0);
    const loaders = result(report, 'cache/one-loader-per-key');
    expect(loaders.violations, summary(report)).toEqual([]);
    expect(result(report, 'cache/monotonic-reads').violations, summary(report)).toEqual([]);
    expect(loaders.checked).toBeGreaterThan(20);
  }, 90_000);

  it("write-behind with 'primary' through Sentinel failovers: it loses acknowledged writes, all within the bound", async () => {
    // The contrast to 'wait': the primary is killed with its replica behind, and what it had
    // acknowledged meanwhile is gone — excused as the documented loss window, nothing beyond it.
    const report = await runScenario(writeBehindScenario(['sentinel-failover'], 'primary'), {
      durationMs: 4_000,
    });
    const persisted = result(report, 'write-behind/acknowledged-persisted');
    const lost = persisted.excused?.["lost with the store's state (sentinel-failover)"] ?? 0;
    console.info(
      `nemesis/write-behind-sentinel: ${persisted.checked} acknowledged, ${lost} lost with a failover (excused), faults ${JSON.stringify(report.faults)}`,
    );
    expect(persisted.violations, summary(report)).toEqual([]);
    expect(lost).toBeGreaterThan(0);
  }, 60_000);
});
