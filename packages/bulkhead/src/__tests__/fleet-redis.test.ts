import {
  closeRedisClient,
  connectRedisClient,
  connectRedisClusterClient,
  describeWithRedis,
  describeWithRedisCluster,
  type RedisClient,
  type RedisClientKind,
  redisClusterFixture,
  redisFixture,
  sendRedisCommand,
  services,
} from '@breakwater/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkhead } from '../index.js';
import { redisStore } from '../redis.js';
import { deferred, until } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The client libraries the in-process fleet runs on, on a single node and on a Cluster. */
const KINDS: readonly RedisClientKind[] = ['ioredis', 'node-redis'];

/** Whether `client` is a node-redis client or Cluster (ioredis has `evalsha`, node-redis not). */
const isNodeRedis = (client: RedisClient): boolean => typeof client.evalsha !== 'function';

/**
 * Calls `seen(wire)` with each command a client sends as `[name, ...args]` (strings), by
 * wrapping the method the store's adapter calls: `evalsha`/`eval` on ioredis, `sendCommand` on
 * node-redis (whose Cluster takes the command third, after the routing key).
 */
function watchScripts(client: RedisClient, seen: (wire: string[]) => void): void {
  if (isNodeRedis(client)) {
    const sendCommand = client.sendCommand.bind(client);
    Object.assign(client, {
      sendCommand: (...args: unknown[]) => {
        const wire = (args.length === 3 ? args[2] : args[0]) as unknown[];
        if (wire[0] === 'EVALSHA' || wire[0] === 'EVAL') seen(wire.map(String));
        return sendCommand(...args);
      },
    });
    return;
  }
  for (const method of ['evalsha', 'eval'] as const) {
    const original = client[method].bind(client);
    Object.assign(client, {
      [method]: (...args: unknown[]) => {
        seen([method.toUpperCase(), ...args.map(String)]);
        return original(...args);
      },
    });
  }
}

/** Counts the Lua script round trips (EVALSHA and EVAL) a client sends. */
function countScripts(client: RedisClient): { count: number } {
  const counter = { count: 0 };
  watchScripts(client, () => counter.count++);
  return counter;
}

/** Records the keys of every Lua script a client runs (EVALSHA and EVAL), in order. */
function scriptKeys(client: RedisClient): string[][] {
  const seen: string[][] = [];
  watchScripts(client, ([, , numKeys, ...rest]) => seen.push(rest.slice(0, Number(numKeys))));
  return seen;
}

/** Whether a client is connected and ready for commands. */
function isReady(client: RedisClient): boolean {
  return isNodeRedis(client) ? client.isReady === true : client.status === 'ready';
}

/**
 * Whether nothing of a connection is open any more: node-redis says so (`isOpen`); an ioredis
 * `Redis` is `'end'`, and a `Cluster` that was disconnected stays `'close'` with no node
 * connection left.
 */
function isClosed(connection: RedisClient): boolean {
  if (isNodeRedis(connection)) return connection.isOpen === false;
  if (connection.status === 'end') return true;
  return (
    connection.status === 'close' && connection.isCluster && connection.nodes('all').length === 0
  );
}

/** Records the connections opened from `client` with `duplicate()`. */
function duplicatesOf(client: RedisClient): RedisClient[] {
  const opened: RedisClient[] = [];
  const duplicate = client.duplicate.bind(client);
  Object.assign(client, {
    duplicate: (...args: unknown[]) => {
      const connection = duplicate(...args);
      opened.push(connection);
      return connection;
    },
  });
  return opened;
}

/**
 * What one run of {@link fleetTests} works with: the shared client, new connected clients (closed
 * after the suite) and a prefix per test, all of one library on one deployment.
 */
interface FleetFixture {
  client: RedisClient;
  newClient(): Promise<RedisClient>;
  prefix(): string;
  cluster: boolean;
}

function fleetTests(fixture: () => FleetFixture) {
  it('shares one limit across replicas and wakes waiters by pub/sub, not by polling', async () => {
    const { client } = fixture();
    const prefix = fixture().prefix();
    const subscribers = await Promise.all([0, 1, 2].map(() => fixture().newClient()));
    const replicas = subscribers.map((subscriber) =>
      bulkhead({
        name: 'db',
        maxConcurrent: 2,
        maxQueue: 100,
        // Far longer than the test may take: only wake-ups can explain a quick finish.
        wakeupPollMs: 60_000,
        store: redisStore({ client, subscriber, prefix }),
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
    const client = await fixture().newClient();
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
    const client = await fixture().newClient();
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
    expect(isReady(client)).toBe(true);
  });

  it('leaves a subscriber of yours connected, without its subscription, after close()', async () => {
    const { client, cluster } = fixture();
    const subscriber = await fixture().newClient();
    await until(() => isReady(subscriber));
    const prefix = fixture().prefix();
    const channel = `${prefix}:bulkhead:{db:}:released`;
    // How many connections listen on the channel: one server's count (a single node only).
    const listening = async () =>
      ((await sendRedisCommand(client, ['PUBSUB', 'NUMSUB', channel])) as unknown[])[1];
    const nodeRedis = isNodeRedis(subscriber);
    const listeners = nodeRedis ? 0 : subscriber.listenerCount('message');
    const store = redisStore({ client, subscriber, prefix });
    const b = bulkhead({ name: 'db', maxConcurrent: 1, store });
    if (!nodeRedis) expect(subscriber.listenerCount('message')).toBe(listeners + 1);
    if (!cluster) await until(async () => (await listening()) === 1);
    await b.execute(() => 1);
    await b.close();
    await store[Symbol.asyncDispose]();
    if (!nodeRedis) expect(subscriber.listenerCount('message')).toBe(listeners);
    if (!cluster) await until(async () => (await listening()) === 0);
    expect(isReady(subscriber)).toBe(true);
  });

  it("probes with a script on one of the bulkhead's own keys (a Cluster asks the bulkhead's node)", async () => {
    const client = await fixture().newClient();
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
    const clients = [await fixture().newClient(), await fixture().newClient()];
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

/**
 * Runs {@link fleetTests} on each client library in {@link KINDS}, with clients from `connect`
 * (all closed after the suite) and a prefix per test from `prefix`.
 */
function fleetSuites(
  connectWith: (kind: RedisClientKind) => Promise<RedisClient>,
  prefix: () => string,
  cluster: boolean,
): void {
  describe.each(KINDS)('%s', (kind) => {
    let client: RedisClient;
    const opened: RedisClient[] = [];
    const connect = async (): Promise<RedisClient> => {
      const made = await connectWith(kind);
      opened.push(made);
      return made;
    };
    beforeAll(async () => {
      client = await connect();
    });
    afterAll(() => {
      for (const each of opened) closeRedisClient(each);
    });
    fleetTests(() => ({ client, newClient: connect, prefix, cluster }));
  });
}

describeWithRedis('fleet bulkhead on Redis', () => {
  const redis = redisFixture();
  fleetSuites(
    (kind) => connectRedisClient(kind, services().redisUrl),
    () => redis.uniquePrefix(),
    false,
  );
});

describeWithRedisCluster('fleet bulkhead on Redis Cluster', () => {
  const fixture = redisClusterFixture();
  fleetSuites(
    (kind) => connectRedisClusterClient(kind, fixture.nodes),
    () => fixture.uniquePrefix(),
    true,
  );
});

describe('redisStore options', () => {
  it('names `client` and lists the accepted clients when it is none of them', () => {
    const accepted =
      'Expected `client` to be an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis ' +
      'client from `createClient()` or `createCluster()`, got ';
    expect(() => redisStore({ client: {} as never })).toThrow(new TypeError(`${accepted}{}`));
    expect(() => redisStore({ client: 'redis://localhost' as never })).toThrow(
      new TypeError(`${accepted}"redis://localhost"`),
    );
  });

  it('names `subscriber` when it is not a Redis client', () => {
    // Shaped like an ioredis client; never connected (nothing is sent while building the store).
    const client = {
      evalsha: () => Promise.resolve(1),
      pipeline: () => ({ exec: () => Promise.resolve([]) }),
      duplicate: () => {
        throw new Error('must not duplicate');
      },
    } as unknown as Redis;
    expect(() => redisStore({ client, subscriber: 'redis://localhost' as never })).toThrow(
      'Expected `subscriber` to be a Redis client (ioredis or iovalkey `Redis` or `Cluster`, ' +
        'node-redis client or Cluster) or false, got "redis://localhost"',
    );
    expect(() => redisStore({ client, subscriber: {} as never })).toThrow(TypeError);
    // `false`: no subscriber at all; nothing is duplicated.
    const store = redisStore({ client, subscriber: false });
    store.scope({ name: 'db', classes: ['default'] });
  });
});
