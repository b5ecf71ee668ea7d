// The fleet under a store outage: four replica processes share one fleet bulkhead in a Redis of
// the test's own (testkit's faulty store), which the test kills mid-run. With the default
// `onStoreError: 'local'`, each replica keeps to its share of the fleet limit, counted by its
// replica registry: the fleet runs about `maxConcurrent` calls at once, not replicas × that.
import { fileURLToPath } from 'node:url';
import {
  describeWithRedis,
  type FaultyRedis,
  type RedisClientKind,
  redisClientEnv,
  redisFixture,
  spawnReplica,
  startFaultyStore,
} from '@breakwater/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const outageScript = fileURLToPath(new URL('./fleet-scripts/outage.ts', import.meta.url));

const REPLICAS = 4;
const MAX_CONCURRENT = 8;
/** Callers per replica: together far more than the fleet limit, and more than it each. */
const WORKERS = 10;
const DURATION_MS = 4000;
/** Redis is killed this long after the common start, and stays down to the end. */
const OUTAGE_AT_MS = 1000;
/**
 * After the kill, the time by which the calls that held permits have ended (a call runs 20–40 ms
 * plus two counter round trips; an acquire in flight fails by its 100 ms deadline).
 */
const DRAIN_MS = 500;
/** The replicas build the store's client with each of these libraries (one Redis each). */
const KINDS: readonly RedisClientKind[] = ['ioredis', 'node-redis'];

interface OutageReport {
  leased: number;
  degraded: number;
  maxLeased: number;
  observations: [number, number][];
  errors: string[];
  count: number;
  localMaxConcurrent: number;
}

describe('fleet', () => {
  describeWithRedis('4 replicas, Redis killed mid-run, default onStoreError', () => {
    const counter = redisFixture();
    describe.each(KINDS)('store client: %s', (kind) => {
      let store: FaultyRedis;
      beforeAll(async () => {
        store = await startFaultyStore('redis');
      });
      afterAll(async () => {
        await store?.stop();
      });

      it('runs about maxConcurrent calls at once while degraded, not replicas × maxConcurrent', async () => {
        const prefix = counter.uniquePrefix();
        const replicas = Array.from({ length: REPLICAS }, (_, index) =>
          spawnReplica({
            script: outageScript,
            index,
            replicas: REPLICAS,
            timeoutMs: 60_000,
            stdin: true,
            env: {
              ...redisClientEnv(kind, { url: store.url }),
              COUNTER_URL: counter.url,
              PREFIX: prefix,
              MAX_CONCURRENT: String(MAX_CONCURRENT),
              WORKERS: String(WORKERS),
              DURATION_MS: String(DURATION_MS),
            },
          }),
        );
        // Four tsx processes starting on two cores, loading every client library, and counting
        // each other: slow on a loaded machine. The common start is given once all are ready.
        try {
          await Promise.all(replicas.map((replica) => replica.waitForMessage('ready', 40_000)));
        } catch (error) {
          for (const replica of replicas) replica.kill();
          throw error;
        }
        const startAt = Date.now() + 300;
        for (const replica of replicas) replica.send(String(startAt));
        await new Promise((resolve) => setTimeout(resolve, startAt + OUTAGE_AT_MS - Date.now()));
        await store.refuse();
        const killedAt = Date.now();
        const results = await Promise.all(replicas.map((replica) => replica.result));
        for (const result of results) expect(result.exitCode, result.stderr).toBe(0);
        const reports = results.map((result) => result.result as OutageReport);
        for (const report of reports) expect(report.errors).toEqual([]);
        // Every replica knew the fleet, and kept to its quarter while Redis was down.
        const share = Math.max(1, Math.floor(MAX_CONCURRENT / REPLICAS));
        expect(reports.map((r) => [r.count, r.localMaxConcurrent])).toEqual(
          Array(REPLICAS).fill([REPLICAS, share]),
        );
        // Before the outage, the store held the fleet to its limit, and the limit was reached.
        const maxLeased = Math.max(...reports.map((r) => r.maxLeased));
        expect(maxLeased).toBeLessThanOrEqual(MAX_CONCURRENT);
        expect(maxLeased).toBeGreaterThanOrEqual(MAX_CONCURRENT - 2);

        const observations = reports.flatMap((r) => r.observations);
        const peak = (from: number) =>
          Math.max(0, ...observations.filter(([at]) => at >= from).map(([, inflight]) => inflight));
        const degraded = reports.reduce((sum, r) => sum + r.degraded, 0);
        const drained = peak(killedAt + DRAIN_MS);
        const overall = peak(0);
        console.info(
          `fleet/outage: ${degraded} calls ran without a permit; at once: ${overall} at most, ` +
            `${drained} once the permit holders had finished (limit ${MAX_CONCURRENT}, ` +
            `fail-open would allow ${REPLICAS * MAX_CONCURRENT})`,
        );
        expect(degraded).toBeGreaterThan(0);
        // The documented bound: N × max(1, floor(M / N)) once the calls that held permits ended…
        expect(drained).toBeLessThanOrEqual(REPLICAS * share);
        // …and M + (N − 1) × share at any time, those included.
        expect(overall).toBeLessThanOrEqual(MAX_CONCURRENT + (REPLICAS - 1) * share);
        // The fleet kept using its limit: the shares are not needlessly small.
        expect(drained).toBeGreaterThanOrEqual(REPLICAS * share - 2);
      }, 90_000);
    });
  });
});
