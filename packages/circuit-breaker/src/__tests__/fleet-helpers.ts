/**
 * The fleet tests shared by fleet-redis.test.ts and fleet-dynamodb.test.ts (two files, so vitest
 * runs the two backends in parallel). Fleet tests: several Node processes share one breaker through Redis or DynamoDB, and the test
 * checks the global property (everyone opens within the bound, at most maxCalls probes in the
 * whole fleet, a killed probe holder does not wedge the breaker, a quorum keeps one bad replica
 * from opening the fleet).
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ReplicaHandle, spawnReplica } from '@breakwater/testkit';
import { expect, it } from 'vitest';
import { circuitBreaker } from '../circuit-breaker.js';
import type { BreakerStore } from '../store.js';

const script = fileURLToPath(new URL('./fleet-scripts/replica.ts', import.meta.url));
export const SYNC_MS = 100;
/** Probe lease in the killed-holder test: long enough that the survivor meets it still held. */
const LEASE_MS = 1500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Report {
  index: number;
  calls: number;
  rejected: number;
  seen: { to: string; at: number }[];
  probes: [number, number][];
  finalState: string;
}

export interface Backend {
  env(): Record<string, string>;
  /** The test's own store (and what closes it, with its client) on the fleet's backend. */
  store(
    prefix: string,
  ):
    | { store: BreakerStore; close(): Promise<void> }
    | Promise<{ store: BreakerStore; close(): Promise<void> }>;
  prefix(): string;
}

/** Starts `replicas` processes, waits until all are ready, hands them the plan, collects reports. */
async function runScenario(
  backend: Backend,
  replicas: number,
  env: Record<string, string>,
  plan: (now: number) => { failAt?: number; recoverAt?: number; runUntil: number },
): Promise<Report[]> {
  const goFile = join(
    tmpdir(),
    `bw-cb-fleet-${process.pid}-${Math.random().toString(36).slice(2)}.json`,
  );
  const handles: ReplicaHandle[] = [];
  try {
    for (let index = 0; index < replicas; index++) {
      handles.push(
        spawnReplica({
          script,
          index,
          replicas,
          env: { ...backend.env(), ...env, GO_FILE: goFile },
          timeoutMs: 40_000,
        }),
      );
    }
    await Promise.all(handles.map((h) => h.waitForMessage('ready', 30_000)));
    const now = Date.now();
    // Written aside and renamed, so no replica can read a half-written plan.
    writeFileSync(`${goFile}.tmp`, JSON.stringify({ failAt: 0, recoverAt: 0, ...plan(now) }));
    renameSync(`${goFile}.tmp`, goFile);
    const results = await Promise.all(handles.map((h) => h.result));
    for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
    return results.map((r) => r.result as Report);
  } finally {
    for (const h of handles) h.kill();
    rmSync(goFile, { force: true });
  }
}

/** The largest number of intervals overlapping at one instant. */
function maxOverlap(intervals: [number, number][]): number {
  const events = intervals.flatMap(([start, end]) => [
    [start, 1],
    [end, -1],
  ]);
  // Ends sort before starts at the same instant: a lease is released before the next is granted.
  events.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let current = 0;
  let max = 0;
  for (const [, delta] of events) {
    current += delta!;
    max = Math.max(max, current);
  }
  return max;
}

/**
 * The guarantee only a shared store gives: during half-open the whole fleet of three replicas
 * runs at most `maxCalls` probes at once (replicas with a breaker each would run three times as
 * many). The Cluster variant runs only this one.
 */
export function probeCapTest(backend: () => Backend) {
  it('during half-open the fleet runs at most maxCalls probes in total', async () => {
    const reports = await runScenario(
      backend(),
      3,
      {
        SCENARIO: 'probes',
        PREFIX: backend().prefix(),
        SYNC_MS: String(SYNC_MS),
        BREAK_MS: '250',
        MAX_PROBES: '2',
        SUCCESS_THRESHOLD: '4',
      },
      (now) => ({ recoverAt: now + 500, runUntil: now + 1800 }),
    );
    const probes = reports.flatMap((r) => r.probes);
    expect(probes.length).toBeGreaterThanOrEqual(4);
    expect(maxOverlap(probes)).toBeLessThanOrEqual(2);
    for (const r of reports) expect(r.finalState).toBe('closed');
  }, 60_000);
}

/** Every fleet scenario: the trip bound, the fleet-wide probe cap, a killed holder, the quorum. */
export function fleetTests(backend: () => Backend, boundMs: number) {
  it('the upstream starts failing: every replica rejects within the bound', async () => {
    const reports = await runScenario(
      backend(),
      3,
      { SCENARIO: 'trip', PREFIX: backend().prefix(), SYNC_MS: String(SYNC_MS), BREAK_MS: '30000' },
      (now) => ({
        failAt: now + 100,
        runUntil: now + 1000,
      }),
    );
    const openedAt = reports.map((r) => r.seen.find((s) => s.to === 'open')?.at);
    expect(openedAt.every((at) => at !== undefined)).toBe(true);
    const first = Math.min(...(openedAt as number[]));
    const last = Math.max(...(openedAt as number[]));
    expect(last - first).toBeLessThanOrEqual(boundMs);
    for (const r of reports) {
      expect(r.rejected).toBeGreaterThan(0);
      expect(r.finalState).toBe('open');
    }
  }, 60_000);

  probeCapTest(backend);

  it('a replica killed while holding a probe lease does not wedge the breaker', async () => {
    const prefix = backend().prefix();
    const holder = spawnReplica({
      script,
      env: {
        ...backend().env(),
        SCENARIO: 'hold-probe',
        PREFIX: prefix,
        BREAK_MS: '200',
        LEASE_MS: String(LEASE_MS),
        GO_FILE: '/nonexistent',
      },
      timeoutMs: 30_000,
    });
    try {
      await holder.waitForMessage(/^probing half-open$/, 30_000);
    } finally {
      holder.kill('SIGKILL');
    }
    const killedAt = Date.now();
    const { store, close } = await backend().store(prefix);
    const survivor = circuitBreaker({
      name: 'upstream',
      store,
      syncIntervalMs: SYNC_MS,
      failureRatio: 0.5,
      minimumThroughput: 20,
      consecutiveFailures: 1,
      breakDurationMs: 200,
      halfOpen: { maxCalls: 1, probeLeaseMs: LEASE_MS },
      // A slow answer on a loaded test machine must not look like an outage here.
      storeDeadlineMs: 5000,
    });
    try {
      let rejectedWhileLeased = 0;
      while (Date.now() - killedAt < 5000) {
        const outcome = await survivor.execute(() => 'ok').catch((e: Error) => e.name);
        if (outcome !== 'ok') rejectedWhileLeased++;
        else if (survivor.state === 'closed') break;
        await sleep(20);
      }
      expect(rejectedWhileLeased).toBeGreaterThan(0);
      expect(survivor.state).toBe('closed');
      // Free again once the dead replica's lease expired, give or take a loaded machine.
      expect(Date.now() - killedAt).toBeLessThan(LEASE_MS + 1500);
    } finally {
      await survivor.close();
      await close();
    }
  }, 60_000);

  it('a quorum of 2 keeps one failing replica from opening the fleet; two open it', async () => {
    const env = { SCENARIO: 'quorum', SYNC_MS: String(SYNC_MS), BREAK_MS: '30000', QUORUM: '2' };
    const lonely = await runScenario(
      backend(),
      3,
      { ...env, PREFIX: backend().prefix(), BAD_REPLICAS: '0' },
      (now) => ({
        runUntil: now + 800,
      }),
    );
    expect(lonely[0]!.calls).toBeGreaterThan(20);
    for (const r of lonely) expect(r.seen.filter((s) => s.to === 'open')).toEqual([]);
    const two = await runScenario(
      backend(),
      2,
      { ...env, PREFIX: backend().prefix(), BAD_REPLICAS: '0,1' },
      (now) => ({
        runUntil: now + 800,
      }),
    );
    for (const r of two) expect(r.finalState).toBe('open');
  }, 60_000);
}
