import { fileURLToPath } from 'node:url';
import {
  closeRedisClient,
  connectRedisClient,
  describeWithDynamo,
  describeWithRedis,
  dynamoFixture,
  type RedisClient,
  type RedisClientKind,
  redisClientEnv,
  redisFixture,
  runFleet,
  services,
  spawnReplica,
} from '@breakwater/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import { bulkhead, type PermitStore } from '../index.js';
import { redisStore } from '../redis.js';
import { deferred } from './helpers.js';

const script = (name: string) =>
  fileURLToPath(new URL(`./fleet-scripts/${name}.ts`, import.meta.url));

interface LoadReport {
  maxSeen: number;
  completed: number;
  expected: number;
  errors: string[];
}

const LEASE_TTL_MS = 1_500;

/**
 * Runs 4 load replicas sharing a limit of 8 with `env`: each completes its calls without errors,
 * none sees more than 8 tasks in flight, and one sees 8 (the limit was reached, or the run proves
 * nothing).
 */
async function expectFleetHoldsLimit(env: Record<string, string>): Promise<void> {
  const results = await runFleet({ script: script('load'), replicas: 4, env, timeoutMs: 60_000 });
  for (const { exitCode, stderr, result } of results) {
    expect(exitCode, stderr).toBe(0);
    const report = result as LoadReport;
    expect(report.errors).toEqual([]);
    expect(report.completed).toBe(report.expected);
    expect(report.maxSeen).toBeLessThanOrEqual(8);
  }
  expect(Math.max(...results.map((r) => (r.result as LoadReport).maxSeen))).toBe(8);
}

function fleetTests(
  backend: () => {
    env: Record<string, string>;
    store(prefix: string): PermitStore;
    prefix(): string;
  },
) {
  it('4 processes sharing a limit of 8 never have more than 8 tasks in flight', async () => {
    await expectFleetHoldsLimit({ ...backend().env, PREFIX: backend().prefix() });
  }, 90_000);

  it('gives back the permits of a process killed with SIGKILL within leaseTtlMs', async () => {
    const prefix = backend().prefix();
    const holder = spawnReplica({
      script: script('hold'),
      env: { ...backend().env, PREFIX: prefix, HOLD: '3', LEASE_TTL_MS: String(LEASE_TTL_MS) },
      timeoutMs: 60_000,
    });
    await holder.waitForMessage('holding', 30_000);
    const b = bulkhead({
      name: 'fleet',
      maxConcurrent: 8,
      maxQueue: 8,
      maxWaitMs: 20_000,
      leaseTtlMs: LEASE_TTL_MS,
      wakeupPollMs: 10_000,
      store: backend().store(prefix),
    });
    const release = deferred();
    const startedAt: number[] = [];
    const calls = Array.from({ length: 8 }, () =>
      b.execute(async () => {
        startedAt.push(Date.now());
        await release.promise;
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(startedAt).toHaveLength(5);
    holder.kill('SIGKILL');
    const killedAt = Date.now();
    await holder.result;
    while (startedAt.length < 8 && Date.now() - killedAt < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(startedAt).toHaveLength(8);
    // Leases were last renewed at most one renew interval before the kill.
    expect(Math.max(...startedAt) - killedAt).toBeLessThanOrEqual(LEASE_TTL_MS + 300);
    release.resolve();
    await Promise.all(calls);
    await b.close();
  }, 60_000);
}

/** The replicas and the test's own store build their clients with each of these libraries. */
const REDIS_KINDS: readonly RedisClientKind[] = ['ioredis', 'node-redis'];

describeWithRedis('fleet processes on Redis', () => {
  const redis = redisFixture();
  describe.each(REDIS_KINDS)('%s', (kind) => {
    let client: RedisClient;
    const stores: PermitStore[] = [];
    beforeAll(async () => {
      client = await connectRedisClient(kind, services().redisUrl);
    });
    afterAll(async () => {
      await Promise.all(stores.map((store) => store.close()));
      closeRedisClient(client);
    });
    fleetTests(() => ({
      env: {
        BACKEND: 'redis',
        ...redisClientEnv(kind, { url: services().redisUrl }),
        TASKS: '3',
        TASK_MS: '100',
      },
      prefix: () => redis.uniquePrefix(),
      store: (prefix) => {
        // The store opens its own subscriber (a copy of the client) and closes it.
        const store = redisStore({ client, prefix });
        stores.push(store);
        return store;
      },
    }));

    it('with permitQuota, 4 processes serving calls from blocks never have more than 8 tasks in flight', async () => {
      await expectFleetHoldsLimit({
        BACKEND: 'redis',
        ...redisClientEnv(kind, { url: services().redisUrl }),
        PREFIX: redis.uniquePrefix(),
        // 24 callers for 8 permits, blocks of up to 4: blocks, contention and per-call permits.
        PERMIT_QUOTA: '4',
        TASKS: '8',
        TASK_MS: '20',
      });
    }, 90_000);
  });
});

describeWithDynamo('fleet processes on DynamoDB', () => {
  const dynamo = dynamoFixture();
  fleetTests(() => ({
    env: {
      BACKEND: 'dynamodb',
      DYNAMO_ENDPOINT: dynamo.endpoint,
      DYNAMO_TABLE: dynamo.tableName,
      WORKERS: '3',
      TASKS: '3',
      TASK_MS: '400',
      // dynalite answers in milliseconds, but four processes contending on one item through a
      // single-threaded emulator have a tail far beyond real DynamoDB's.
      STORE_DEADLINE_MS: '5000',
    },
    prefix: () => dynamo.uniquePrefix(),
    store: (prefix) =>
      dynamoStore({
        client: dynamo.client,
        tableName: dynamo.tableName,
        prefix,
        pollIntervalMs: 25,
      }),
  }));
});
