/**
 * Fleet tests: several Node processes share one Redis and must show the global property. The
 * Redis fleet runs once with ioredis replicas and once with node-redis replicas, and its stampede
 * test runs on a Redis Cluster too, on both.
 */
import { fileURLToPath } from 'node:url';
import {
  describeWithDynamo,
  describeWithRedis,
  describeWithRedisCluster,
  dynamoFixture,
  type RedisClientKind,
  redisClientEnv,
  redisClusterFixture,
  redisFixture,
  runFleet,
  spawnReplica,
} from '@breakwater/testkit';
import { expect, it } from 'vitest';

/**
 * Bounds of one replica's run and of its start-up: a child loads every Redis client library the
 * tests use (about 2 s of CPU each), and four of them start at once on a 2-core CI machine.
 */
const REPLICA_TIMEOUT_MS = 60_000;
const START_TIMEOUT_MS = 45_000;
/** A test's own bound: above the replicas' (the file default, 30 s, is below it). */
const TEST_TIMEOUT_MS = 90_000;

const script = (name: string) => fileURLToPath(new URL(`./replicas/${name}.ts`, import.meta.url));

/** The test's own client for the coordination keys (ioredis, on a single node or a Cluster). */
interface Coordinator {
  set(key: string, value: string): Promise<unknown>;
  get(key: string): Promise<string | null>;
}

/**
 * `count` processes of `kind` miss one key 250 times each at once: exactly one loader call
 * in the fleet, and every answer is the one value it loaded.
 */
async function stampede(
  kind: RedisClientKind,
  clientEnv: Record<string, string>,
  prefix: string,
  count: number,
  coordinator: Coordinator,
): Promise<void> {
  const replicas = Array.from({ length: count }, (_, index) =>
    spawnReplica({
      script: script('stampede'),
      index,
      replicas: count,
      env: { ...clientEnv, FLEET_PREFIX: prefix },
      timeoutMs: REPLICA_TIMEOUT_MS,
    }),
  );
  try {
    await Promise.all(replicas.map((r) => r.waitForMessage('ready', START_TIMEOUT_MS)));
    await coordinator.set(`${prefix}:coord:go`, '1');
    const results = await Promise.all(replicas.map((r) => r.result));
    for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
    const reports = results.map(
      (r) =>
        r.result as {
          library: string;
          loads: number;
          answers: number;
          loadedBy: number[];
          dates: boolean;
        },
    );
    expect(
      reports.reduce((sum, r) => sum + r.loads, 0),
      JSON.stringify(reports),
    ).toBe(1);
    expect(Number(await coordinator.get(`${prefix}:coord:loads`))).toBe(1);
    for (const report of reports) {
      // The replicas ran on the library under test.
      expect(report.library).toBe(kind);
      expect(report.answers).toBe(250);
      expect(report.loadedBy).toHaveLength(1);
      expect(report.dates).toBe(true);
    }
    expect(new Set(reports.flatMap((r) => r.loadedBy)).size).toBe(1);
  } finally {
    for (const replica of replicas) replica.kill('SIGKILL');
  }
}

for (const kind of ['ioredis', 'node-redis'] as const) {
  describeWithRedis(`fleet over Redis (${kind})`, () => {
    const redis = redisFixture();
    const clientEnv = () => redisClientEnv(kind, { url: redis.url });

    it(
      '4 processes × 250 concurrent misses → exactly one loader call in the fleet',
      () => stampede(kind, clientEnv(), redis.uniquePrefix(), 4, redis.client),
      TEST_TIMEOUT_MS,
    );

    it(
      'the lease holder killed mid-load → another replica loads',
      async () => {
        const prefix = redis.uniquePrefix();
        const env = { ...clientEnv(), FLEET_PREFIX: prefix };
        const holder = spawnReplica({
          script: script('lease-holder'),
          index: 0,
          replicas: 2,
          env,
          timeoutMs: REPLICA_TIMEOUT_MS,
        });
        const waiter = spawnReplica({
          script: script('lease-holder'),
          index: 1,
          replicas: 2,
          env,
          timeoutMs: REPLICA_TIMEOUT_MS,
        });
        await holder.waitForMessage('loading', START_TIMEOUT_MS);
        holder.kill('SIGKILL');
        const [dead, survivor] = await Promise.all([holder.result, waiter.result]);
        expect(dead.signal).toBe('SIGKILL');
        expect(survivor.exitCode, survivor.stderr).toBe(0);
        const report = survivor.result as { value: string; loads: number; waitedMs: number };
        expect(report.value).toBe('loaded-by-1');
        expect(report.loads).toBe(1);
        // It waited for the lease (1 s) rather than loading at once.
        expect(report.waitedMs).toBeGreaterThan(500);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a set on replica A is visible on replica B's next read",
      async () => {
        const prefix = redis.uniquePrefix();
        const results = await runFleet({
          script: script('coherence'),
          replicas: 2,
          env: { ...clientEnv(), FLEET_PREFIX: prefix },
          timeoutMs: REPLICA_TIMEOUT_MS,
        });
        for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
        expect(results[1]?.result).toEqual({
          first: 'v1',
          again: 'v1',
          afterSet: 'v2',
          afterDelete: null,
        });
      },
      TEST_TIMEOUT_MS,
    );
  });
}

// The fleet-wide guarantee on a Cluster, on both libraries: one Cluster for the file, 3 replicas.
describeWithRedisCluster('fleet over a Redis Cluster', () => {
  const cluster = redisClusterFixture();

  it.each(['ioredis', 'node-redis'] as const)(
    '(%s) 3 processes × 250 concurrent misses → exactly one loader call in the fleet',
    (kind) =>
      stampede(
        kind,
        redisClientEnv(kind, { nodes: cluster.nodes }),
        cluster.uniquePrefix(),
        3,
        cluster.client,
      ),
    TEST_TIMEOUT_MS,
  );
});

describeWithRedis('fleet over DynamoDB', () => {
  const redis = redisFixture();

  describeWithDynamo('(dynalite)', () => {
    const dynamo = dynamoFixture();

    it(
      '4 processes × 250 concurrent misses → exactly one loader call in the fleet',
      async () => {
        const prefix = redis.uniquePrefix();
        const env = {
          // Redis carries the coordination keys only.
          ...redisClientEnv('ioredis', { url: redis.url }),
          FLEET_PREFIX: prefix,
          FLEET_STORE: 'dynamodb',
          DYNAMO_ENDPOINT: dynamo.endpoint,
          DYNAMO_TABLE: dynamo.tableName,
        };
        const replicas = Array.from({ length: 4 }, (_, index) =>
          spawnReplica({
            script: script('stampede'),
            index,
            replicas: 4,
            env,
            timeoutMs: REPLICA_TIMEOUT_MS,
          }),
        );
        await Promise.all(replicas.map((r) => r.waitForMessage('ready', START_TIMEOUT_MS)));
        await redis.client.set(`${prefix}:coord:go`, '1');
        const results = await Promise.all(replicas.map((r) => r.result));
        for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
        const reports = results.map((r) => r.result as { loads: number; answers: number });
        expect(
          reports.reduce((sum, r) => sum + r.loads, 0),
          JSON.stringify(reports),
        ).toBe(1);
        expect(reports.every((r) => r.answers === 250)).toBe(true);
      },
      TEST_TIMEOUT_MS,
    );
  });
});
