// The rate-limit, bulkhead and retry-budget checkers on hand-made histories: each catches the
// violation it is for, and lets through what is within its bound.
import { describe, expect, it } from 'vitest';
import { formatViolations } from '../../nemesis/checker.js';
import {
  checkBulkheadConcurrency,
  checkNoStaleActions,
} from '../../nemesis/invariants/bulkhead.js';
import {
  checkNoSilentFailOpen,
  checkRateLimitWindows,
} from '../../nemesis/invariants/rate-limit.js';
import { checkRetryBudget } from '../../nemesis/invariants/retry-budget.js';
import { Builder } from './history-builder.js';

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

  it('tell the action a paused call had checked and sent before the pause from one it decided after', () => {
    // r0's call 7 (pid 1000) acts at 0; the pause hits as its next action is on its way.
    const build = (checkedAt: number, afterwards: number[], answeredAt = 1_003) => {
      const b = new Builder();
      b.act(0, 0, '1000:7', 1);
      b.fault(10, { fault: 'replica-pause', target: 0, unreachable: false }, 'start');
      b.fault(1_000, { fault: 'replica-pause', target: 0, unreachable: false }, 'end');
      b.act(1_002, 0, '1000:7', 1);
      b.add({
        process: 0,
        type: 'info',
        f: 'act-late',
        mono: answeredAt,
        value: { call: 7, checkedAt },
      });
      for (const at of afterwards) b.act(at, 0, '1000:7', 1);
      return b.done();
    };
    // Checked at 8, before the pause: in flight, excused and counted.
    expect(checkNoStaleActions(build(8, []), 700)).toMatchObject({
      worst: 0,
      violations: [],
      excused: { 'checked and sent before the pause (in flight)': 1 },
    });
    // One more action after it was decided after the pause: judged.
    expect(checkNoStaleActions(build(8, [1_020]), 700)).toMatchObject({ worst: 1 });
    expect(checkNoStaleActions(build(8, [1_020]), 700).violations).toHaveLength(1);
    // Checked after the pause began: nothing excused.
    const after = checkNoStaleActions(build(12, []), 700);
    expect(after.violations).toHaveLength(1);
    expect(after.excused).toBeUndefined();
    // The late action went through before the pause (answered at 1,001, before the one at 1,002):
    // the action after the pause was decided after it.
    const through = checkNoStaleActions(build(8, [], 1_001), 700);
    expect(through.violations).toHaveLength(1);
    expect(through.excused).toBeUndefined();
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

  it('permitQuota under Sentinel: a block the old primary granted after the fault began, before the promotion, is covered by the loss', () => {
    // The fault is recorded at 100, before the primary is cut off from its replica (which lags on
    // purpose); the replica is promoted at 600, forgetting every block granted until then.
    const build = (blockAt: number, promoted: boolean) => {
      const b = new Builder();
      const entry = {
        fault: 'sentinel-failover',
        target: 'store' as const,
        unreachable: false,
        losesState: true,
      };
      b.fault(100, entry, 'start');
      if (promoted) {
        b.add({ process: -1, type: 'info', f: 'sentinel-failover', mono: 600, value: {} });
      }
      // r0's block (token 5) serves calls a and b until 1,100.
      b.act(blockAt, 0, 'a', 5);
      b.act(1_100, 0, 'a', 5);
      b.act(blockAt + 10, 0, 'b', 5);
      b.act(1_100, 0, 'b', 5);
      // The new primary, knowing of no block, grants both permits to r1 and r2.
      b.act(700, 1, 'c', 1);
      b.act(900, 1, 'c', 1);
      b.act(710, 2, 'd', 2);
      b.act(900, 2, 'd', 2);
      b.fault(1_200, entry, 'end');
      return b.done();
    };
    // The block was granted during the lag, before the promotion: 4 at once, within 2 × (1 + 1).
    expect(checkBulkheadConcurrency(build(300, true), 2, 700)).toMatchObject({
      worst: 4,
      bound: 4,
      violations: [],
    });
    // Without the promotion on record the loss reaches back to the fault's start only.
    expect(checkBulkheadConcurrency(build(300, false), 2, 700).violations).toHaveLength(1);
    // A block granted after the promotion came from the new primary: nothing excuses it.
    expect(checkBulkheadConcurrency(build(650, true), 2, 700).violations).toHaveLength(1);
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
