// The checkers on hand-made histories: each catches the violation it is for, and lets through
// what is within its bound.
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatViolations } from '../../nemesis/checker.js';
import { type FaultEntry, faultIntervals } from '../../nemesis/fault-log.js';
import { type HistoryEvent, openHistory, readHistory } from '../../nemesis/history.js';
import { checkHalfOpenProbes } from '../../nemesis/invariants/breaker.js';
import { checkFleetConverges, checkFleetRejects } from '../../nemesis/invariants/breaker-fleet.js';
import {
  checkBulkheadConcurrency,
  checkNoStaleActions,
} from '../../nemesis/invariants/bulkhead.js';
import { checkMonotonicReads, checkOneLoaderPerKey } from '../../nemesis/invariants/cache.js';
import {
  checkNoSilentFailOpen,
  checkRateLimitWindows,
} from '../../nemesis/invariants/rate-limit.js';
import { checkRetryBudget } from '../../nemesis/invariants/retry-budget.js';

/** Builds a history by hand, numbered in time order. */
class Builder {
  readonly events: HistoryEvent[] = [];
  #id = 0;
  add(event: Omit<HistoryEvent, 'pid' | 'wall' | 'id'> & { id?: number }): number {
    const id = event.id ?? this.#id++;
    this.events.push({ pid: 1000 + event.process, wall: event.mono, ...event, id });
    return id;
  }
  limit(process: number, at: number, allowed: boolean, source = 'store', tookMs = 1): void {
    const id = this.add({ process, type: 'invoke', f: 'limit', mono: at, value: { cost: 1 } });
    this.add({
      process,
      type: 'ok',
      f: 'limit',
      id,
      mono: at + tookMs,
      value: { allowed, source },
    });
  }
  fault(at: number, entry: Omit<FaultEntry, 'phase'>, phase: 'start' | 'end'): void {
    this.add({ process: -1, type: 'info', f: 'fault', mono: at, value: { ...entry, phase } });
  }
  act(at: number, replica: number, call: string, token: number, kind?: string): void {
    const value = kind === undefined ? { replica, call } : { replica, call, kind };
    this.add({ process: -2, type: 'info', f: 'act', mono: at, token, value });
  }
  probe(replica: number, call: string, from: number, to: number): void {
    this.act(from, replica, call, 0, 'probe-start');
    this.act(to, replica, call, 0, 'probe-end');
  }
  /** A call whose first attempt starts at `at` and that retries `retries` times, 10 ms apart. */
  call(process: number, at: number, retries: number): void {
    const call = this.add({ process, type: 'invoke', f: 'call', mono: at });
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
      const start = at + (attempt - 1) * 10;
      this.add({ process, type: 'info', f: 'attempt', mono: start, value: { call, attempt } });
      this.add({
        process,
        type: 'info',
        f: 'attempt-failed',
        mono: start + 2,
        value: { call, attempt },
      });
    }
  }
  /** A cache load of `key` by `replica`, acting on the resource from `from` to `to`. */
  load(
    replica: number,
    call: string,
    key: string,
    from: number,
    to: number,
    status = 'healthy',
    lease = 'acquired',
  ) {
    const value = { replica, call, key, storeStatus: status, lease };
    this.add({
      process: -2,
      type: 'info',
      f: 'act',
      mono: from,
      value: { ...value, kind: 'load-start' },
    });
    this.add({
      process: -2,
      type: 'info',
      f: 'act',
      mono: to,
      value: { ...value, kind: 'load-end' },
    });
  }
  /** A read of `key` by `process` from `at` to `at + 1`, answered with `version` loaded by `from`. */
  read(process: number, key: string, at: number, version: number, from = process): void {
    const id = this.add({ process, type: 'invoke', f: 'read', mono: at, value: { key } });
    this.add({ process, type: 'ok', f: 'read', id, mono: at + 1, value: { key, version, from } });
  }
  /** A replica's own record (`state`, `admitted`, `view`). */
  note(process: number, at: number, f: string, value: Record<string, unknown>): void {
    this.add({ process, type: 'info', f, mono: at, value });
  }
  done(): HistoryEvent[] {
    const sorted = [...this.events].sort((a, b) => a.mono - b.mono);
    sorted.forEach((event, index) => {
      event.index = index;
    });
    return sorted;
  }
}

const bound = { limit: 10, burst: 2, intervalMs: 1_000, replicas: 2 };

describe('rate-limit checkers', () => {
  it('pass a history within limit + burst per window', () => {
    const b = new Builder();
    // 12 at once, then one every 100 ms: never more than 12 in any second.
    for (let i = 0; i < 12; i++) b.limit(i % 2, i, true);
    for (let i = 1; i <= 30; i++) b.limit(0, 1_000 + i * 100, true);
    const result = checkRateLimitWindows(b.done(), bound);
    expect(result.violations).toEqual([]);
    expect(result.worst).toBe(12);
  });

  it('catch one admission too many in a window, and show it in its history', () => {
    const b = new Builder();
    for (let i = 0; i < 13; i++) b.limit(i % 2, i * 10, true);
    const history = b.done();
    const result = checkRateLimitWindows(history, bound);
    expect(result.violations).toHaveLength(1);
    expect(result.violations[0]!.message).toMatch(/^13 admitted \(13 by the store, 0 degraded\)/);
    expect(formatViolations(history, result.violations)).toMatch(
      /\[rate-limit\/window\][\s\S]*>> #/,
    );
  });

  it('count only admissions wholly inside a window (no false alarm from slow replies)', () => {
    const b = new Builder();
    // 12 quick, and a 13th whose reply took 900 ms: it may have been decided a second earlier.
    for (let i = 0; i < 12; i++) b.limit(0, 500 + i, true);
    b.limit(1, 0, true, 'store', 1_400);
    expect(checkRateLimitWindows(b.done(), bound).violations).toEqual([]);
  });

  it('allow the degraded share and a state loss on top, and no more', () => {
    const b = new Builder();
    b.fault(
      0,
      { fault: 'store-crash', target: 'store', unreachable: true, losesState: true },
      'start',
    );
    // 12 by the store, 12 by the restarted store, 14 degraded (limit + burst + replicas).
    for (let i = 0; i < 24; i++) b.limit(0, 10 + i, true);
    for (let i = 0; i < 14; i++) b.limit(1, 100 + i, true, 'degraded');
    b.fault(
      200,
      { fault: 'store-crash', target: 'store', unreachable: true, losesState: true },
      'end',
    );
    expect(checkRateLimitWindows(b.done(), bound).violations).toEqual([]);
    b.limit(1, 150, true, 'degraded');
    expect(checkRateLimitWindows(b.done(), bound).violations).toHaveLength(1);
  });

  it('catch a store-sourced admission while the store was unreachable', () => {
    const b = new Builder();
    b.fault(100, { fault: 'store-pause', target: 'store', unreachable: true }, 'start');
    b.limit(0, 150, true, 'degraded');
    b.limit(1, 160, false, 'store');
    b.fault(400, { fault: 'store-pause', target: 'store', unreachable: true }, 'end');
    const clean = checkNoSilentFailOpen(b.done());
    expect(clean).toMatchObject({ checked: 2, violations: [] });
    b.limit(1, 170, true, 'store');
    const caught = checkNoSilentFailOpen(b.done());
    expect(caught.violations).toHaveLength(1);
    expect(caught.violations[0]!.message).toMatch(/source 'store'.*store-pause/);
  });

  it('only blame a replica for an outage of its own link', () => {
    const b = new Builder();
    b.fault(100, { fault: 'proxy-drop', target: 0, unreachable: true }, 'start');
    b.limit(1, 150, true, 'store');
    b.fault(400, { fault: 'proxy-drop', target: 0, unreachable: true }, 'end');
    expect(checkNoSilentFailOpen(b.done()).violations).toEqual([]);
  });

  it('in reservation mode, allow replicas × (batch − 1) reserved permits on top of limit + burst, and no more', () => {
    const reserve = { ...bound, reserveBatch: 3 };
    const b = new Builder();
    // 12 by the store, and 2 per replica from batches taken before: 16 in one second.
    for (let i = 0; i < 12; i++) b.limit(i % 2, 100 + i, true);
    for (let i = 0; i < 4; i++) b.limit(i % 2, 200 + i, true, 'reservation');
    const within = checkRateLimitWindows(b.done(), reserve);
    expect(within.violations).toEqual([]);
    expect(within).toMatchObject({ worst: 16, bound: 16 });
    // Without reservations the same history overshoots limit + burst.
    expect(checkRateLimitWindows(b.done(), bound).violations).toHaveLength(1);
    b.limit(0, 300, true, 'reservation');
    const over = checkRateLimitWindows(b.done(), reserve);
    expect(over.violations).toHaveLength(1);
    expect(over.violations[0]!.message).toMatch(
      /^17 admitted \(17 by the store.*bound 16 .*4 reserved/,
    );
  });

  it('in reservation mode, let a replica spend the batch − 1 permits it held when the store went away, and no more', () => {
    const b = new Builder();
    b.fault(100, { fault: 'store-pause', target: 'store', unreachable: true }, 'start');
    // batch 3: each replica may hold 2 permits the store granted before the pause.
    b.limit(0, 150, true, 'reservation');
    b.limit(0, 160, true, 'reservation');
    b.limit(1, 170, true, 'reservation');
    b.limit(1, 180, true, 'reservation');
    b.limit(0, 190, true, 'degraded');
    b.fault(400, { fault: 'store-pause', target: 'store', unreachable: true }, 'end');
    // The next outage starts afresh: a pool taken in between.
    b.fault(600, { fault: 'store-pause', target: 'store', unreachable: true }, 'start');
    b.limit(0, 650, true, 'reservation');
    b.fault(900, { fault: 'store-pause', target: 'store', unreachable: true }, 'end');
    const held = checkNoSilentFailOpen(b.done(), 3);
    expect(held).toMatchObject({
      checked: 6,
      violations: [],
      excused: { 'reserved permits spent while unreachable': 5 },
    });
    // Without reservation mode a reserved permit in an outage is a silent fail-open (reported
    // once per replica and outage).
    expect(checkNoSilentFailOpen(b.done()).violations).toHaveLength(3);
    b.limit(0, 200, true, 'reservation');
    b.limit(0, 210, true, 'reservation');
    const caught = checkNoSilentFailOpen(b.done(), 3);
    expect(caught.violations).toHaveLength(1);
    expect(caught.violations[0]!.message).toMatch(
      /^r0 spent 3 reserved permits while the store was unreachable \(store-pause\); it can have held at most 2$/,
    );
  });
});

describe("rate-limit window checker on DynamoDB (decisions on the replicas' clocks)", () => {
  // limit 10 per second: T = 100 ms, so a clock jump of 500 ms allows 5 more units nearby.
  const jump = (b: Builder, at: number, offsetMs: number, phase: 'start' | 'end') =>
    b.fault(
      at,
      { fault: 'clock-jump', target: 1, unreachable: false, detail: { offsetMs } },
      phase,
    );

  it('allow ceil(J / T) more units per clock jump of J ms nearby, on DynamoDB only', () => {
    const b = new Builder();
    jump(b, 100, 500, 'start');
    for (let i = 0; i < 17; i++) b.limit(i % 2, 200 + i * 10, true);
    jump(b, 600, 500, 'end');
    const dynamo = checkRateLimitWindows(b.done(), { ...bound, store: 'dynamodb' });
    expect(dynamo.violations).toEqual([]);
    expect(dynamo).toMatchObject({ worst: 17, bound: 17 });
    // Redis decides on its own TIME: the jump allows nothing there.
    expect(checkRateLimitWindows(b.done(), bound).violations).toHaveLength(1);
    expect(checkRateLimitWindows(b.done(), { ...bound, store: 'redis' }).violations).toHaveLength(
      1,
    );
    b.limit(0, 500, true);
    const over = checkRateLimitWindows(b.done(), { ...bound, store: 'dynamodb' });
    expect(over.violations).toHaveLength(1);
    expect(over.violations[0]!.message).toMatch(/^18 admitted .*bound 17 .*5 for clock skew\)$/);
  });

  it('count a backward jump too, and give no allowance to windows clear of any jump', () => {
    const b = new Builder();
    jump(b, 100, -500, 'start');
    jump(b, 600, -500, 'end');
    for (let i = 0; i < 17; i++) b.limit(i % 2, 700 + i * 10, true);
    expect(checkRateLimitWindows(b.done(), { ...bound, store: 'dynamodb' }).violations).toEqual([]);
    // 17 again, 2 s after the jump healed (past the tail a heal takes to reach the replica).
    for (let i = 0; i < 17; i++) b.limit(i % 2, 3_000 + i * 10, true);
    const late = checkRateLimitWindows(b.done(), { ...bound, store: 'dynamodb' });
    expect(late.violations).toHaveLength(1);
    expect(late.violations[0]!.message).toMatch(/^17 admitted .*bound 12 by the store/);
  });
});

describe('bulkhead checkers', () => {
  it('catch three calls acting at once with two permits', () => {
    const b = new Builder();
    b.act(0, 0, 'a', 1);
    b.act(100, 0, 'a', 1);
    b.act(10, 1, 'b', 2);
    b.act(90, 1, 'b', 2);
    expect(checkBulkheadConcurrency(b.done(), 2).violations).toEqual([]);
    b.act(50, 2, 'c', 3);
    b.act(60, 2, 'c', 3);
    const result = checkBulkheadConcurrency(b.done(), 2);
    expect(result.worst).toBe(3);
    expect(result.violations).toHaveLength(1);
  });

  it('hand a permit on without overlap, single-action calls included', () => {
    const b = new Builder();
    b.act(0, 0, 'a', 1);
    b.act(10, 0, 'b', 2);
    b.act(10, 1, 'c', 3);
    b.act(20, 1, 'c', 3);
    b.act(20, 0, 'd', 4);
    expect(checkBulkheadConcurrency(b.done(), 1).violations).toEqual([]);
  });

  it('catch a call that acts after its replica was paused past its lease', () => {
    const b = new Builder();
    b.act(0, 0, 'a', 1);
    b.fault(10, { fault: 'replica-pause', target: 0, unreachable: false }, 'start');
    b.act(20, 1, 'b', 2);
    b.act(800, 1, 'b', 2);
    b.fault(1_000, { fault: 'replica-pause', target: 0, unreachable: false }, 'end');
    const history = b.done();
    expect(checkNoStaleActions(history, 700).violations).toEqual([]);
    b.act(1_001, 0, 'a', 1);
    b.act(1_020, 0, 'a', 1);
    const stale = b.done();
    expect(checkNoStaleActions(stale, 700, 1).violations).toHaveLength(1);
    expect(checkNoStaleActions(stale, 700, 2)).toMatchObject({ worst: 2, violations: [] });
    // The stale actions are judged by that invariant, not counted as concurrency too.
    expect(checkBulkheadConcurrency(stale, 1, 700).violations).toEqual([]);
    expect(checkBulkheadConcurrency(stale, 1).violations).toHaveLength(1);
  });

  it('permitQuota: a block taken before a state loss is covered by its allowance while it serves calls after it', () => {
    const crash = (b: Builder, at: number) => {
      const entry = { fault: 'store-crash', target: 'store' as const, unreachable: true };
      b.fault(at, { ...entry, losesState: true }, 'start');
      b.fault(at + 5, { ...entry, losesState: true }, 'end');
    };
    // r0's block (token 5) serves call a, then, after the store forgot it at 120, call b; r1 gets
    // both permits of the emptied store (tokens 1 and 2) while b still runs.
    const build = (bStart: number) => {
      const b = new Builder();
      b.act(0, 0, 'a', 5);
      b.act(100, 0, 'a', 5);
      crash(b, 120);
      b.act(bStart, 0, 'b', 5);
      b.act(bStart + 250, 0, 'b', 5);
      b.act(bStart + 50, 1, 'c', 1);
      b.act(bStart + 150, 1, 'c', 1);
      b.act(bStart + 60, 1, 'd', 2);
      b.act(bStart + 160, 1, 'd', 2);
      return b.done();
    };
    // b runs under a block held since 0, before the loss: 3 at once, within 2 × (1 + 1).
    expect(checkBulkheadConcurrency(build(150), 2, 700)).toMatchObject({
      worst: 3,
      bound: 4,
      violations: [],
    });
    // Taken call by call (no block), b started after the loss: its permit came from the empty
    // store, and 3 at once is a violation.
    expect(checkBulkheadConcurrency(build(150), 2).violations).toHaveLength(1);
    // A block no call ran under for longer than a lease was handed back: b's is a new one.
    expect(checkBulkheadConcurrency(build(900), 2, 700).violations).toHaveLength(1);
  });

  it('permitQuota: catch a call that starts under its block after its replica was paused past the lease', () => {
    const pause = (b: Builder) => {
      b.fault(10, { fault: 'replica-pause', target: 0, unreachable: false }, 'start');
      b.fault(1_000, { fault: 'replica-pause', target: 0, unreachable: false }, 'end');
    };
    const build = (lossAt?: number) => {
      const b = new Builder();
      // r0's block (token 5) serves a before the pause; r1 takes the permits meanwhile.
      b.act(0, 0, 'a', 5);
      b.act(5, 0, 'a', 5);
      pause(b);
      if (lossAt !== undefined) {
        const entry = { fault: 'store-crash', target: 'store' as const, unreachable: true };
        b.fault(lossAt, { ...entry, losesState: true }, 'start');
        b.fault(lossAt + 5, { ...entry, losesState: true }, 'end');
      }
      b.act(800, 1, 'c', 6);
      b.act(1_100, 1, 'c', 6);
      // After resuming, r0 serves b from the block the pause made it lose, and a new call d
      // with a new block.
      b.act(1_001, 0, 'b', 5);
      b.act(1_020, 0, 'b', 5);
      b.act(1_030, 0, 'd', 7);
      return b.done();
    };
    const caught = checkNoStaleActions(build(), 700);
    expect(caught).toMatchObject({ checked: 2, worst: 2 });
    expect(caught.violations).toHaveLength(1);
    expect(caught.violations[0]!.message).toMatch(
      /^r0 call b \(token 5\) .* \(started after it under its block\), and acted 2 time/,
    );
    // Its actions are that invariant's, not counted as concurrency too.
    expect(checkBulkheadConcurrency(build(), 2, 700).violations).toEqual([]);
    // A state loss in between: the store may have handed token 5 out again, to b's new block.
    expect(checkNoStaleActions(build(500), 700)).toMatchObject({ checked: 1, violations: [] });
  });
});

describe('breaker checker', () => {
  it('catches two probes at once with maxCalls 1, unless a fault let replicas decide alone', () => {
    const b = new Builder();
    b.probe(0, 'a', 0, 40);
    b.probe(1, 'b', 100, 140);
    expect(checkHalfOpenProbes(b.done(), 1, 3).violations).toEqual([]);
    b.probe(2, 'c', 120, 160);
    const caught = checkHalfOpenProbes(b.done(), 1, 3);
    expect(caught.violations).toHaveLength(1);
    expect(caught.violations[0]!.message).toMatch(/^2 half-open probes at once \(bound 1\)/);

    const faulty = new Builder();
    faulty.fault(50, { fault: 'store-pause', target: 'store', unreachable: true }, 'start');
    faulty.probe(1, 'b', 100, 140);
    faulty.probe(2, 'c', 120, 160);
    faulty.fault(300, { fault: 'store-pause', target: 'store', unreachable: true }, 'end');
    expect(checkHalfOpenProbes(faulty.done(), 1, 3)).toMatchObject({ worst: 2, bound: 3 });
    expect(checkHalfOpenProbes(faulty.done(), 1, 3).violations).toEqual([]);

    // A replica that says its store is degraded probed on its own ('local'): per replica.
    const local = new Builder();
    local.probe(1, 'b', 100, 140);
    local.act(120, 2, 'c', 0, 'probe-start');
    local.events.at(-1)!.value = {
      replica: 2,
      call: 'c',
      kind: 'probe-start',
      storeStatus: 'degraded',
    };
    local.act(160, 2, 'c', 0, 'probe-end');
    expect(checkHalfOpenProbes(local.done(), 1, 3).violations).toEqual([]);
  });

  it('relaxes nothing for a replica pause or a clock jump; a prober paused past its lease is excused', () => {
    const pause = (b: Builder, replica: number, from: number, to: number) => {
      b.fault(from, { fault: 'replica-pause', target: replica, unreachable: false }, 'start');
      b.fault(to, { fault: 'replica-pause', target: replica, unreachable: false }, 'end');
    };
    // A pause (or a jump) of a replica that is not probing: the store still answers everyone.
    const other = new Builder();
    pause(other, 0, 50, 300);
    other.fault(60, { fault: 'clock-jump', target: 1, unreachable: false }, 'start');
    other.probe(1, 'b', 100, 140);
    other.probe(2, 'c', 120, 160);
    other.fault(200, { fault: 'clock-jump', target: 1, unreachable: false }, 'end');
    expect(checkHalfOpenProbes(other.done(), 1, 3, 600).violations).toHaveLength(1);

    // r0 probes from 0, is paused 100–1,500 (its lease of 600 ms lapses), r1 probes from 700.
    const stale = new Builder();
    stale.probe(0, 'a', 0, 1_501);
    pause(stale, 0, 100, 1_500);
    stale.probe(1, 'b', 700, 740);
    const excused = checkHalfOpenProbes(stale.done(), 1, 3, 600);
    expect(excused.violations).toEqual([]);
    expect(excused.excused).toEqual({ 'prober paused past its lease': 1 });
    // Without the lease, or with a new prober before the lease lapsed, the overlap is caught.
    expect(checkHalfOpenProbes(stale.done(), 1, 3).violations).toHaveLength(1);
    stale.probe(2, 'c', 400, 440);
    expect(checkHalfOpenProbes(stale.done(), 1, 3, 600).violations).toHaveLength(1);
  });
});

describe('cache checkers', () => {
  const lease = { leaseTtlMs: 600, localTailMs: 1_000 };

  it('catch two loads of a key at once under a live lease; other keys and hand-overs pass', () => {
    const b = new Builder();
    b.load(0, 'a', 'k0', 0, 100);
    b.load(1, 'b', 'k0', 100, 200);
    b.load(2, 'c', 'k1', 50, 150);
    const clean = checkOneLoaderPerKey(b.done(), lease);
    expect(clean).toMatchObject({ checked: 3, worst: 1, violations: [] });
    b.load(2, 'd', 'k0', 150, 160);
    const caught = checkOneLoaderPerKey(b.done(), lease);
    expect(caught.worst).toBe(2);
    expect(caught.violations).toHaveLength(1);
    expect(caught.violations[0]!.message).toMatch(
      /^r2 started loading k0 \(call d\) 50 ms after r1/,
    );
  });

  it("let a loader take over once the paused holder's lease can have expired, not before", () => {
    const b = new Builder();
    b.load(0, 'a', 'k0', 0, 1_500);
    b.fault(100, { fault: 'replica-pause', target: 0, unreachable: false }, 'start');
    b.load(1, 'b', 'k0', 300, 500);
    b.fault(1_400, { fault: 'replica-pause', target: 0, unreachable: false }, 'end');
    // 300 ms after the holder's start: its lease (600 ms, renewed every 200 ms, so at least
    // 400 ms left after its last renewal) may still run.
    expect(checkOneLoaderPerKey(b.done(), lease).violations).toHaveLength(1);
    const later = new Builder();
    later.load(0, 'a', 'k0', 0, 1_500);
    later.fault(100, { fault: 'replica-pause', target: 0, unreachable: false }, 'start');
    later.load(1, 'b', 'k0', 700, 800);
    later.fault(1_400, { fault: 'replica-pause', target: 0, unreachable: false }, 'end');
    expect(checkOneLoaderPerKey(later.done(), lease)).toMatchObject({
      violations: [],
      excused: { 'lease expired': 1 },
    });
  });

  it("let loads without the lease overlap: degraded, or near a fault on the loader's link", () => {
    const b = new Builder();
    b.load(0, 'a', 'k0', 0, 100);
    b.load(1, 'b', 'k0', 20, 120, 'degraded');
    b.fault(200, { fault: 'proxy-drop', target: 2, unreachable: true }, 'start');
    b.fault(400, { fault: 'proxy-drop', target: 2, unreachable: true }, 'end');
    b.load(0, 'c', 'k0', 1_000, 1_100);
    b.load(2, 'd', 'k0', 1_050, 1_150);
    expect(checkOneLoaderPerKey(b.done(), lease)).toMatchObject({
      violations: [],
      excused: { degraded: 1, 'later without lease': 1 },
    });
    // The same overlap with the fault on another replica's link is caught.
    const other = new Builder();
    other.fault(200, { fault: 'proxy-drop', target: 1, unreachable: true }, 'start');
    other.fault(400, { fault: 'proxy-drop', target: 1, unreachable: true }, 'end');
    other.load(0, 'c', 'k0', 1_000, 1_100);
    other.load(2, 'd', 'k0', 1_050, 1_150);
    expect(checkOneLoaderPerKey(other.done(), lease).violations).toHaveLength(1);
  });

  it('let a load overlap when a store call on its way failed or outlived its deadline, not otherwise', () => {
    for (const lost of ['lease-failed', 'read-failed', 'lease-pending', 'read-pending']) {
      const b = new Builder();
      b.load(2, 'a', 'k0', 0, 120);
      b.load(1, 'b', 'k0', 90, 210, 'healthy', lost);
      expect(checkOneLoaderPerKey(b.done(), lease)).toMatchObject({
        violations: [],
        excused: { 'store call failed': 1 },
      });
    }
    // A lease call answered `held` (or a read with no lease call after it) is no excuse.
    for (const answered of ['held', 'changed', 'read']) {
      const b = new Builder();
      b.load(2, 'a', 'k0', 0, 120);
      b.load(1, 'b', 'k0', 90, 210, 'healthy', answered);
      expect(checkOneLoaderPerKey(b.done(), lease).violations).toHaveLength(1);
    }
  });

  it('catch a read that goes back to an older version, per replica and per key', () => {
    const b = new Builder();
    b.read(0, 'k0', 0, 100);
    b.read(0, 'k0', 10, 200);
    b.read(1, 'k0', 20, 150); // another replica: judged on its own
    b.read(0, 'k1', 30, 50); // another key
    expect(checkMonotonicReads(b.done())).toMatchObject({ checked: 4, violations: [] });
    b.read(0, 'k0', 40, 150, 1);
    const caught = checkMonotonicReads(b.done());
    expect(caught).toMatchObject({ worst: 50 });
    expect(caught.violations).toHaveLength(1);
    expect(caught.violations[0]!.message).toMatch(/^r0 read k0 at version 150\.0 after .* 200\.0/);
  });

  it('judge only reads that started after another ended', () => {
    const b = new Builder();
    const id = b.add({ process: 0, type: 'invoke', f: 'read', mono: 0, value: { key: 'k0' } });
    b.read(0, 'k0', 5, 300);
    // Invoked before the other ended: it may have been answered first.
    b.add({
      process: 0,
      type: 'ok',
      f: 'read',
      id,
      mono: 50,
      value: { key: 'k0', version: 100, from: 0 },
    });
    expect(checkMonotonicReads(b.done()).violations).toEqual([]);
  });

  it("with the 'local' bound, go back only from a value the replica loaded alone near a fault", () => {
    const b = new Builder();
    b.read(0, 'k0', 0, 100, 1);
    b.fault(200, { fault: 'proxy-drop', target: 0, unreachable: true }, 'start');
    b.read(0, 'k0', 350, 300); // loaded alone at 300, during the fault
    b.fault(400, { fault: 'proxy-drop', target: 0, unreachable: true }, 'end');
    b.read(0, 'k0', 600, 250, 1); // the fleet's value, older than its own
    const history = b.done();
    expect(checkMonotonicReads(history).violations).toHaveLength(1);
    expect(checkMonotonicReads(history, 1_000)).toMatchObject({
      violations: [],
      excused: { 'back from a value loaded alone': 1 },
    });
    // The fleet's values still must not go back.
    b.read(0, 'k0', 700, 200, 2);
    expect(checkMonotonicReads(b.done(), 1_000).violations).toHaveLength(1);
    // Nor may a value another replica loaded at that time: it came through the store.
    const shared = new Builder();
    shared.fault(200, { fault: 'proxy-drop', target: 0, unreachable: true }, 'start');
    shared.read(0, 'k0', 350, 300, 1);
    shared.fault(400, { fault: 'proxy-drop', target: 0, unreachable: true }, 'end');
    shared.read(0, 'k0', 600, 250, 1);
    expect(checkMonotonicReads(shared.done(), 1_000).violations).toHaveLength(1);
  });

  it("with the 'local' bound, go back from a value loaded without the store, with no fault near", () => {
    const history = (lease: string, storeStatus = 'healthy') => {
      const b = new Builder();
      b.read(0, 'k0', 0, 100, 1);
      // r0 loads k0 alone at 300 (its lease call failed): the value is never written.
      const id = b.add({ process: 0, type: 'invoke', f: 'load', mono: 300, value: { key: 'k0' } });
      b.add({
        process: 0,
        type: 'ok',
        f: 'load',
        id,
        mono: 301,
        value: { key: 'k0', version: 300, lease, storeStatus },
      });
      b.read(0, 'k0', 350, 300);
      b.read(0, 'k0', 600, 250, 1); // the fleet's value, older than its own
      return b.done();
    };
    expect(checkMonotonicReads(history('lease-failed'), 1_000)).toMatchObject({
      violations: [],
      excused: { 'back from a value loaded alone': 1 },
    });
    expect(checkMonotonicReads(history('held', 'degraded'), 1_000).violations).toEqual([]);
    expect(checkMonotonicReads(history('acquired'), 1_000).violations).toHaveLength(1);
  });
});

describe('breaker fleet checkers', () => {
  const rejects = { boundMs: 200, breakDurationMs: 1_000, tripLeadMs: 100, localTailMs: 1_000 };
  const healthy = 'healthy';

  it('catch a replica that lets calls through past the bound after the fleet opened', () => {
    const b = new Builder();
    b.note(1, 0, 'admitted', { state: 'closed', storeStatus: healthy });
    b.note(0, 100, 'state', { from: 'closed', to: 'open', storeStatus: healthy });
    b.note(1, 250, 'admitted', { state: 'closed', storeStatus: healthy }); // within 200 ms
    b.note(1, 260, 'state', { from: 'closed', to: 'open', storeStatus: healthy });
    b.note(2, 1_000, 'admitted', { state: 'half-open', storeStatus: healthy }); // the break is over
    expect(checkFleetRejects(b.done(), rejects)).toMatchObject({
      checked: 1,
      worst: 150,
      violations: [],
    });
    b.note(2, 400, 'admitted', { state: 'closed', storeStatus: healthy });
    const caught = checkFleetRejects(b.done(), rejects);
    expect(caught.violations).toHaveLength(1);
    expect(caught.violations[0]!.message).toMatch(
      /^r2 let a call through \(closed\) 300 ms after r0/,
    );
  });

  it('take a half-open probe on a lease the store granted as the store saying the break is over', () => {
    const b = new Builder();
    b.note(0, 100, 'state', { from: 'closed', to: 'open', storeStatus: healthy });
    // 850 ms after the open was first seen, before the estimated end of the break (t − 100 + 1000):
    // the store tripped earlier than that estimate, and granted the probe on its own clock.
    b.note(2, 950, 'admitted', { call: 7, state: 'half-open', storeStatus: healthy });
    b.add({
      process: -2,
      type: 'info',
      f: 'act',
      mono: 951,
      value: { replica: 2, call: '1002:7', kind: 'probe-start', lease: 'store' },
    });
    expect(checkFleetRejects(b.done(), rejects)).toMatchObject({
      checked: 1,
      violations: [],
      excused: { 'probe the store granted': 1 },
    });
    // A probe the replica's stand-in granted proves nothing about the store's break.
    b.note(1, 940, 'admitted', { call: 8, state: 'half-open', storeStatus: healthy });
    b.add({
      process: -2,
      type: 'info',
      f: 'act',
      mono: 941,
      value: { replica: 1, call: '1001:8', kind: 'probe-start', lease: 'local' },
    });
    const caught = checkFleetRejects(b.done(), rejects);
    expect(caught.violations).toHaveLength(1);
    expect(caught.violations[0]!.message).toMatch(/^r1 let a call through \(half-open\) 840 ms/);
  });

  it('let a replica cut off from the store decide alone, and not count its own opens', () => {
    const b = new Builder();
    b.fault(50, { fault: 'proxy-drop', target: 2, unreachable: true }, 'start');
    b.note(0, 100, 'state', { from: 'closed', to: 'open', storeStatus: healthy });
    b.note(2, 400, 'admitted', { state: 'closed', storeStatus: healthy });
    b.note(1, 450, 'admitted', { state: 'closed', storeStatus: 'degraded' });
    b.fault(600, { fault: 'proxy-drop', target: 2, unreachable: true }, 'end');
    // A degraded replica's local open is not the fleet's: the others may go on.
    b.note(1, 3_000, 'state', { from: 'closed', to: 'open', storeStatus: 'degraded' });
    b.note(0, 3_400, 'admitted', { state: 'closed', storeStatus: healthy });
    expect(checkFleetRejects(b.done(), rejects)).toMatchObject({ checked: 1, violations: [] });
  });

  const converge = { boundMs: 1_000, sampleMs: 25, replicas: 2 };

  it('measure how long the fleet takes to agree after a fault heals, and catch it never agreeing', () => {
    const b = new Builder();
    b.fault(0, { fault: 'store-pause', target: 'store', unreachable: true }, 'start');
    b.fault(100, { fault: 'store-pause', target: 'store', unreachable: true }, 'end');
    for (let t = 0; t <= 1_500; t += 25) {
      b.note(0, t, 'view', { state: 'open', storeStatus: t < 300 ? 'degraded' : healthy });
      b.note(1, t + 1, 'view', { state: t < 200 ? 'closed' : 'open', storeStatus: healthy });
    }
    // Agreeing is not enough: r0 is back on the store only at 300.
    expect(checkFleetConverges(b.done(), converge)).toMatchObject({
      checked: 1,
      worst: 200,
      violations: [],
    });
    const split = new Builder();
    split.fault(0, { fault: 'store-pause', target: 'store', unreachable: true }, 'start');
    split.fault(100, { fault: 'store-pause', target: 'store', unreachable: true }, 'end');
    for (let t = 0; t <= 1_500; t += 25) {
      split.note(0, t, 'view', { state: 'open', storeStatus: healthy });
      split.note(1, t + 1, 'view', { state: 'closed', storeStatus: healthy });
    }
    const caught = checkFleetConverges(split.done(), converge);
    expect(caught.violations).toHaveLength(1);
    expect(caught.violations[0]!.message).toMatch(
      /still disagreed: r0 open \(healthy\), r1 closed/,
    );
  });

  it('do not count agreement on stale samples, and skip a heal the next fault cut short', () => {
    const b = new Builder();
    b.fault(0, { fault: 'proxy-drop', target: 'store', unreachable: true }, 'start');
    b.fault(100, { fault: 'proxy-drop', target: 'store', unreachable: true }, 'end');
    // r1 stopped sampling (paused) at 50: its last view agrees, but it is stale.
    b.note(1, 50, 'view', { state: 'open', storeStatus: healthy });
    for (let t = 0; t <= 1_500; t += 25) {
      b.note(0, t, 'view', { state: 'open', storeStatus: healthy });
    }
    expect(checkFleetConverges(b.done(), converge).violations).toHaveLength(1);
    b.fault(500, { fault: 'store-pause', target: 'store', unreachable: true }, 'start');
    expect(checkFleetConverges(b.done(), converge)).toMatchObject({ checked: 0, violations: [] });
  });
});

describe('retry-budget checker', () => {
  const budget = { ratio: 0.2, minPerSecond: 1, windowMs: 1_000, slots: 4, replicas: 2 };

  it('passes retries within ratio × calls + reserve, and catches more', () => {
    const b = new Builder();
    // 50 calls in 100 ms: 0.2 × 50 + 1 = 11 retries allowed in any 750 ms.
    for (let i = 0; i < 50; i++) b.call(i % 2, i * 2, i >= 39 ? 1 : 0);
    const within = checkRetryBudget(b.done(), budget);
    expect(within).toMatchObject({ checked: 11, violations: [] });
    b.call(0, 200, 2);
    const caught = checkRetryBudget(b.done(), budget);
    expect(caught.violations).toHaveLength(1);
    expect(caught.violations[0]!.message).toMatch(/^13 retries within 750 ms; bound 12/);
  });

  it('allows each replica its own budget while a fault made them decide alone', () => {
    const b = new Builder();
    b.fault(0, { fault: 'store-pause', target: 'store', unreachable: true }, 'start');
    for (let i = 0; i < 50; i++) b.call(i % 2, i * 2, i >= 28 ? 1 : 0);
    b.fault(300, { fault: 'store-pause', target: 'store', unreachable: true }, 'end');
    expect(checkRetryBudget(b.done(), budget).violations).toEqual([]);
  });
});

describe('history files', () => {
  it('merge in time order, pair operations, and skip a torn last line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bw-history-'));
    try {
      const a = openHistory(join(dir, 'a.jsonl'), 0);
      const nemesis = openHistory(join(dir, 'n.jsonl'), -1);
      const id = a.invoke('limit', { cost: 1 });
      nemesis.info('fault', {
        fault: 'store-pause',
        target: 'store',
        unreachable: true,
        phase: 'start',
      });
      a.complete(id, 'ok', 'limit', { allowed: true, source: 'degraded' });
      nemesis.info('fault', {
        fault: 'store-pause',
        target: 'store',
        unreachable: true,
        phase: 'end',
      });
      a.close();
      nemesis.close();
      appendFileSync(join(dir, 'a.jsonl'), '{"process":0,"pid":1,"ty');
      const history = readHistory([join(dir, 'a.jsonl'), join(dir, 'n.jsonl')]);
      expect(history.map((event) => `${event.f}:${event.type}`)).toEqual([
        'limit:invoke',
        'fault:info',
        'limit:ok',
        'fault:info',
      ]);
      expect(history.map((event) => event.index)).toEqual([0, 1, 2, 3]);
      expect(faultIntervals(history)).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
