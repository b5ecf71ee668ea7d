/**
 * Fleet tests: several Node processes share one Redis and must show the global property.
 */
import { fileURLToPath } from 'node:url';
import {
  describeWithDynamo,
  describeWithRedis,
  dynamoFixture,
  redisFixture,
  runFleet,
  spawnReplica,
} from '@breakwater/testkit';
import { expect, it } from 'vitest';

const script = (name: string) => fileURLToPath(new URL(`./replicas/${name}.ts`, import.meta.url));

describeWithRedis('fleet over Redis', () => {
  const redis = redisFixture();

  it('4 processes × 250 concurrent misses → exactly one loader call in the fleet', async () => {
    const prefix = redis.uniquePrefix();
    const replicas = Array.from({ length: 4 }, (_, index) =>
      spawnReplica({
        script: script('stampede'),
        index,
        replicas: 4,
        env: { FLEET_PREFIX: prefix },
        timeoutMs: 30_000,
      }),
    );
    await Promise.all(replicas.map((r) => r.waitForMessage('ready', 20_000)));
    await redis.client.set(`${prefix}:coord:go`, '1');
    const results = await Promise.all(replicas.map((r) => r.result));
    for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
    const reports = results.map(
      (r) => r.result as { loads: number; answers: number; loadedBy: number[]; dates: boolean },
    );
    expect(
      reports.reduce((sum, r) => sum + r.loads, 0),
      JSON.stringify(reports),
    ).toBe(1);
    expect(Number(await redis.client.get(`${prefix}:coord:loads`))).toBe(1);
    for (const report of reports) {
      expect(report.answers).toBe(250);
      expect(report.loadedBy).toHaveLength(1);
      expect(report.dates).toBe(true);
    }
    expect(new Set(reports.flatMap((r) => r.loadedBy)).size).toBe(1);
  });

  it('the lease holder killed mid-load → another replica loads', async () => {
    const prefix = redis.uniquePrefix();
    const env = { FLEET_PREFIX: prefix };
    const holder = spawnReplica({
      script: script('lease-holder'),
      index: 0,
      replicas: 2,
      env,
      timeoutMs: 30_000,
    });
    const waiter = spawnReplica({
      script: script('lease-holder'),
      index: 1,
      replicas: 2,
      env,
      timeoutMs: 30_000,
    });
    await holder.waitForMessage('loading', 20_000);
    holder.kill('SIGKILL');
    const [dead, survivor] = await Promise.all([holder.result, waiter.result]);
    expect(dead.signal).toBe('SIGKILL');
    expect(survivor.exitCode, survivor.stderr).toBe(0);
    const report = survivor.result as { value: string; loads: number; waitedMs: number };
    expect(report.value).toBe('loaded-by-1');
    expect(report.loads).toBe(1);
    // It waited for the lease (1 s) rather than loading at once.
    expect(report.waitedMs).toBeGreaterThan(500);
  });

  it("a set on replica A is visible on replica B's next read", async () => {
    const prefix = redis.uniquePrefix();
    const results = await runFleet({
      script: script('coherence'),
      replicas: 2,
      env: { FLEET_PREFIX: prefix },
      timeoutMs: 30_000,
    });
    for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
    expect(results[1]?.result).toEqual({
      first: 'v1',
      again: 'v1',
      afterSet: 'v2',
      afterDelete: null,
    });
  });
});

describeWithRedis('fleet over DynamoDB', () => {
  const redis = redisFixture();

  describeWithDynamo('(dynalite)', () => {
    const dynamo = dynamoFixture();

    it('4 processes × 250 concurrent misses → exactly one loader call in the fleet', async () => {
      const prefix = redis.uniquePrefix();
      const env = {
        FLEET_PREFIX: prefix,
        FLEET_STORE: 'dynamodb',
        DYNAMO_ENDPOINT: dynamo.endpoint,
        DYNAMO_TABLE: dynamo.tableName,
      };
      const replicas = Array.from({ length: 4 }, (_, index) =>
        spawnReplica({ script: script('stampede'), index, replicas: 4, env, timeoutMs: 30_000 }),
      );
      await Promise.all(replicas.map((r) => r.waitForMessage('ready', 20_000)));
      await redis.client.set(`${prefix}:coord:go`, '1');
      const results = await Promise.all(replicas.map((r) => r.result));
      for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
      const reports = results.map((r) => r.result as { loads: number; answers: number });
      expect(
        reports.reduce((sum, r) => sum + r.loads, 0),
        JSON.stringify(reports),
      ).toBe(1);
      expect(reports.every((r) => r.answers === 250)).toBe(true);
    });
  });
});
