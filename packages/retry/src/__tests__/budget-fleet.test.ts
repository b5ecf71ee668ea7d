import { fileURLToPath } from 'node:url';
import {
  describeWithDynamo,
  describeWithRedis,
  describeWithRedisCluster,
  dynamoFixture,
  redisClientEnv,
  redisClusterFixture,
  redisFixture,
  runFleet,
} from '@breakwater/testkit';
import { expect, it } from 'vitest';

const script = fileURLToPath(new URL('./fleet/budget-replica.ts', import.meta.url));
const REPLICAS = 4;
const CALLS_PER_REPLICA = 250;

/**
 * Checks the fleet's retries against its one budget: ratio × calls + minPerSecond × window
 * seconds, for the whole fleet of `replicas` processes of CALLS_PER_REPLICA calls each.
 */
function assertFleetBound(
  results: { exitCode: number | null; result: unknown; stderr: string }[],
  replicas = REPLICAS,
) {
  const totalCalls = replicas * CALLS_PER_REPLICA;
  const allowed = 0.2 * totalCalls + 1 * 60;
  expect(results).toHaveLength(replicas);
  for (const replica of results) {
    expect(replica.exitCode, replica.stderr).toBe(0);
  }
  const reports = results.map((r) => r.result as { attempts: number; storeErrors: number });
  const retries = reports.reduce((sum, r) => sum + r.attempts, 0) - totalCalls;
  const detail = JSON.stringify(reports);
  // The property: without the budget, 3 retries per call (3,000); with per-process budgets, up to
  // 4 × the budget; shared, never more than the one budget of the fleet.
  expect(retries, detail).toBeLessThanOrEqual(allowed);
  // And the budget is actually used, not merely refused. (Not all of it: under heavy contention a
  // store operation can fail, and these replicas refuse a retry then — onStoreError 'fail-closed'.)
  expect(retries, detail).toBeGreaterThan(allowed * 0.5);
  return retries;
}

describeWithRedis('retry budget shared by a fleet [redis]', () => {
  const redis = redisFixture();

  it.each(['ioredis', 'node-redis'] as const)(
    '4 processes (%s), 1,000 failing calls: retries stay within the one fleet budget',
    async (kind) => {
      const results = await runFleet({
        script,
        replicas: REPLICAS,
        env: {
          STORE: 'redis',
          ...redisClientEnv(kind, { url: redis.url }),
          PREFIX: redis.uniquePrefix(),
          CALLS: String(CALLS_PER_REPLICA),
        },
        // Replica processes load every client library: slower to start than the DynamoDB ones.
        timeoutMs: 50_000,
      });
      assertFleetBound(results);
    },
    60_000,
  );
});

describeWithRedisCluster('retry budget shared by a fleet [redis cluster]', () => {
  // One Cluster for the file; 3 replicas: the bound is the same fleet-wide one, for 750 calls.
  const cluster = redisClusterFixture();
  const replicas = 3;

  it.each(['ioredis', 'node-redis'] as const)(
    '3 processes (%s), 750 failing calls: retries stay within the one fleet budget',
    async (kind) => {
      const results = await runFleet({
        script,
        replicas,
        env: {
          STORE: 'redis',
          ...redisClientEnv(kind, { nodes: cluster.nodes }),
          PREFIX: cluster.uniquePrefix(),
          CALLS: String(CALLS_PER_REPLICA),
        },
        timeoutMs: 50_000,
      });
      assertFleetBound(results, replicas);
    },
    60_000,
  );
});

describeWithDynamo('retry budget shared by a fleet [dynamodb]', () => {
  const dynamo = dynamoFixture();

  it('4 processes, 1,000 failing calls: retries stay within the one fleet budget', async () => {
    const results = await runFleet({
      script,
      replicas: REPLICAS,
      env: {
        STORE: 'dynamodb',
        DYNAMO_ENDPOINT: dynamo.endpoint,
        TABLE: dynamo.tableName,
        PREFIX: dynamo.uniquePrefix(),
        CALLS: String(CALLS_PER_REPLICA),
      },
      timeoutMs: 40_000,
    });
    assertFleetBound(results);
  });
});
