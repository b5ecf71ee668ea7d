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
import {
  checkBulkheadConcurrency,
  checkNoStaleActions,
} from '../../nemesis/invariants/bulkhead.js';
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
