// The breaker checkers (half-open probes, stale probe outcomes, the fleet's rejects and agreement)
// on hand-made histories: each catches the violation it is for, and lets through what is within
// its bound.
import { describe, expect, it } from 'vitest';
import { formatViolations } from '../../nemesis/checker.js';
import { checkHalfOpenProbes } from '../../nemesis/invariants/breaker.js';
import { checkFleetConverges, checkFleetRejects } from '../../nemesis/invariants/breaker-fleet.js';
import { checkStaleProbeOutcomes } from '../../nemesis/invariants/breaker-lease.js';
import { Builder } from './history-builder.js';

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

describe('stale probe outcome checker', () => {
  const bound = { probeLeaseMs: 600 };

  it("let a resumed prober's outcome through when the store ignored it, and judge only outcomes past the lease", () => {
    const b = new Builder();
    b.pauseTarget(40, 0, 'probe-start');
    b.pauseTarget(2_000, 1, undefined);
    // r0 probes on a lease granted at 0 and is paused; r1 gets the next lease and fails it.
    b.probeCall(0, 0, 'acquire', 'r0:1', 'half-open', 2);
    b.probeCall(1, 700, 'acquire', 'r1:1', 'half-open', 2);
    b.probeCall(1, 1_100, 'release', 'r1:1', 'open', 3, 'failure');
    // r0 resumes and reports a failure: the fleet is open at the version r1's failure made.
    b.probeCall(0, 1_500, 'release', 'r0:1', 'open', 3, 'failure');
    // A probe reported within its lease may move the fleet.
    b.probeCall(2, 3_000, 'acquire', 'r2:1', 'half-open', 4);
    b.probeCall(2, 3_300, 'release', 'r2:1', 'closed', 5, 'success');
    expect(checkStaleProbeOutcomes(b.done(), bound)).toMatchObject({
      checked: 1,
      violations: [],
      counts: { 'pauses of a prober under its lease': 1 },
    });
  });

  it('catch an outcome reported past its lease that moved the fleet, and show it in its history', () => {
    const b = new Builder();
    b.probeCall(0, 0, 'acquire', 'r0:1', 'half-open', 2);
    // r1's lease runs out unused; r0's late success is the call that closes the fleet.
    b.probeCall(1, 700, 'acquire', 'r1:1', 'half-open', 2);
    b.probeCall(0, 1_500, 'release', 'r0:1', 'closed', 3, 'success');
    const history = b.done();
    const caught = checkStaleProbeOutcomes(history, bound);
    expect(caught).toMatchObject({ checked: 1, worst: 1 });
    expect(caught.violations).toHaveLength(1);
    expect(caught.violations[0]!.message).toMatch(
      /^r0 reported its probe's success 899 ms after its lease \(token r0:1\) had lapsed, and the store moved the fleet to closed \(version 3\)/,
    );
    expect(formatViolations(history, caught.violations)).toMatch(/>> .* r0 +info +probe-call/);
    // Another call answered with that version before r0's answer came: it made the transition.
    b.probeCall(2, 1_400, 'view', undefined, 'closed', 3);
    expect(checkStaleProbeOutcomes(b.done(), bound).violations).toEqual([]);
    // The same release within the lease is no violation.
    const onTime = new Builder();
    onTime.probeCall(0, 0, 'acquire', 'r0:1', 'half-open', 2);
    onTime.probeCall(0, 500, 'release', 'r0:1', 'closed', 3, 'success');
    expect(checkStaleProbeOutcomes(onTime.done(), bound)).toMatchObject({
      checked: 0,
      violations: [],
    });
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
