import {
  describeWithRedis,
  describeWithRedisCluster,
  redisClusterFixture,
  redisFixture,
} from '@breakwater/testkit';
import type { Cluster, Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { bulkhead } from '../index.js';
import { redisStore } from '../redis.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts the Lua script round trips (EVALSHA and EVAL) a client sends. */
function countScripts(client: Redis | Cluster): { count: number } {
  const counter = { count: 0 };
  const evalsha = client.evalsha.bind(client);
  const evalScript = client.eval.bind(client);
  Object.assign(client, {
    evalsha: (...args: Parameters<typeof evalsha>) => {
      counter.count++;
      return evalsha(...args);
    },
    eval: (...args: Parameters<typeof evalScript>) => {
      counter.count++;
      return evalScript(...args);
    },
  });
  return counter;
}

function fleetTests(
  fixture: () => { client: Redis | Cluster; subscriber(): Redis | Cluster; prefix(): string },
) {
  it('shares one limit across replicas and wakes waiters by pub/sub, not by polling', async () => {
    const { client } = fixture();
    const prefix = fixture().prefix();
    const replicas = [0, 1, 2].map(() =>
      bulkhead({
        name: 'db',
        maxConcurrent: 2,
        maxQueue: 100,
        // Far longer than the test may take: only wake-ups can explain a quick finish.
        wakeupPollMs: 60_000,
        store: redisStore({ client, subscriber: fixture().subscriber(), prefix }),
      }),
    );
    await sleep(100); // let the subscriptions land
    let inflight = 0;
    let peak = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 18 }, (_, i) =>
        replicas[i % 3]!.execute(async () => {
          inflight++;
          peak = Math.max(peak, inflight);
          await sleep(15);
          inflight--;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(Date.now() - started).toBeLessThan(10_000);
    await Promise.all(replicas.map((r) => r.close()));
  });

  it('takes one round trip to acquire and one to release', async () => {
    const { client } = fixture();
    const counter = countScripts(client);
    const b = bulkhead({
      name: 'db',
      maxConcurrent: 4,
      store: redisStore({ client, prefix: fixture().prefix() }),
    });
    await b.execute(() => 'warm'); // the first run may load the script (EVALSHA, then EVAL)
    await b.close();
    counter.count = 0;
    for (let i = 0; i < 10; i++) await b.execute(() => i);
    await b.close();
    expect(counter.count).toBe(20);
  });
}

describeWithRedis('fleet bulkhead on Redis', () => {
  const redis = redisFixture();
  fleetTests(() => ({
    client: redis.client,
    subscriber: () => redis.newClient(),
    prefix: () => redis.uniquePrefix(),
  }));
});

describeWithRedisCluster('fleet bulkhead on Redis Cluster', () => {
  const cluster = redisClusterFixture();
  fleetTests(() => ({
    client: cluster.client,
    subscriber: () => cluster.newClient(),
    prefix: () => cluster.uniquePrefix(),
  }));
});
