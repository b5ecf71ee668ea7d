// The cache checkers on hand-made histories: each catches the violation it is for, and lets
// through what is within its bound. Also the history files every checker reads.
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatViolations } from '../../nemesis/checker.js';
import { faultIntervals } from '../../nemesis/fault-log.js';
import { openHistory, readHistory } from '../../nemesis/history.js';
import {
  checkMonotonicReads,
  checkOneLoaderPerKey,
  checkStaleLoadWrites,
} from '../../nemesis/invariants/cache.js';
import { Builder } from './history-builder.js';

describe('cache checkers', () => {
  const lease = { leaseTtlMs: 600, localTailMs: 1_000 };

  it("let a resumed loader's write through when refused, or with nothing written since its lease", () => {
    const b = new Builder();
    b.pauseTarget(50, 0, 'load-start');
    // r0 takes the lease at 0 and writes at 100, within it.
    b.leaseCall(0, 0, 'acquire', 'k0', 'aaaa');
    b.leaseCall(0, 100, 'set', 'k0', 'aaaa');
    // r1 takes k1's lease at 1,000, renews it at 1,200, is paused: its write at 2,000 is refused.
    b.leaseCall(1, 1_000, 'acquire', 'k1', 'bbbb');
    b.leaseCall(1, 1_200, 'extend', 'k1', 'bbbb');
    b.leaseCall(2, 1_900, 'acquire', 'k1', 'cccc');
    b.leaseCall(2, 1_950, 'set', 'k1', 'cccc');
    b.leaseCall(1, 2_000, 'set', 'k1', 'bbbb', false);
    // r2 writes k2 800 ms after its lease, nobody having written k2 since.
    b.leaseCall(2, 3_000, 'acquire', 'k2', 'dddd');
    b.leaseCall(2, 3_800, 'set', 'k2', 'dddd');
    expect(checkStaleLoadWrites(b.done(), lease)).toMatchObject({
      checked: 2,
      violations: [],
      excused: { 'landed past its lease, nothing written since': 1 },
      counts: { 'refused past its lease': 1, 'pauses of a loader under its lease': 1 },
    });
  });

  it('catch a write past its lease that lands over a newer one, renewals counted', () => {
    const b = new Builder();
    b.leaseCall(0, 0, 'acquire', 'k0', 'aaaa');
    b.leaseCall(1, 700, 'acquire', 'k0', 'bbbb');
    b.leaseCall(1, 820, 'set', 'k0', 'bbbb');
    b.leaseCall(0, 1_200, 'set', 'k0', 'aaaa');
    const history = b.done();
    const caught = checkStaleLoadWrites(history, lease);
    expect(caught).toMatchObject({ checked: 1, worst: 1 });
    expect(caught.violations).toHaveLength(1);
    expect(caught.violations[0]!.message).toMatch(
      /^r0 wrote k0 599 ms after its lease \(token aaaa\) had lapsed, over 1 newer write\(s\)/,
    );
    expect(formatViolations(history, caught.violations)).toMatch(/>> .* r0 +info +lease-call/);
    // Renewed at 700 (answered 701): the lease can still run at 1,200, so the write is not judged.
    const renewed = new Builder();
    renewed.leaseCall(0, 0, 'acquire', 'k0', 'aaaa');
    renewed.leaseCall(0, 700, 'extend', 'k0', 'aaaa');
    renewed.leaseCall(1, 800, 'set', 'k0', undefined);
    renewed.leaseCall(0, 1_200, 'set', 'k0', 'aaaa');
    expect(checkStaleLoadWrites(renewed.done(), lease)).toMatchObject({
      checked: 0,
      violations: [],
    });
  });

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

  it("end a replica's running loads at its close, which aborts them and releases their leases", () => {
    const b = new Builder();
    // r0 (pid 7) closes at 100 with a load running; the aborted load reports its end at 400.
    b.load(0, '7:1', 'k0', 0, 400);
    b.act(100, 0, '7:9', 0, 'close');
    b.load(1, '8:1', 'k0', 150, 250);
    expect(checkOneLoaderPerKey(b.done(), lease)).toMatchObject({ violations: [], worst: 1 });
    // Another process's close ends none of r0's loads (pid 78 is not pid 7).
    const other = new Builder();
    other.load(0, '7:1', 'k0', 0, 400);
    other.act(100, 1, '78:9', 0, 'close');
    other.load(2, '9:1', 'k0', 150, 250);
    expect(checkOneLoaderPerKey(other.done(), lease).violations).toHaveLength(1);
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

  // A Sentinel failover in force from 1,000 (replica cut off), its replica promoted at 1,300.
  const failover = (b: Builder) => {
    const entry = { fault: 'sentinel-failover', target: 'store', unreachable: false } as const;
    b.fault(1_000, { ...entry, losesState: true }, 'start');
    b.note(-1, 1_300, 'sentinel-failover', { promoted: 6380 });
    b.fault(2_000, { ...entry, losesState: true }, 'end');
  };

  it('let a read go back only from a value acknowledged within the failover before promotion', () => {
    // r1's value loaded at `version`, written at `setAt`; r0 reads it at 1,260, then r2's older one.
    const history = (version: number, setAt: number) => {
      const b = new Builder();
      failover(b);
      b.leaseCall(1, setAt, 'set', 'k0', 'aaaa');
      b.read(0, 'k0', Math.max(setAt + 2, 1_260), version, 1);
      b.read(0, 'k0', 1_500, 800, 2);
      return b.done();
    };
    // Acknowledged at 1,251: the promoted replica may have missed it.
    expect(checkMonotonicReads(history(1_100, 1_250), 1_000)).toMatchObject({
      violations: [],
      excused: { 'back from a write the store lost': 1 },
    });
    // Acknowledged before the fault began (899) or after the promotion (1,400): it survived.
    for (const [version, setAt] of [
      [850, 898],
      [1_350, 1_400],
    ] as const) {
      const caught = checkMonotonicReads(history(version, setAt), 1_000);
      expect(caught).toMatchObject({ excused: { 'back from a write the store lost': 0 } });
      expect(caught.violations).toHaveLength(1);
    }
  });

  it('let a second loader in only when the first took its lease within the failover', () => {
    const b = new Builder();
    failover(b);
    b.load(0, 'a', 'k0', 1_100, 1_400);
    b.load(1, 'b', 'k0', 1_300, 1_350);
    expect(checkOneLoaderPerKey(b.done(), lease)).toMatchObject({
      violations: [],
      excused: { "lease lost with the store's writes (sentinel-failover)": 1 },
    });
    // Leased at 950, before the fault: the promoted replica has it, and 250 ms is within it.
    const before = new Builder();
    failover(before);
    before.load(0, 'a', 'k0', 950, 1_400);
    before.load(1, 'b', 'k0', 1_200, 1_250);
    expect(checkOneLoaderPerKey(before.done(), lease).violations).toHaveLength(1);
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
