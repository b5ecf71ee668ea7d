import {
  describeWithRedis,
  describeWithRedisCluster,
  redisClusterFixture,
  redisFixture,
} from '@breakwater/testkit';
import type { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { bulkhead } from '../index.js';
import { redisStore } from '../redis.js';
import { deferred, until } from './helpers.js';

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

/** Records the keys of every Lua script a client runs (EVALSHA and EVAL), in order. */
function scriptKeys(client: Redis | Cluster): string[][] {
  const seen: string[][] = [];
  for (const method of ['evalsha', 'eval'] as const) {
    const original = (client[method] as (...args: unknown[]) => unknown).bind(client);
    Object.assign(client, {
      [method]: (script: string, numKeys: number, ...rest: unknown[]) => {
        seen.push(rest.slice(0, Number(numKeys)).map(String));
        return original(script, numKeys, ...rest);
      },
    });
  }
  return seen;
}

/**
 * Whether nothing of a connection is open any more: `'end'` for a `Redis`; a `Cluster` that was
 * disconnected stays `'close'` with no node connection left.
 */
function isClosed(connection: Redis | Cluster): boolean {
  if (connection.status === 'end') return true;
  return (
    connection.status === 'close' &&
    connection.isCluster &&
    (connection as Cluster).nodes('all').length === 0
  );
}

/** Records the connections opened from `client` with `duplicate()`. */
function duplicatesOf(client: Redis | Cluster): (Redis | Cluster)[] {
  const opened: (Redis | Cluster)[] = [];
  const duplicate = (client.duplicate as (...args: unknown[]) => Redis | Cluster).bind(client);
  Object.assign(client, {
    duplicate: (...args: unknown[]) => {
      const connection = duplicate(...args);
      opened.push(connection);
      return connection;
    },
  });
  return opened;
}

function fleetTests(
  fixture: () => { client: Redis | Cluster; newClient(): Redis | Cluster; prefix(): string },
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
        store: redisStore({ client, subscriber: fixture().newClient(), prefix }),
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
    const store = redisStore({ client, prefix: fixture().prefix() });
    const b = bulkhead({ name: 'db', maxConcurrent: 4, store });
    await b.execute(() => 'warm'); // the first run may load the script (EVALSHA, then EVAL)
    await b.close();
    counter.count = 0;
    for (let i = 0; i < 10; i++) await b.execute(() => i);
    await b.close();
    await store.close();
    expect(counter.count).toBe(20);
  });

  it('opens a subscriber of its own by default, wakes waiters with it, and ends it on close()', async () => {
    const prefix = fixture().prefix();
    const client = fixture().newClient();
    const opened = duplicatesOf(client);
    const store = redisStore({ client, prefix });
    const waiter = bulkhead({
      name: 'db',
      maxConcurrent: 1,
      maxQueue: 1,
      // Only a wake-up can explain a quick admission.
      wakeupPollMs: 60_000,
      leaseTtlMs: 60_000,
      store,
    });
    expect(opened).toHaveLength(1);
    // Another replica, without a subscriber, holds the only permit.
    const holderStore = redisStore({ client: fixture().client, prefix, subscriber: false });
    const holder = bulkhead({
      name: 'db',
      maxConcurrent: 1,
      leaseTtlMs: 60_000,
      store: holderStore,
    });
    const gate = deferred();
    const holding = holder.execute(() => gate.promise);
    await until(() => holder.active === 1);
    const waiting = waiter.execute(() => 'admitted');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const releasedAt = Date.now();
    gate.resolve();
    await holding;
    await expect(waiting).resolves.toBe('admitted');
    expect(Date.now() - releasedAt).toBeLessThan(5_000);
    await Promise.all([waiter.close(), holder.close()]);
    await Promise.all([store.close(), holderStore.close()]);
    // Nothing of the store's keeps the process alive; the client stays the user's.
    await until(() => isClosed(opened[0]!));
    expect(opened).toHaveLength(1);
    expect(client.status).toBe('ready');
  });

  it('leaves a subscriber of yours connected, without its listeners, after close()', async () => {
    const subscriber = fixture().newClient();
    await until(() => subscriber.status === 'ready');
    const listeners = subscriber.listenerCount('message');
    const store = redisStore({ client: fixture().client, subscriber, prefix: fixture().prefix() });
    const b = bulkhead({ name: 'db', maxConcurrent: 1, store });
    expect(subscriber.listenerCount('message')).toBe(listeners + 1);
    await b.execute(() => 1);
    await b.close();
    await store[Symbol.asyncDispose]();
    expect(subscriber.listenerCount('message')).toBe(listeners);
    expect(subscriber.status).toBe('ready');
  });

  it("probes with a script on one of the bulkhead's own keys (a Cluster asks the bulkhead's node)", async () => {
    const client = fixture().newClient();
    const keys = scriptKeys(client);
    const store = redisStore({ client, prefix: fixture().prefix(), subscriber: false });
    const scope = store.scope({ name: 'db', classes: ['default'] });
    await scope.acquire(
      {
        classIndex: 0,
        layout: { limit: 1, reserved: [0], max: [Number.POSITIVE_INFINITY] },
        ttlMs: 1_000,
        leaseId: 'probe-test',
        refusedWaitMs: 1_000,
      },
      undefined,
    );
    const acquireKeys = keys.at(-1)!;
    await expect(scope.probe!(new AbortController().signal)).resolves.toBe(1);
    const probeKeys = keys.at(-1)!;
    expect(probeKeys).toHaveLength(1);
    expect(acquireKeys).toContain(probeKeys[0]);
    await scope.close();
    await store.close();
  });

  it("counts its replicas in a sorted set in the bulkhead's slot, and leaves it on close()", async () => {
    const prefix = fixture().prefix();
    const clients = [fixture().newClient(), fixture().newClient()];
    const keys = scriptKeys(clients[0]!);
    const stores = clients.map((client) => redisStore({ client, prefix, subscriber: false }));
    const [a, b] = stores.map((store) =>
      bulkhead({
        name: 'db',
        maxConcurrent: 5,
        store,
        replicaRenewIntervalMs: 50,
        replicaTtlMs: 2_000,
      }),
    );
    await until(() => a!.replicas?.count === 2 && b!.replicas?.count === 2, 3_000);
    expect(a!.replicas?.localMaxConcurrent).toBe(2);
    // The same hash tag as the permits: one slot, one node to lose.
    expect(keys).toContainEqual([`${prefix}:bulkhead:{db:}:replicas`]);
    await b!.close();
    // Gone at a's next heartbeat, long before the TTL.
    await until(() => a!.replicas?.count === 1, 1_000);
    await a!.close();
    await Promise.all(stores.map((store) => store.close()));
  });
}

describeWithRedis('fleet bulkhead on Redis', () => {
  const redis = redisFixture();
  fleetTests(() => ({
    client: redis.client,
    newClient: () => redis.newClient(),
    prefix: () => redis.uniquePrefix(),
  }));
});

describeWithRedisCluster('fleet bulkhead on Redis Cluster', () => {
  const cluster = redisClusterFixture();
  fleetTests(() => ({
    client: cluster.client,
    newClient: () => cluster.newClient(),
    prefix: () => cluster.uniquePrefix(),
  }));
});

describe('redisStore options', () => {
  it('names `subscriber` when it is not a Redis client', () => {
    const client = { evalsha: () => Promise.resolve(1) } as unknown as Redis;
    expect(() => redisStore({ client, subscriber: 'redis://localhost' as never })).toThrow(
      'Expected `subscriber` to be a Redis client (ioredis Redis or Cluster) or false, got "redis://localhost"',
    );
    expect(() => redisStore({ client, subscriber: {} as never })).toThrow(TypeError);
    // `false`: no subscriber at all; nothing is duplicated.
    const store = redisStore({
      client: Object.assign(client, {
        duplicate: () => {
          throw new Error('must not duplicate');
        },
      }),
      subscriber: false,
    });
    store.scope({ name: 'db', classes: ['default'] });
  });
});
