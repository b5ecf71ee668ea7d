// The fleet under a store outage, and the fleet's size as its replicas see it: replica processes
// sharing one Redis (testkit's fleet harness; a private Redis the outage test kills).
import { fileURLToPath } from 'node:url';
import {
  describeWithRedis,
  type FaultyRedis,
  type ReplicaHandle,
  redisFixture,
  spawnReplica,
  startFaultyStore,
} from '@breakwater/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const outageScript = fileURLToPath(new URL('./fleet-scripts/outage.ts', import.meta.url));
const memberScript = fileURLToPath(new URL('./fleet-scripts/member.ts', import.meta.url));

const REPLICAS = 4;
const LIMIT = 100;
const DURATION_MS = 4000;
/** Redis is killed this long after the common start, and stays down to the end. */
const OUTAGE_AT_MS = 1000;
/** The replicas' `storeDeadlineMs` (fleet-scripts/outage.ts). */
const DEADLINE_MS = 100;

interface OutageReport {
  fromStore: number;
  degraded: number;
  denied: number;
  degradedFirst: number;
  degradedLast: number;
  count: number;
  localShare: number;
}

describe('fleet', () => {
  describeWithRedis('4 replicas, Redis killed mid-run, default onStoreError', () => {
    let store: FaultyRedis;
    beforeAll(async () => {
      store = await startFaultyStore('redis');
    });
    afterAll(async () => {
      await store?.stop();
    });

    it('admits about the limit while degraded, not replicas × the limit', async () => {
      // Time for four tsx processes to start on two cores and to count each other.
      const startAt = Date.now() + 10_000;
      const replicas = Array.from({ length: REPLICAS }, (_, index) =>
        spawnReplica({
          script: outageScript,
          index,
          replicas: REPLICAS,
          timeoutMs: 40_000,
          env: {
            REDIS_URL: store.url,
            PREFIX: `outage-${process.pid}`,
            LIMIT: String(LIMIT),
            DURATION_MS: String(DURATION_MS),
            START_AT: String(startAt),
          },
        }),
      );
      await Promise.all(replicas.map((replica) => replica.waitForMessage('ready', 9500)));
      await new Promise((resolve) => setTimeout(resolve, startAt + OUTAGE_AT_MS - Date.now()));
      await store.refuse();
      const results = await Promise.all(replicas.map((replica) => replica.result));
      for (const result of results) expect(result.exitCode, result.stderr).toBe(0);
      const reports = results.map((result) => result.result as OutageReport);
      // Every replica knew the fleet, and enforced its quarter while Redis was down.
      expect(reports.map((r) => [r.count, r.localShare])).toEqual(
        Array(REPLICAS).fill([REPLICAS, 1 / REPLICAS]),
      );
      const degraded = reports.reduce((sum, r) => sum + r.degraded, 0);
      const first = Math.min(...reports.map((r) => r.degradedFirst));
      const last = Math.max(...reports.map((r) => r.degradedLast));
      // Each replica's GCRA at LIMIT / N admits at most span / T + 1: the fleet, LIMIT per second
      // of outage plus one call per replica (burst 0). A call that failed by its deadline is
      // decided locally at the time it started, up to one deadline before it is observed here.
      const bound = Math.floor(((last - first + DEADLINE_MS) * LIMIT) / 1000) + REPLICAS;
      console.info(
        `fleet/outage: ${degraded} admitted while degraded over ${last - first} ms (bound ${bound}; fail-open would admit every call)`,
        reports,
      );
      expect(degraded).toBeGreaterThan(0);
      expect(degraded).toBeLessThanOrEqual(bound);
      // …and the fleet kept using its limit: the share is not needlessly small.
      expect(degraded).toBeGreaterThanOrEqual(0.8 * (((last - first) * LIMIT) / 1000));
    }, 60_000);
  });

  describeWithRedis('the replica registry on Redis', () => {
    const redis = redisFixture();
    const spawned: ReplicaHandle[] = [];
    afterAll(() => {
      for (const replica of spawned) replica.kill('SIGKILL');
    });

    function member(prefix: string): ReplicaHandle {
      const replica = spawnReplica({
        script: memberScript,
        stdin: true,
        timeoutMs: 80_000,
        env: { REDIS_URL: redis.url, PREFIX: prefix },
      });
      spawned.push(replica);
      return replica;
    }

    it('converges on a joining replica and on a SIGKILLed one within the TTL', async () => {
      const prefix = redis.uniquePrefix();
      const fleet = [member(prefix), member(prefix), member(prefix)];
      // The waits that include a process start are generous (testkit's client helpers are heavy to
      // load, and the machine may be busy); the measured ones below are not.
      await Promise.all(fleet.map((replica) => replica.waitForMessage('count=3', 30_000)));

      let started = performance.now();
      const joined = member(prefix);
      await Promise.all(
        [...fleet, joined].map((replica) => replica.waitForMessage('count=4', 30_000)),
      );
      const joinMs = performance.now() - started;

      // SIGKILL: no goodbye; the others stop counting it once its last heartbeat runs out.
      const survivors = [...fleet.slice(1), joined];
      const seen = survivors.map((replica) => replica.waitForMessage('count=3', 5000));
      started = performance.now();
      fleet[0]!.kill('SIGKILL');
      await Promise.all(seen);
      const leaveMs = performance.now() - started;
      console.info(
        `fleet/registry: join seen in ${joinMs.toFixed(0)} ms, SIGKILL in ${leaveMs.toFixed(0)} ms`,
      );
      // Within the TTL (1000 ms) + one renew interval (200 ms); the rest is slack for a loaded
      // 2-core machine (measured 1.0–1.2 s).
      expect(leaveMs).toBeLessThan(1000 + 200 + 500);

      // A replica that closes leaves at once (its entry is removed, not left to expire).
      const rest = survivors.slice(1).map((replica) => replica.waitForMessage('count=2', 5000));
      started = performance.now();
      survivors[0]!.endInput();
      await Promise.all(rest);
      const closeMs = performance.now() - started;
      console.info(`fleet/registry: close seen in ${closeMs.toFixed(0)} ms`);
      expect(closeMs).toBeLessThan(200 + 300);
      for (const replica of survivors) replica.endInput();
      for (const replica of survivors) expect((await replica.result).exitCode).toBe(0);
    }, 90_000);
  });
});
