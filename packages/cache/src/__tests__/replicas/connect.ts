/**
 * Shared set-up of the fleet replicas: a cache over the Redis the test names in the environment
 * (testkit's `redisClientEnv`: REDIS_CLIENT picks ioredis or node-redis, REDIS_URL the server or
 * REDIS_CLUSTER_NODES a Cluster's masters) or, with FLEET_STORE=dynamodb, over the DynamoDB at DYNAMO_ENDPOINT, table DYNAMO_TABLE, under the
 * key prefix the test passes in FLEET_PREFIX. Redis also carries the test's coordination keys,
 * sent through core's client adapter so that every client library runs the same replica code.
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { redisConnection, type SubscriberConnection } from '@breakwater/core/redis';
import {
  closeRedisClient,
  connectRedisClient,
  type RedisClientKind,
  redisClientFromEnv,
  sendRedisCommand,
} from '@breakwater/testkit/redis-clients';
import { dynamoStore } from '../../dynamodb.js';
import { type CacheStore, cache } from '../../index.js';
import { redisStore } from '../../redis.js';

function dynamoFromEnv(prefix: string): CacheStore {
  const endpoint = process.env.DYNAMO_ENDPOINT;
  const tableName = process.env.DYNAMO_TABLE;
  if (!endpoint || !tableName) throw new Error('DYNAMO_ENDPOINT and DYNAMO_TABLE must be set');
  const client = new DynamoDBClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'breakwater-test', secretAccessKey: 'breakwater-test' },
    maxAttempts: 1,
  });
  return dynamoStore({ client, tableName, prefix });
}

/** Connects a replica: returns its cache, a Redis client for coordination, and a closer. */
export async function connectReplica(options: { leaseTtlMs?: number } = {}) {
  const prefix = process.env.FLEET_PREFIX;
  if (!prefix) throw new Error('FLEET_PREFIX is not set');
  const client = await redisClientFromEnv({
    REDIS_URL: 'redis://127.0.0.1:6379',
    ...process.env,
  });
  const coord = redisConnection(client);
  // The bus's connection, passed to the store (so it stays ours): announcements travel on it too.
  // Both libraries' copies start unconnected here (testkit builds ioredis clients lazily).
  const subscriber = client.duplicate();
  subscriber.on('error', () => {});
  await subscriber.connect();
  const announcements = new Announcements(
    coord.adoptSubscriber(subscriber),
    `${prefix}:coord:announcements`,
  );
  await announcements.listen();
  const key = (name: string) => `${prefix}:coord:${name}`;
  const diagnostics: string[] = [];
  const store = traced(
    process.env.FLEET_STORE === 'dynamodb'
      ? dynamoFromEnv(prefix)
      : redisStore({ client, subscriber, prefix }),
    diagnostics,
  );
  const c = cache({
    name: 'fleet',
    store,
    ttlMs: 60_000,
    l1: { maxStaleMs: 3_600_000 },
    lease: { ttlMs: options.leaseTtlMs ?? 5_000 },
    // Generous: these tests are about leases and the bus, not deadlines, and CI machines stall.
    storeDeadlineMs: 30_000,
  });
  return {
    cache: c,
    prefix,
    /** The library of the replica's client, as core's adapter told it. */
    library: coord.library,
    /** Adds 1 to the coordination counter `name`. */
    incr: (name: string) => coord.send('INCR', [key(name)], key(name)),
    /** What the store did that a failing test wants to know: errors, slow calls, lease answers. */
    diagnostics,
    /** Resolves once the coordination key `name` holds `value`. */
    async waitFor(name: string, value: string): Promise<void> {
      while ((await coord.send('GET', [key(name)], key(name))) !== value) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    signal: (name: string, value: string) => coord.send('SET', [key(name), value], key(name)),
    /**
     * Sets the coordination key `name` to `value` and publishes it. Announced after a write, it
     * reaches every replica's bus connection after the write's invalidation message: Redis
     * delivers one connection's messages in the order they were published.
     */
    async announce(name: string, value: string): Promise<void> {
      await coord.send('SET', [key(name), value], key(name));
      await coord.send('PUBLISH', [announcements.channel, `${name}=${value}`]);
    },
    /**
     * Resolves once `name=value` is announced, as heard on this replica's bus connection: by then
     * the bus messages published before it have been applied to this replica's L1.
     */
    waitForAnnouncement: (name: string, value: string) => announcements.waitFor(`${name}=${value}`),
    /**
     * Resolves once `replicas` connections subscribe to the cache's bus channel: SUBSCRIBE is
     * asynchronous, and a message published before it is live is lost by design.
     */
    async waitForBus(replicas: number): Promise<void> {
      if (process.env.FLEET_STORE === 'dynamodb') return; // no bus
      const channel = `${prefix}:cache:{fleet:}:bus`;
      // On a Cluster each node counts only the subscribers connected to it: ask every master.
      const nodes = await clusterNodeClients();
      try {
        for (;;) {
          const counts =
            nodes.length === 0
              ? [await coord.send('PUBSUB', ['NUMSUB', channel])]
              : await Promise.all(
                  nodes.map((node) => sendRedisCommand(node, ['PUBSUB', 'NUMSUB', channel])),
                );
          const total = counts.reduce(
            (sum: number, answer) => sum + Number((answer as [string, number])[1]),
            0,
          );
          if (total >= replicas) return;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      } finally {
        for (const node of nodes) closeRedisClient(node);
      }
    },
    async close() {
      await c.close();
      await store.close();
      announcements.close();
      closeRedisClient(client);
      closeRedisClient(subscriber);
    },
  };
}

/**
 * One single-node client per master of the Cluster in REDIS_CLUSTER_NODES (of the replica's own
 * client library), or none when the replica talks to a single Redis.
 */
async function clusterNodeClients() {
  const raw = process.env.REDIS_CLUSTER_NODES;
  if (raw === undefined || raw === '') return [];
  const nodes = JSON.parse(raw) as { host: string; port: number }[];
  const kind = (process.env.REDIS_CLIENT ?? 'ioredis') as RedisClientKind;
  return Promise.all(
    nodes.map(({ host, port }) => connectRedisClient(kind, `redis://${host}:${port}`)),
  );
}

/** The announcements heard on one connection (see `announce`). */
class Announcements {
  private readonly heard = new Set<string>();
  private readonly waiting = new Map<string, () => void>();

  constructor(
    private readonly connection: SubscriberConnection,
    readonly channel: string,
  ) {}

  /** Subscribes before the replica signals anything, so no announcement can be missed. */
  async listen(): Promise<void> {
    this.connection.attach({
      message: (channel, payload) => {
        if (channel !== this.channel) return;
        this.heard.add(payload);
        this.waiting.get(payload)?.();
      },
      lost() {},
      ready() {},
    });
    await this.connection.subscribe(this.channel);
  }

  close(): void {
    this.connection.detach();
  }

  waitFor(payload: string): Promise<void> {
    if (this.heard.has(payload)) return Promise.resolve();
    return new Promise((resolve) => this.waiting.set(payload, resolve));
  }
}

/** Records store errors, slow calls and lease answers, to explain a failing fleet test. */
function traced(store: CacheStore, diagnostics: string[]): CacheStore {
  return {
    kind: store.kind,
    close: () => store.close(),
    [Symbol.asyncDispose]: () => store.close(),
    scope(name) {
      const inner = store.scope(name);
      return new Proxy(inner, {
        get(target, property, receiver) {
          const member = Reflect.get(target, property, receiver) as unknown;
          if (typeof member !== 'function' || property === 'subscribe') return member;
          return async (...args: unknown[]) => {
            const started = Date.now();
            try {
              const result = await (member as (...a: unknown[]) => Promise<unknown>).apply(
                target,
                args,
              );
              if (property === 'acquireLease')
                diagnostics.push(`acquireLease → ${(result as { status: string }).status}`);
              if (property === 'set') diagnostics.push(`set → ${JSON.stringify(result)}`);
              return result;
            } catch (error) {
              diagnostics.push(
                `${String(property)} failed: ${error instanceof Error ? error.message : String(error)}`,
              );
              throw error;
            } finally {
              const ms = Date.now() - started;
              if (ms > 1000) diagnostics.push(`${String(property)} took ${ms} ms`);
            }
          };
        },
      });
    },
  };
}
