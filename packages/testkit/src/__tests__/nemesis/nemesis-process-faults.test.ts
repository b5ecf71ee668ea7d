// Redis process faults of the nemesis (issue #17): a crash of a Redis that persists with AOF, which
// must keep every acknowledged write, and a Cluster master frozen (SIGSTOP) while its replica is
// promoted with CLUSTER FAILOVER FORCE, which may lose the latest writes and nothing older. First
// the fault log and the checkers on hand-made histories, then the short runs.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  type FaultEntry,
  faultIntervals,
  lossWithin,
  lostWith,
  stateLosses,
} from '../../nemesis/fault-log.js';
import type { HistoryEvent } from '../../nemesis/history.js';
import { checkBulkheadConcurrency } from '../../nemesis/invariants/bulkhead.js';
import { checkRateLimitWindows } from '../../nemesis/invariants/rate-limit.js';
import { checkWritesPersisted } from '../../nemesis/invariants/write-behind.js';
import { startNemesisRedis } from '../../nemesis/redis-process.js';
import { runScenario } from '../../nemesis/scenario.js';
import { rateLimitScenario } from '../../nemesis/scenarios/rate-limit.js';
import { writeBehindScenario } from '../../nemesis/scenarios/write-behind.js';
import { describeWithRedisCluster } from '../../services.js';
import { result, summary } from './verdicts.js';

/** Builds a history by hand; `done()` orders and numbers it. */
class Builder {
  readonly events: HistoryEvent[] = [];
  #id = 0;
  #add(event: Omit<HistoryEvent, 'pid' | 'wall' | 'id'>): void {
    this.events.push({ pid: 1000 + event.process, wall: event.mono, id: this.#id++, ...event });
  }
  /** A fault from `from` to `to`. */
  fault(from: number, to: number, entry: Omit<FaultEntry, 'phase'>): this {
    for (const [mono, phase] of [
      [from, 'start'],
      [to, 'end'],
    ] as const) {
      this.#add({ process: -1, type: 'info', f: 'fault', mono, value: { ...entry, phase } });
    }
    return this;
  }
  /** A forced Cluster failover in force from `from` to `to`. */
  forced(from: number, to: number): this {
    return this.fault(from, to, {
      fault: 'cluster-failover-force',
      target: 'store',
      unreachable: false,
      losesWrites: true,
    });
  }
  /** A restart without persistence from `from` to `to`. */
  crash(from: number, to: number): this {
    return this.fault(from, to, {
      fault: 'store-crash',
      target: 'store',
      unreachable: true,
      losesState: true,
    });
  }
  /** A rate-limit admission by the store, decided at `at`. */
  admit(process: number, at: number): this {
    const id = this.#id;
    this.#add({ process, type: 'invoke', f: 'limit', mono: at, value: { cost: 1 } });
    this.events.push({
      pid: 1000 + process,
      wall: at + 1,
      id,
      process,
      type: 'ok',
      f: 'limit',
      mono: at + 1,
      value: { allowed: true, source: 'store' },
    });
    return this;
  }
  /** An acknowledged write-behind write of `key` at `version`. */
  write(process: number, at: number, key: string, version: number): this {
    this.#add({ process, type: 'ok', f: 'write', mono: at, value: { key, version } });
    return this;
  }
  /** A call of `replica` acting on the resource from `from` to `to`. */
  acting(replica: number, call: string, from: number, to: number): this {
    for (const mono of [from, to]) {
      this.#add({ process: -2, type: 'info', f: 'act', mono, token: 1, value: { replica, call } });
    }
    return this;
  }
  done(): HistoryEvent[] {
    const sorted = [...this.events].sort((a, b) => a.mono - b.mono);
    sorted.forEach((event, index) => {
      event.index = index;
    });
    return sorted;
  }
}

describe('fault log: what a fault may make the store forget', () => {
  it('a restart without persistence, everything before it; a forced failover, what it acknowledged while in force', () => {
    const history = new Builder()
      .crash(100, 200)
      .forced(300, 900)
      .fault(1_000, 1_500, { fault: 'cluster-failover', target: 'store', unreachable: false })
      .done();
    const losses = stateLosses(faultIntervals(history));
    expect(losses.map(({ fault, from, to }) => [fault.fault, from, to])).toEqual([
      ['store-crash', Number.NEGATIVE_INFINITY, 100],
      ['cluster-failover-force', 300, 900],
    ]);
    const [crash, forced] = losses as [(typeof losses)[0], (typeof losses)[0]];
    expect([lostWith(crash, 50), lostWith(crash, 150)]).toEqual([true, false]);
    expect([lostWith(forced, 250), lostWith(forced, 600), lostWith(forced, 950)]).toEqual([
      false,
      true,
      false,
    ]);
    // A window from 500 to 1 000 meets the forced failover's span, not the crash (at 100).
    expect([lossWithin(crash, 500, 1_000), lossWithin(forced, 500, 1_000)]).toEqual([false, true]);
    expect(lossWithin(forced, 950, 2_000)).toBe(false);
  });
});

describe('checkers across a forced failover (losesWrites)', () => {
  it('write-behind: excuses a write acknowledged while it was in force, not one acknowledged before or after', () => {
    const history = new Builder()
      .write(0, 250, 'before', 1)
      .write(1, 500, 'during', 1)
      .write(2, 950, 'after', 1)
      .forced(300, 900)
      .done();
    const result = checkWritesPersisted(history, { excuseStateLoss: true });
    expect(result.excused).toEqual({ "lost with the store's state (cluster-failover-force)": 1 });
    expect(result.violations.map((violation) => violation.message)).toEqual([
      'r0 write of before at version 1 was acknowledged and never reached the database (newest row of before: none)',
      'r2 write of after at version 1 was acknowledged and never reached the database (newest row of after: none)',
    ]);
    // A restart without persistence at the same time would have taken the older write too.
    const crashed = new Builder().write(0, 250, 'before', 1).crash(300, 900).done();
    expect(checkWritesPersisted(crashed, { excuseStateLoss: true }).violations).toEqual([]);
  });

  it('rate limit: one more window of admissions near the span, however long it lasted, and none later', () => {
    const bound = { limit: 10, burst: 2, intervalMs: 1_000, replicas: 3 };
    const twice = (b: Builder, from: number): Builder => {
      for (let i = 0; i < 24; i++) b.admit(i % 3, from + i);
      return b;
    };
    // The failover began 2.5 s before the window: only its span reaches it.
    const near = twice(new Builder().forced(0, 3_000), 2_500).done();
    expect(checkRateLimitWindows(near, bound).violations).toEqual([]);
    expect(
      checkRateLimitWindows(twice(new Builder(), 2_500).done(), bound).violations,
    ).toHaveLength(1);
    // Two intervals after it ended, the store forgets nothing: the strict bound.
    const later = twice(new Builder().forced(0, 3_000), 5_000).done();
    expect(checkRateLimitWindows(later, bound).violations).toHaveLength(1);
  });

  it('bulkhead: a lease taken while it was in force may be forgotten; one taken after it may not', () => {
    const overlap = (b: Builder, from: number): HistoryEvent[] =>
      b
        .acting(0, 'a', from, from + 1_000)
        .acting(1, 'b', from + 500, from + 800)
        .done();
    expect(
      checkBulkheadConcurrency(overlap(new Builder().forced(50, 1_000), 100), 1).violations,
    ).toEqual([]);
    expect(
      checkBulkheadConcurrency(overlap(new Builder().forced(50, 1_000), 2_000), 1).violations,
    ).toHaveLength(1);
  });
});

describeWithRedisCluster('nemesis (short): Redis process faults', () => {
  it('a Redis with AOF keeps its data across SIGKILL and restart, and loses it when its files are lost', async () => {
    const redis = await startNemesisRedis({ aof: true });
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();
      await client.set('nemesis-aof:key', 'kept');
      await redis.crash();
      await redis.restart();
      expect(await client.get('nemesis-aof:key')).toBe('kept');
      await redis.crash();
      await redis.restart({ empty: true });
      expect(await client.get('nemesis-aof:key')).toBeNull();
    } finally {
      client.disconnect();
      await redis.stop();
    }
  }, 30_000);

  it('write-behind: no acknowledged write is lost across SIGKILL and restart of a Redis with AOF', async () => {
    const report = await runScenario(writeBehindScenario(['store-crash-aof']), {
      durationMs: 4_000,
    });
    const persisted = result(report, 'write-behind/acknowledged-persisted');
    console.info(
      `nemesis/write-behind × store-crash-aof: ${report.operations} operations, faults ${JSON.stringify(report.faults)}`,
    );
    expect(report.faults['store-crash-aof']).toBeGreaterThan(0);
    // The state survives: nothing is excused, nothing is lost.
    expect(persisted.excused).toBeUndefined();
    expect(persisted.violations, summary(report)).toEqual([]);
    expect(persisted.checked).toBeGreaterThan(500);
  }, 60_000);
});

describeWithRedisCluster('nemesis (short): forced Cluster failover', () => {
  it('rate limit: the window bound holds while the limit key’s master is frozen and its replica forced in', async () => {
    const report = await runScenario(rateLimitScenario(['cluster-failover-force']), {
      durationMs: 5_000,
    });
    console.info(
      `nemesis/rate-limit × cluster-failover-force: ${report.operations} operations, faults ${JSON.stringify(report.faults)}`,
    );
    expect(report.faults['cluster-failover-force']).toBeGreaterThan(0);
    expect(result(report, 'rate-limit/window').violations, summary(report)).toEqual([]);
    expect(result(report, 'rate-limit/no-silent-fail-open').violations).toEqual([]);
    expect(result(report, 'rate-limit/window').checked).toBeGreaterThan(300);
  }, 90_000);
});
